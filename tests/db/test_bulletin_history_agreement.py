"""Random report histories, stored as real report rows and counted by the bulletin collector:
the message, the document and the chart rendered from what it computes agree (issue #17).

The unit-level property test (tests/unit/test_bulletin_agreement.py) draws the collector's
output directly; this one draws the input (who reported on which day, late, corrected, above
target, not at all) so that the counting itself is covered too.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.bulletins import BulletinSeries
from bot.db.models.reports import Report
from bot.services.bulletins import config as series_cfg
from bot.services.bulletins import series as svc
from bot.services.bulletins.content import LATE, MISSING, BulletinData
from bot.services.reports.submission import import_targets, read_targets_file
from bot.services.roster import org as org_service
from tests.conftest import SHANGHAI, ZHENGZHOU, at
from tests.unit.test_bulletin_agreement import test_message_document_and_chart_agree

SERIES = series_cfg.SeriesConfig(id="h1", title_zh="关于全市入户调查情况的通报",
                                 title_en="the city-wide household survey",
                                 root_code="410100", phase="survey", start=date(2018, 10, 1),
                                 plan_start=date(2018, 10, 1), plan_end=date(2018, 12, 31))
NOW = at("2018-10-08 09:00")
WEEK = (date(2018, 10, 8), date(2018, 10, 14))
KEYS = ("industrial", "livestock", "domestic", "centralized", "mobile")
agree = test_message_document_and_chart_agree.hypothesis.inner_test  # type: ignore[attr-defined]


def _values(rng: random.Random, day: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in KEYS:
        filled = rng.randint(0, 60) * (day + 1)  # sometimes above the target (新增)
        out[f"{key}_filled"] = filled
        out[f"{key}_entered"] = rng.randint(0, filled)
    return out


def _history(rng: random.Random, codes: list[str]) -> tuple[list[Report], dict[str, list[str]]]:
    """Report rows for two weeks, and per unit the status of each day of the second week."""
    rows: list[Report] = []
    days: dict[str, list[str]] = {}
    for code in codes:
        habit = rng.choice(("good", "late", "absent", "mixed", "silent"))
        for d in range(14):
            day = date(2018, 10, 1) + timedelta(days=d)
            deadline = datetime(day.year, day.month, day.day, 18, 0, tzinfo=SHANGHAI)
            kind = {"good": "ok", "late": "late", "absent": "missing",
                    "silent": "missing" if d >= 7 else "ok"}.get(
                habit, rng.choice(("ok", "late", "missing", "corrected")))
            if d >= 7:
                days.setdefault(code, []).append(
                    MISSING if kind == "missing" else LATE if kind == "late" else "ok")
            if kind == "missing":
                continue
            when = deadline + (timedelta(hours=2) if kind == "late" else -timedelta(hours=3))
            versions = 2 if kind == "corrected" else 1
            for v in range(1, versions + 1):
                rows.append(Report(unit_code=code, phase="survey", period_start=day,
                                   period_end=day, deadline=deadline, version=v,
                                   values=_values(rng, d), source="quick", submitted_by=1,
                                   submitted_at=when + timedelta(hours=5 * (v - 1))))
    return rows, days


def _named(data: BulletinData) -> BulletinData:
    """Units renamed U0, U1, … (the readers of the three renditions match on these names)."""
    units = tuple(dataclasses.replace(u, name=f"U{i}", name_en=f"U{i}")
                  for i, u in enumerate(data.units))
    return dataclasses.replace(data, units=units)


async def _setup(sm: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sm() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with sm() as s:
        rows = read_targets_file(series_cfg.PROJECT_ROOT / "data/targets/zhengzhou.synthetic.yaml")
        await import_targets(s, rows, source="test", now=NOW)
        await s.commit()
    async with sm() as s:
        await series_cfg.sync_series(s, [SERIES], now=NOW)
        await s.commit()
    return sorted({r.unit_code for r in rows})


async def test_random_report_histories_render_the_same_everywhere(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    codes = await _setup(sessionmaker)
    for seed in range(12):
        rng = random.Random(seed)
        chosen = rng.sample(codes, rng.randint(3, len(codes)))
        rows, days = _history(rng, chosen)
        async with sessionmaker() as s:
            await s.execute(delete(Report))
            s.add_all(rows)
            await s.commit()
        async with sessionmaker() as s:
            series = await s.get(BulletinSeries, "h1")
            assert series is not None
            data = await svc.collect(s, series, WEEK, at("2018-10-15 09:00"))
        by_code = {u.code: u for u in data.units}
        for code, statuses in days.items():  # the collector counted what was stored
            line = by_code[code]
            assert (line.late_count, line.missing_count) == (
                statuses.count(LATE), statuses.count(MISSING)), (seed, code, statuses)
        agree(_named(data))
