"""The demo's showcase bulletin is meaningful: its plan line moves with the demo's clock, so
some counties are praised, some are named, and the bars are not all red (SYNTHETIC data)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.bulletins.content import BulletinData, figures
from bot.services.roster import org as org_service
from demo.bulletin import publish_demo_bulletin
from demo.reports import seed_reports
from tests.conftest import ZHENGZHOU, at


async def test_demo_bulletin_praises_names_and_is_not_all_behind(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = at("2026-11-30 09:30")  # the demo runs on today's clock, not 2018's plan dates
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=now)
        await s.commit()  # the test is the unit-of-work owner
    assert await seed_reports(sessionmaker, now=now) > 100
    async with sessionmaker() as s:
        bulletin = await publish_demo_bulletin(s, now)
        assert bulletin is not None and bulletin.number == 1
        data = BulletinData.from_json(bulletin.data)
        await s.commit()  # the test is the unit-of-work owner
    fig = figures(data)
    assert data.plan_rate is not None and 0.2 < data.plan_rate < 0.8  # mid-plan, not 100%
    assert fig.praised, "nobody praised"
    assert fig.lagging or fig.late or fig.missing, "nobody named"
    behind = sum(f.behind for f in fig.rows)
    assert 0 < behind < len(fig.rows), "all bars the same colour"
