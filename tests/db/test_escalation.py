"""Reminders and the escalation ladder over a day, with an injected clock (no sleeping)."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import PROJECT_ROOT
from bot.db.models.outbox import OutboxMessage
from bot.db.models.scheduling import LAG, LATE, LateMark
from bot.services.access import users as users_service
from bot.services.access.principal import Grant, Principal
from bot.services.deadlines import escalation, reminders
from bot.services.reports import submission as report_service
from bot.services.roster import org as org_service
from tests.conftest import ZHENGZHOU, at

SH = ZoneInfo("Asia/Shanghai")
FULL = {"industrial_filled": 120, "industrial_entered": 100, "livestock_filled": 30,
        "livestock_entered": 20, "domestic_filled": 10, "domestic_entered": 8,
        "centralized_filled": 5, "centralized_entered": 5, "mobile_filled": 12,
        "mobile_entered": 10}
ON_TIME, LATE_UNIT, NEVER = "410102", "410103", "410104"
LIAISON = {ON_TIME: 11, LATE_UNIT: 12, NEVER: 13}
HEAD = {ON_TIME: 21, LATE_UNIT: 22, NEVER: 23}
CITY_HEAD, LEADER = 30, 40
SETTINGS = escalation.load_settings(PROJECT_ROOT / "data")


@pytest.fixture
async def zz(sessionmaker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Zhengzhou with targets, liaisons and heads for three counties, a city head, a leader."""
    now = at("2018-10-01 08:00")
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=now)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        rows = report_service.read_targets_file(
            PROJECT_ROOT / "data" / "targets" / "zhengzhou.synthetic.yaml")
        await report_service.import_targets(s, rows, source="t", now=now)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        for unit in LIAISON:
            await users_service.grant_role(s, now=now, user_id=LIAISON[unit], role="liaison",
                                           unit_code=unit)
            await users_service.grant_role(s, now=now, user_id=HEAD[unit], role="office_head",
                                           unit_code=unit)
        await users_service.grant_role(s, now=now, user_id=CITY_HEAD, role="office_head",
                                       unit_code="410100")
        await users_service.grant_role(s, now=now, user_id=LEADER, role="leader",
                                       unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    return sessionmaker


async def _submit(sm: async_sessionmaker[AsyncSession], unit: str, when: str,
                  values: dict[str, object] = FULL) -> None:
    principal = Principal(LIAISON[unit], "zh_CN", (Grant("liaison", unit, f"/410100/{unit}/"),))
    async with sm() as s:
        await report_service.submit(s, principal=principal, unit_code=unit, phase="survey",
                                    values=values, source="quick", now=at(when), locale="zh_CN")
        await s.commit()  # the test is the unit-of-work owner


async def _remind(sm: async_sessionmaker[AsyncSession], when: str) -> int:
    async with sm() as s:
        enqueued = (await reminders.run(s, now=at(when), settings=SETTINGS)).enqueued
        await s.commit()  # the test is the unit-of-work owner
        return enqueued


async def _escalate(sm: async_sessionmaker[AsyncSession], when: str) -> escalation.EscalationResult:
    async with sm() as s:
        result = await escalation.run(s, now=at(when), settings=SETTINGS, tz=SH)
        await s.commit()  # the test is the unit-of-work owner
        return result


async def _outbox(sm: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sm() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def _to(rows: list[OutboxMessage], kind: str | None = None) -> Counter[int]:
    return Counter(r.chat_id for r in rows if kind is None or r.kind == kind)


async def test_a_day_of_reminders_and_escalations(zz: async_sessionmaker[AsyncSession]) -> None:
    # 16:00, two hours before the 18:00 deadline: every liaison whose unit has not reported.
    assert await _remind(zz, "2018-10-08 16:00") == 3
    assert await _remind(zz, "2018-10-08 16:45") == 0  # same offset: nothing twice
    await _submit(zz, ON_TIME, "2018-10-08 17:10")
    # 17:30: only the two units still missing.
    assert await _remind(zz, "2018-10-08 17:30") == 2
    assert await _remind(zz, "2018-10-08 17:30") == 0
    rows = await _outbox(zz)
    assert _to(rows, "reminder") == {LIAISON[ON_TIME]: 1, LIAISON[LATE_UNIT]: 2, LIAISON[NEVER]: 2}
    assert "18:00" in rows[0].payload["text"]
    # 18:00: liaison and the unit's office head of each missing unit.
    assert (await _escalate(zz, "2018-10-08 18:00")).enqueued == 4
    assert (await _escalate(zz, "2018-10-08 18:00")).enqueued == 0
    await _submit(zz, LATE_UNIT, "2018-10-08 18:20")
    assert await _remind(zz, "2018-10-08 18:30") == 0  # no reminders after the deadline
    # 21:00: the city office head hears of the unit that never reported, only that one.
    res = await _escalate(zz, "2018-10-08 21:00")
    assert res.enqueued == 1
    rows = await _outbox(zz)
    esc = [r for r in rows if r.kind == "escalation"]
    assert _to(esc) == {LIAISON[LATE_UNIT]: 1, HEAD[LATE_UNIT]: 1, LIAISON[NEVER]: 1,
                        HEAD[NEVER]: 1, CITY_HEAD: 1}
    digest = esc[-1].payload["text"]  # one digest for the city office, the never-unit named
    assert esc[-1].chat_id == CITY_HEAD and "管城回族区" in digest and "二七区" not in digest
    assert HEAD[ON_TIME] not in _to(rows) and LIAISON[ON_TIME] not in _to(esc)
    # Next morning 08:00: late marks for the bulletin (late and never), not the punctual one.
    await _escalate(zz, "2018-10-09 08:00")
    async with zz() as s:
        marks = {m.unit_code: m for m in await escalation.late_marks(
            s, since=at("2018-10-08 00:00").date(), until=at("2018-10-08 00:00").date(),
            kind=LATE)}
        await s.commit()  # the test is the unit-of-work owner
    assert LATE_UNIT in marks and NEVER in marks and ON_TIME not in marks
    assert marks[LATE_UNIT].details["status"] == "late"
    assert marks[NEVER].details["status"] == "missing"


async def test_three_times_late_in_a_week_goes_to_leadership(
        zz: async_sessionmaker[AsyncSession]) -> None:
    for day in ("08", "09"):
        await _escalate(zz, f"2018-10-{int(day) + 1:02d} 08:00")
    assert LEADER not in _to(await _outbox(zz))
    res = await _escalate(zz, "2018-10-11 08:00")  # the third late day: 10-10
    assert NEVER in res.summoned
    summons = [r for r in await _outbox(zz) if r.chat_id == LEADER]
    assert len(summons) >= 1 and any("2018-10-08" in r.payload["text"] for r in summons)
    again = await _escalate(zz, "2018-10-11 09:00")
    assert again.enqueued == 0  # rerun: nothing twice


async def test_lagging_unit_flagged_to_its_head(zz: async_sessionmaker[AsyncSession]) -> None:
    tiny = {k: 1 for k in FULL}
    await _submit(zz, ON_TIME, "2018-11-15 17:00", tiny)  # mid-phase, ~50% planned
    await _submit(zz, LATE_UNIT, "2018-11-15 17:00", tiny)
    await _escalate(zz, "2018-11-16 08:00")
    async with zz() as s:
        lag = {m.unit_code: m for m in (await s.scalars(
            select(LateMark).where(LateMark.kind == LAG))).all()}
    assert ON_TIME in lag and lag[ON_TIME].details["gap"] > 10
    rows = await _outbox(zz)
    assert any(r.chat_id == HEAD[ON_TIME] and "%" in r.payload["text"] for r in rows)


async def test_holiday_skips_reminders_and_escalations(
        zz: async_sessionmaker[AsyncSession]) -> None:
    assert await _remind(zz, "2018-10-03 16:00") == 0  # National Day
    res = await _escalate(zz, "2018-10-03 19:00")
    assert res.enqueued == 0 and res.skipped_holiday > 0
    await _escalate(zz, "2018-10-04 08:00")
    async with zz() as s:
        assert await escalation.late_marks(s, since=at("2018-10-03 00:00").date(),
                                           until=at("2018-10-03 00:00").date()) == []
        await s.commit()  # the test is the unit-of-work owner
    assert await _remind(zz, "2018-09-29 16:00") == 3  # Saturday make-up working day (调休)
