"""Seed the demo database: Zhengzhou's organisation, a synthetic roster, persona grants.

Everything seeded here except the organisation tree is synthetic and labelled so.
Seeding is idempotent: starting the demo again changes nothing it already made.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.org import Unit
from bot.db.models.staff import Staff
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.services.roster.importer import import_roster
from demo.bulletin import publish_demo_bulletin
from demo.personas import PERSONAS
from demo.reports import seed_reports
from demo.roster import synthetic_roster, write_csv
from demo.supervision import seed_supervision

log = logging.getLogger(__name__)


async def seed_org(session: AsyncSession, org_file: Path, now: datetime) -> None:
    """Load the organisation tree (real published data)."""
    await org_service.load_tree(session, org_service.read_tree(org_file), now=now)


async def seed_persona_staff(session: AsyncSession, now: datetime) -> None:
    """Roster rows for personas that are census staff (synthetic people)."""
    for p in PERSONAS:
        if p.staff_id and await session.get(Staff, p.staff_id) is None:
            session.add(Staff(staff_id=p.staff_id, name=p.first_name, role="enumerator",
                              unit_code="410105", phone=p.phone, org="演示数据（合成）",
                              status="active", created_at=now, updated_at=now))
    await session.commit()


async def seed_roster(session: AsyncSession, now: datetime) -> None:
    """A synthetic roster for every county (imported once, through the real importer)."""
    if len((await session.scalars(select(Staff.staff_id).limit(10))).all()) > 1:
        return
    counties = (await session.scalars(
        select(Unit.code).where(Unit.parent_code == "410100").order_by(Unit.code))).all()
    rows = synthetic_roster(counties, per_unit=12, seed=1, valid_to=f"{now.year + 1}-12-31")
    with tempfile.TemporaryDirectory() as tmp:
        data = write_csv(rows, Path(tmp) / "roster.csv").read_bytes()
    result = await import_roster(session, data, now=now, file_name="synthetic-demo-roster.csv")
    log.info("demo: synthetic roster: %d imported, %d rejected", result.imported, result.rejected)


async def seed_grants(session: AsyncSession, now: datetime) -> None:
    """Give each persona its role."""
    for p in PERSONAS:
        if p.role and p.unit_code:
            await users_service.grant_role(session, now=now, user_id=p.user_id, role=p.role,
                                           unit_code=p.unit_code)


async def seed(sessionmaker: async_sessionmaker[AsyncSession], org_file: Path,
               now: datetime) -> None:
    """Everything the demo needs, idempotently."""
    async with sessionmaker() as s, s.begin():  # each step its own unit of work
        await seed_org(s, org_file, now)
    async with sessionmaker() as s:
        await seed_persona_staff(s, now)
    async with sessionmaker() as s, s.begin():
        await seed_roster(s, now)
    async with sessionmaker() as s, s.begin():
        await seed_grants(s, now)
    await seed_reports(sessionmaker, now=now)
    await seed_supervision(sessionmaker, now=now)
    async with sessionmaker() as s, s.begin():
        bulletin = await publish_demo_bulletin(s, now)
        if bulletin is not None:
            log.info("demo: bulletin No. %s published for %s", bulletin.number,
                     bulletin.period_start)
    async with sessionmaker() as s:
        count = len((await s.scalars(select(Staff.staff_id))).all())
    log.info("demo data ready: %d staff records (synthetic)", count)
