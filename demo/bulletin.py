"""The demo's bulletin (SYNTHETIC data): the series moved to the demo's clock, then generated
and published from the reports in the database."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.bulletins import DRAFT, Bulletin
from bot.services.bulletins.config import SeriesConfig, load_series_config, sync_series
from bot.services.bulletins.series import generate, publish


def demo_series(cfg: SeriesConfig, now: datetime, plan_days: int = 60,
                elapsed: int = 28) -> SeriesConfig:
    """A series moved to the demo's clock: it started, and its plan line began, `elapsed`
    days before `now` and ends `plan_days` later (as the SYNTHETIC demo reports assume)."""
    begin = now.astimezone(cfg.tz).date() - timedelta(days=elapsed)
    return replace(cfg, start=begin, plan_start=begin,
                   plan_end=begin + timedelta(days=plan_days - 1))


async def publish_demo_bulletin(session: AsyncSession, now: datetime,
                                series_id: str = "zz-survey-weekly") -> Bulletin | None:
    """For the demo: sync the series file, generate the period's bulletin from the reports in
    the database (the synthetic Zhengzhou data) and publish it. Returns it (None when the
    series' root unit is not loaded or the series has not started)."""
    rows = await sync_series(session, [demo_series(c, now) for c in load_series_config()],
                             now=now)
    if not any(r.id == series_id for r in rows):
        return None
    outcome = await generate(session, series_id, now=now, origin="schedule")
    if outcome is None:
        return None
    if outcome.bulletin.state == DRAFT:
        outcome = await publish(session, outcome.bulletin.id, now=now, actor=None)
    return outcome.bulletin
