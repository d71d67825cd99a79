"""SYNTHETIC report history for the demo: two weeks of daily reports from Zhengzhou's counties.

Each county gets a pace (some ahead of plan, some behind); a few report late or skip days, so
the status matrix, escalations and the bulletin have something to show. All numbers are
synthetic and derived from the synthetic targets in data/targets/.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import PROJECT_ROOT
from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.services.access.principal import Grant, Principal
from bot.services.reports import submission as reports_service
from bot.services.reports.templates import get_template
from bot.services.shared.errors import DomainError

log = logging.getLogger(__name__)
TARGETS = PROJECT_ROOT / "data" / "targets" / "zhengzhou.synthetic.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PLAN_DAYS = 60  # the synthetic plan: every county done in 60 days


def _values(targets: dict[str, float], fraction: float, rng: random.Random,
            day: int) -> dict[str, float | str]:
    values: dict[str, float | str] = {}
    for f in get_template("survey").fields:
        if f.type == "target_count" and f.target:
            full = targets.get(f.target, 0.0)
            share = fraction if f.key.endswith("_filled") else fraction * 0.85
            values[f.key] = float(min(full, round(full * share)))
        elif f.type == "cumulative":
            values[f.key] = float(round(fraction * 40))
        elif f.type == "count":
            values[f.key] = float(rng.randint(0, 3))
        elif f.type == "percent":
            values[f.key] = round(min(100.0, fraction * 100 + rng.uniform(-2, 2)), 1)
        elif f.type == "money":
            values[f.key] = round(50 + day * 2.5, 2)
    return values


async def seed_reports(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime,
                       days: int = 14, seed: int = 2018) -> int:
    """Submit `days` days of synthetic daily reports before `now`; returns how many were saved."""
    async with sessionmaker() as s:
        if await s.scalar(select(func.count()).select_from(Report)):
            return 0  # seeded before
        count, _rejected = await reports_service.import_targets(
            s, reports_service.read_targets_file(TARGETS), source="demo (synthetic)", now=now)
        await s.commit()  # the targets: their own unit of work
        counties = list((await s.scalars(
            select(Unit).where(Unit.parent_code == "410100").order_by(Unit.code))).all())
        targets = await reports_service.targets_for_units(s, counties, "survey")
    rng = random.Random(seed)
    paces = {u.code: rng.uniform(0.7, 1.15) for u in counties}
    laggards = {counties[6].code, counties[11].code} if len(counties) > 11 else set()
    today = now.astimezone(SHANGHAI).date()
    saved = 0
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        k = days - offset + 1
        for unit in counties:
            if unit.code in laggards and rng.random() < 0.35:
                continue  # missing that day
            late = rng.random() < 0.08
            at = datetime.combine(day, time(19, 10) if late else time(17, 20), SHANGHAI)
            fraction = min(1.0, paces[unit.code] * (14 + k) / PLAN_DAYS)
            principal = Principal(0, "zh_CN", (Grant("liaison", unit.code, unit.path),))
            async with sessionmaker() as s:
                try:
                    await reports_service.submit(
                        s, principal=principal, unit_code=unit.code, phase="survey",
                        values=_values(targets[unit.code], fraction, rng, k),
                        source="demo (synthetic)", now=at, locale="zh_CN")
                    await s.commit()  # each report its own unit of work
                    saved += 1
                except DomainError as exc:
                    log.warning("synthetic report for %s on %s refused: %s", unit.code, day, exc)
    log.info("demo: %d synthetic reports (%d targets imported)", saved, count)
    return saved
