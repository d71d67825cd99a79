"""Bulletin numbers are gapless and never repeat: races, reruns, discards, crashes; both DBs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.bulletins import DRAFT, PUBLISHED, Bulletin, BulletinSeries
from bot.db.models.outbox import OutboxMessage
from bot.services.access import users as users_service
from bot.services.bulletins import config as series_cfg
from bot.services.bulletins import series as svc
from bot.services.bulletins.content import BulletinData, ranked
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from demo.bulletin import publish_demo_bulletin
from tests.conftest import ZHENGZHOU, at
from tests.unit.test_bulletin_render import fixed_data

SERIES = series_cfg.SeriesConfig(id="s1", title_zh="关于全市入户调查情况的通报",
                          title_en="the city-wide household survey", root_code="410100",
                          phase="survey", start=date(2018, 10, 1))
NOW = at("2018-10-08 09:00")


async def fake_collect(session: AsyncSession, series: BulletinSeries,
                       period: tuple[date, date], now: datetime) -> BulletinData:
    """A fixed data set for the period (numbering does not depend on the figures)."""
    return dataclasses.replace(fixed_data(), series_id=series.id, period_start=period[0],
                               period_end=period[1], as_of=now)


async def changed_collect(session: AsyncSession, series: BulletinSeries,
                          period: tuple[date, date], now: datetime) -> BulletinData:
    """The fixed data set with one source's figure corrected upwards."""
    data = await fake_collect(session, series, period, now)
    first = dataclasses.replace(data.sources[0], done=data.sources[0].done + 10)
    return dataclasses.replace(data, sources=(first, *data.sources[1:]))


def week(n: int) -> tuple[date, date]:
    start = date(2018, 10, 1) + timedelta(days=7 * n)
    return start, start + timedelta(days=6)


@pytest.fixture
async def ready(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        await series_cfg.sync_series(s, [SERIES], now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        await users_service.grant_role(s, now=NOW, user_id=501, role="leader",
                                       unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner


async def _draft(sm: async_sessionmaker[AsyncSession], n: int) -> int:
    async with sm() as s:
        out = await svc.generate(s, "s1", now=NOW, collector=fake_collect, period=week(n))
        assert out is not None
        await s.commit()  # the test is the unit-of-work owner
        return out.bulletin.id


async def _state(sm: async_sessionmaker[AsyncSession]) -> tuple[list[int], int]:
    async with sm() as s:
        numbers = (await s.scalars(select(Bulletin.number).where(Bulletin.state == PUBLISHED)
                                   .order_by(Bulletin.number))).all()
        nxt = (await s.get(BulletinSeries, "s1", populate_existing=True))
        assert nxt is not None
        return [int(n) for n in numbers], nxt.next_number


async def test_rerun_returns_the_existing_bulletin(ready: None, sessionmaker:
                                                   async_sessionmaker[AsyncSession]) -> None:
    first = await _draft(sessionmaker, 0)
    again = await _draft(sessionmaker, 0)
    assert first == again
    async with sessionmaker() as s:
        assert len((await s.scalars(select(Bulletin))).all()) == 1


async def test_period_follows_the_schedule() -> None:
    assert series_cfg.period_for(SERIES, at("2018-10-08 09:00")) == (date(2018, 10, 1),
                                                                     date(2018, 10, 7))
    assert series_cfg.period_for(SERIES, at("2018-10-08 08:59")) is None  # first week not over
    assert series_cfg.period_for(SERIES, at("2018-10-17 15:00")) == (date(2018, 10, 8),
                                                              date(2018, 10, 14))
    assert series_cfg.plan_rate(dataclasses.replace(SERIES, plan_start=date(2018, 10, 1),
                                             plan_end=date(2018, 12, 31)),
                         date(2018, 10, 7)) == pytest.approx(7 / 92)


async def test_two_generators_racing_make_one_draft(ready: None, db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    try:
        sms = [create_sessionmaker(e) for e in engines]
        ids = await asyncio.gather(*(_draft(sm, 0) for sm in sms * 3))
        assert len(set(ids)) == 1
        async with sms[0]() as s:
            rows = (await s.scalars(select(Bulletin))).all()
            assert len(rows) == 1
            drafts = (await s.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "bulletin"))).all()
            assert drafts == []  # no approver granted yet: nothing queued, nothing doubled
    finally:
        for e in engines:
            await e.dispose()


async def test_concurrent_publications_get_gapless_unique_numbers(ready: None,
                                                                   db_url: str) -> None:
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        sms = [create_sessionmaker(e) for e in engines]
        ids = [await _draft(sms[0], n) for n in range(6)]

        async def pub(sm: async_sessionmaker[AsyncSession], bid: int) -> int:
            async with sm() as s:
                out = await svc.publish(s, bid, now=NOW, actor=None)
                assert out.bulletin.number is not None
                await s.commit()  # the test is the unit-of-work owner
                return out.bulletin.number

        # every draft published by three sessions at once
        results = await asyncio.gather(*(pub(sm, bid) for bid in ids for sm in sms))
        by_draft = [set(results[i * 3:(i + 1) * 3]) for i in range(6)]
        assert all(len(numbers) == 1 for numbers in by_draft)  # same answer to every caller
        numbers, nxt = await _state(sms[0])
        assert numbers == [1, 2, 3, 4, 5, 6] and nxt == 7
        async with sms[0]() as s:
            sent = (await s.scalars(select(OutboxMessage.dedup_key).where(
                OutboxMessage.chat_id == 501))).all()
        assert len(sent) == len(set(sent)) and len(sent) >= 6 * 3  # message, chart, document
    finally:
        for e in engines:
            await e.dispose()


async def test_crash_between_numbering_and_publishing_leaves_no_gap(
    ready: None, sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await _draft(sessionmaker, 0)
    second = await _draft(sessionmaker, 1)

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("process died after taking the number")

    monkeypatch.setattr(svc, "_deliver", crash)
    async with sessionmaker() as s:
        with pytest.raises(RuntimeError):
            await svc.publish(s, first, now=NOW, actor=None)
    assert await _state(sessionmaker) == ([], 1)
    async with sessionmaker() as s:
        b = await s.get(Bulletin, first)
        assert b is not None and b.state == DRAFT and b.number is None
    monkeypatch.undo()

    # A process killed outright after the counter update: its transaction never commits.
    sm = sessionmaker
    s = sm()
    await s.execute(svc.update(BulletinSeries).where(BulletinSeries.id == "s1")
                    .values(next_number=BulletinSeries.next_number + 1))
    await s.close()  # connection returned without commit = rollback
    assert await _state(sm) == ([], 1)

    async with sm() as s:
        assert (await svc.publish(s, second, now=NOW, actor=None)).bulletin.number == 1
        await s.commit()  # the test is the unit-of-work owner
    async with sm() as s:
        assert (await svc.publish(s, first, now=NOW, actor=None)).bulletin.number == 2
        await s.commit()  # the test is the unit-of-work owner
    assert await _state(sm) == ([1, 2], 3)


async def test_discarded_drafts_leave_no_gap(ready: None, sessionmaker:
                                             async_sessionmaker[AsyncSession]) -> None:
    a = await _draft(sessionmaker, 0)
    b = await _draft(sessionmaker, 1)
    async with sessionmaker() as s:
        await svc.discard(s, a, now=NOW, actor=None)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        with pytest.raises(DomainError):
            await svc.publish(s, a, now=NOW, actor=None)
    # a scheduled rerun respects the discard; an on-demand generation makes a fresh draft
    assert await _draft(sessionmaker, 0) == a
    async with sessionmaker() as s:
        fresh = await svc.generate(s, "s1", now=NOW, collector=fake_collect, period=week(0),
                                   origin="demand")
        assert fresh is not None and fresh.created and fresh.bulletin.id != a
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        assert (await svc.publish(s, b, now=NOW, actor=None)).bulletin.number == 1
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        assert (await svc.publish(s, fresh.bulletin.id, now=NOW,
                                  actor=None)).bulletin.number == 2
        await s.commit()  # the test is the unit-of-work owner
    assert await _state(sessionmaker) == ([1, 2], 3)


async def test_published_is_immutable_and_corrections_get_new_numbers(
    ready: None, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bid = await _draft(sessionmaker, 0)
    async with sessionmaker() as s:
        await svc.add_note(s, bid, "下周重点推进中牟县。", now=NOW, actor=None)
        await svc.publish(s, bid, now=NOW, actor=None)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        with pytest.raises(DomainError) as err:
            await svc.add_note(s, bid, "改一下", now=NOW, actor=None)
        assert "correct 1" in str(err.value)
        with pytest.raises(DomainError):
            await svc.discard(s, bid, now=NOW, actor=None)
    async with sessionmaker() as s:  # the same figures again: a correction would be a copy
        with pytest.raises(DomainError) as same:
            await svc.correct(s, "s1", 1, now=NOW, actor=None, collector=fake_collect)
        assert "have not changed" in str(same.value)
    async with sessionmaker() as s:
        corr = await svc.correct(s, "s1", 1, now=NOW, actor=None, reason="二七区数据有误",
                                 collector=changed_collect)
        assert corr.created and corr.bulletin.corrects_number == 1
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        again = await svc.correct(s, "s1", 1, now=NOW, actor=None, collector=changed_collect)
        assert again.bulletin.id == corr.bulletin.id  # rerun returns the pending correction
        done = await svc.publish(s, corr.bulletin.id, now=NOW, actor=None)
        assert done.bulletin.number == 2
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        original = await svc.by_number(s, "s1", 1)
        assert original is not None and original.note == "下周重点推进中牟县。"
        assert [b.number for b in await svc.recent(s, "s1")] == [2, 1]
        await s.commit()  # the test is the unit-of-work owner


async def test_database_refuses_a_repeated_number(ready: None, sessionmaker:
                                                  async_sessionmaker[AsyncSession]) -> None:
    a = await _draft(sessionmaker, 0)
    b = await _draft(sessionmaker, 1)
    async with sessionmaker() as s:
        await svc.publish(s, a, now=NOW, actor=None)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        with pytest.raises(IntegrityError):
            await s.execute(svc.update(Bulletin).where(Bulletin.id == b)
                            .values(number=1, state=PUBLISHED))
            await s.flush()
        await s.rollback()


# ----------------------------------------------------------------- content from real reports

async def test_collect_from_report_rows(ready: None, sessionmaker:
                                        async_sessionmaker[AsyncSession]) -> None:
    """Real report rows: rates, late and missing counts, repeat offenders, source totals."""
    from bot.db.models.reports import Report
    from bot.services.reports.submission import import_targets, read_targets_file
    from tests.conftest import SHANGHAI

    async with sessionmaker() as s:
        rows = read_targets_file(series_cfg.PROJECT_ROOT / "data/targets/zhengzhou.synthetic.yaml")
        await import_targets(s, rows, source="test", now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    cfg = dataclasses.replace(SERIES, id="s2", plan_start=date(2018, 10, 1),
                              plan_end=date(2018, 12, 31))
    async with sessionmaker() as s:
        await series_cfg.sync_series(s, [cfg], now=NOW)
        await s.commit()  # the test is the unit-of-work owner

    def report(code: str, day: date, industrial: int, late: bool) -> Report:
        deadline = datetime(day.year, day.month, day.day, 18, 0, tzinfo=SHANGHAI)
        when = deadline + timedelta(hours=2) if late else deadline - timedelta(hours=3)
        values = {"industrial_filled": industrial, "industrial_entered": 0,
                  "livestock_filled": 0, "livestock_entered": 0, "domestic_filled": 0,
                  "domestic_entered": 0, "centralized_filled": 0, "centralized_entered": 0,
                  "mobile_filled": 0, "mobile_entered": 0}
        return Report(unit_code=code, phase="survey", period_start=day, period_end=day,
                      deadline=deadline, version=1, values=values, source="quick",
                      submitted_by=1, submitted_at=when)

    async with sessionmaker() as s:
        for d in range(14):  # weeks of 1-7 and 8-14 October
            day = date(2018, 10, 1) + timedelta(days=d)
            s.add(report("410105", day, 100 + 40 * d, late=False))
            # Erqi: late on two days of the second week, late once in the first
            s.add(report("410103", day, 50 + 10 * d, late=d in (3, 9, 11)))
            if d < 7:  # Zhongmu stops reporting in the second week
                s.add(report("410122", day, 30 + 5 * d, late=False))
        await s.commit()
    async with sessionmaker() as s:
        series = await s.get(BulletinSeries, "s2")
        assert series is not None
        data = await svc.collect(s, series, (date(2018, 10, 8), date(2018, 10, 14)),
                                 at("2018-10-15 09:00"))
        await s.commit()  # the test is the unit-of-work owner
    units = {u.code: u for u in data.units}
    assert len(units) == 16  # every county-level unit reports on the survey by default
    jinshui, erqi, zhongmu = units["410105"], units["410103"], units["410122"]
    assert (jinshui.status, jinshui.late_count, jinshui.missing_count) == ("submitted", 0, 0)
    assert (erqi.late_count, erqi.missing_count) == (2, 0)
    assert erqi.offence_periods == 2  # late in both weeks: a repeat offender
    assert (zhongmu.missing_count, zhongmu.status, zhongmu.offence_periods) == (7, "missing", 1)
    counted_410105 = 100 + 40 * 13
    assert jinshui.completion_rate is not None and jinshui.completion_rate > 0
    assert jinshui.previous_rate is not None and jinshui.previous_rate < jinshui.completion_rate
    industrial = next(src for src in data.sources if src.key == "industrial")
    assert industrial.done == counted_410105 + (50 + 10 * 13) + (30 + 5 * 6)
    assert industrial.target == pytest.approx(12616)  # the synthetic split keeps the city total
    assert data.plan_rate == pytest.approx(14 / 92)
    assert ranked(data)[0].unit.code == "410105"
    jinshui_target = sum(r.value for r in rows if r.unit_code == "410105" and r.phase == "survey")
    assert jinshui.completion_rate == pytest.approx(counted_410105 / jinshui_target, abs=1e-4)



async def test_job_generates_once_per_period_and_demo_publishes(
    ready: None, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from bot.config import Settings
    from scheduling.jobs import JobContext, all_jobs

    job = all_jobs()["bulletin"]
    ctx = JobContext(sessionmaker, Settings())
    first = await job.run(ctx, at("2018-10-15 09:00"))
    again = await job.run(ctx, at("2018-10-15 09:05"))
    detail = first.details["zz-survey-weekly"]
    assert detail["period"] == "2018-10-08..2018-10-14" and detail["new"] is True
    assert again.details["zz-survey-weekly"]["bulletin"] == detail["bulletin"]
    assert again.details["zz-survey-weekly"]["new"] is False and again.enqueued == 0
    async with sessionmaker() as s:
        published = await publish_demo_bulletin(s, at("2018-10-15 09:10"))
        assert published is not None and published.number == 1
        assert published.id == detail["bulletin"]
        await s.commit()  # the test is the unit-of-work owner
