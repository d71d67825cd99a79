"""SYNTHETIC supervision data for the demo: one numbered order from the city office to 金水区,
and the county's latest report left waiting for review (every older seeded report counts as
accepted), so the personas find an order to acknowledge and a report to review."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.reports import Report
from bot.db.models.supervision import ACCEPTED, RECEIVED, ReportReview
from bot.services.access.principal import load_principal
from bot.services.reports.templates import data_dir
from bot.services.supervision import orders
from bot.services.supervision.config import load_config
from demo.personas import PERSONAS

log = logging.getLogger(__name__)
COUNTY = "410105"
SOURCE = "demo (synthetic)"  # the source of the seeded reports (demo.reports)
ORDER_TEXT = ("【演示数据（合成）】金水区近一周入户调查进度落后于计划，请于3日内书面报告原因、"
              "整改措施及完成时间。")


async def seed_supervision(sessionmaker: async_sessionmaker[AsyncSession], *,
                           now: datetime) -> None:
    """Idempotently: the demo order, and one report awaiting review."""
    head = next(p for p in PERSONAS if p.key == "city_head")
    async with sessionmaker() as s:
        await _review_state(s, now)
    async with sessionmaker() as s:
        principal = await load_principal(s, head.user_id, "zh_CN")
        out = await orders.issue(s, principal=principal, unit_code=COUNTY, text=ORDER_TEXT,
                                 now=now, cfg=load_config(data_dir()), origin="demo",
                                 origin_key="demo:order:1")
        await s.commit()  # the demo order: its own unit of work
        if out.created:
            log.info("demo: supervision order %s issued (synthetic)", out.view.ref("en"))


async def _review_state(session: AsyncSession, now: datetime) -> None:
    """Accept every seeded (synthetic) report except 金水区's latest one."""
    seeded = select(Report.id).where(Report.source == SOURCE)
    latest = await session.scalar(select(Report.id).where(Report.unit_code == COUNTY,
                                                          Report.source == SOURCE)
                                  .order_by(Report.period_start.desc(), Report.version.desc())
                                  .limit(1))
    await session.execute(
        update(ReportReview).where(ReportReview.state == RECEIVED,
                                   ReportReview.report_id.in_(seeded),
                                   ReportReview.report_id != (latest or 0))
        .values(state=ACCEPTED, decided_at=now).execution_options(synchronize_session=False))
    await session.commit()
