"""Scheduler: triggers derived from data; a job runs once per period, also after downtime."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models.outbox import OutboxMessage
from bot.db.models.scheduling import JobRun
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from scheduling.scheduler import Scheduler
from tests.conftest import ZHENGZHOU, at


async def _setup(sm: async_sessionmaker[AsyncSession]) -> None:
    now = at("2018-10-01 08:00")
    async with sm() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=now)
        await s.commit()  # the test is the unit-of-work owner
    async with sm() as s:
        await users_service.grant_role(s, now=now, user_id=11, role="liaison",
                                       unit_code="410102")
        await users_service.grant_role(s, now=now, user_id=21, role="office_head",
                                       unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner


async def _count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_triggers_follow_the_deadline_data(sessionmaker: async_sessionmaker[
        AsyncSession]) -> None:
    await _setup(sessionmaker)
    sched = Scheduler(sessionmaker, Settings(), clock=lambda: at("2018-10-08 09:00"))
    triggers = await sched.derive()
    # the supervision orders' follow-up runs hourly, whatever the deadlines
    assert [t.id for t in triggers if t.job == "orders"] == [f"orders@{h:02d}:15"
                                                            for h in range(24)]
    ids = [t.id for t in triggers if t.job != "orders"]
    # privacy@03:30: the nightly personal-data retention run, whatever the deadlines
    assert ids == ["privacy@03:30", "escalations@08:00", "escalations@08:30", "reminders@16:00",
                   "reminders@17:30", "escalations@18:00", "escalations@20:00",
                   "escalations@21:00"]  # 08:30 and 20:00: Guangdong's own ladder


async def test_restart_after_downtime_runs_the_missed_job_once(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _setup(sessionmaker)
    first = Scheduler(sessionmaker, Settings())
    ran = await first.catch_up(at("2018-10-08 16:05"))
    assert "reminders@16:00" in ran
    assert await _count(sessionmaker, OutboxMessage) == 1
    # The process is down from 16:10 until 18:40; a new one starts (nothing in memory).
    second = Scheduler(sessionmaker, Settings())
    ran = await second.catch_up(at("2018-10-08 18:40"))
    assert "escalations@18:00" in ran and "reminders@17:30" in ran
    assert "reminders@16:00" not in ran  # already recorded for that day
    queued = await _count(sessionmaker, OutboxMessage)
    assert queued == 3  # 16:00 reminder, then liaison + head at the deadline; no late reminder
    third = Scheduler(sessionmaker, Settings())
    assert await third.catch_up(at("2018-10-08 18:45")) == []  # nothing twice
    assert await _count(sessionmaker, OutboxMessage) == queued
    async with sessionmaker() as s:
        runs = (await s.scalars(select(JobRun.job_id).where(
            JobRun.period_key == "2018-10-08"))).all()
    assert len(runs) == len(set(runs))


async def test_a_long_outage_beyond_grace_is_not_replayed(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _setup(sessionmaker)
    sched = Scheduler(sessionmaker, Settings())
    ran = await sched.catch_up(at("2018-10-09 07:00"))  # 16:00 yesterday is 15 h ago
    assert "reminders@16:00" not in ran and "escalations@21:00" in ran
