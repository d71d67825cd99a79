"""Order numbers are gapless per issuing office and year, never repeat, and survive races and
rollbacks; both databases. Also the follow-up rules at the service level."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.outbox import OutboxMessage
from bot.db.models.supervision import SupervisionOrder
from bot.services.access import users as users_service
from bot.services.access.principal import load_principal
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from bot.services.supervision import followup as orders_followup
from bot.services.supervision import orders as svc
from bot.services.supervision.config import SupervisionConfig
from tests.conftest import ZHENGZHOU, at

CFG = SupervisionConfig(prefixes={"410100": {"zh": "郑普办", "en": "Zhengzhou Census Office"}})
NOW = at("2018-10-17 09:00")
CITY, COUNTY, LIAISON = 601, 602, 603
COUNTIES = ("410102", "410103", "410105", "410122")


@pytest.fixture
async def ready(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    for uid, role, unit in ((CITY, "office_head", "410100"), (COUNTY, "office_head", "410105"),
                            (LIAISON, "liaison", "410122")):
        async with sessionmaker() as s:
            await users_service.grant_role(s, now=NOW, user_id=uid, role=role, unit_code=unit)
            await s.commit()  # the test is the unit-of-work owner


async def _issue(sm: async_sessionmaker[AsyncSession], unit: str, user: int = CITY,
                 when: datetime = NOW) -> int:
    async with sm() as s:
        principal = await load_principal(s, user, "zh_CN")
        out = await svc.issue(s, principal=principal, unit_code=unit, text="请补报。", now=when,
                              cfg=CFG)
        assert out.view.order.number is not None
        await s.commit()  # the test is the unit-of-work owner
        return out.view.order.number


async def _numbers(sm: async_sessionmaker[AsyncSession]) -> list[tuple[str, int, int]]:
    async with sm() as s:
        rows = (await s.execute(select(SupervisionOrder.issuer_unit_code, SupervisionOrder.year,
                                       SupervisionOrder.number)
                                .order_by(SupervisionOrder.number))).all()
        return [(str(a), int(b), int(c)) for a, b, c in rows]


async def test_concurrent_issuing_gets_gapless_unique_numbers(ready: None, db_url: str) -> None:
    engines = [create_engine(db_url) for _ in range(4)]
    try:
        sms = [create_sessionmaker(e) for e in engines]
        got = await asyncio.gather(*(_issue(sms[i % 4], COUNTIES[i % 4]) for i in range(16)))
        assert sorted(got) == list(range(1, 17))
        assert [n for _, _, n in await _numbers(sms[0])] == list(range(1, 17))
        async with sms[0]() as s:  # each order reached its unit exactly once
            keys = (await s.scalars(select(OutboxMessage.dedup_key).where(
                OutboxMessage.kind == "order"))).all()
        assert len(keys) == len(set(keys)) == 8  # 410105's head and 410122's liaison, 4 each
    finally:
        for e in engines:
            await e.dispose()


async def test_numbers_per_office_and_year_and_failed_issue_leaves_no_gap(
        ready: None, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    assert await _issue(sessionmaker, "410122") == 1
    # a refused order (out of the county head's area) takes no number
    with pytest.raises(DomainError):
        await _issue(sessionmaker, "410122", user=COUNTY)
    # another office's counter starts at 1; a rollback gives a taken number back
    async with sessionmaker() as s:
        from bot.services.supervision import numbers as order_numbers

        assert await order_numbers.take(s, "410105", 2018) == 1
        await s.rollback()  # a crash before the commit gives the number back
    async with sessionmaker() as s:
        assert await order_numbers.take(s, "410105", 2018) == 1
        await s.commit()
    assert await _issue(sessionmaker, "410103") == 2
    assert await _issue(sessionmaker, "410103", when=at("2019-01-02 09:00")) == 1  # new year
    assert await _numbers(sessionmaker) == [("410100", 2018, 1), ("410100", 2019, 1),
                                            ("410100", 2018, 2)]
    async with sessionmaker() as s:
        order = await s.scalar(select(SupervisionOrder).where(SupervisionOrder.number == 2))
        assert order is not None
        v = await svc.view(s, order, CFG)
        assert v.ref("zh_CN") == "郑普办督〔2018〕2号"
        assert v.ref("en") == "Zhengzhou Census Office Order [2018] No. 2"
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        with pytest.raises(IntegrityError):  # the database refuses a repeated number
            s.add(SupervisionOrder(unit_code="410122", issuer_unit_code="410100", issued_by=1,
                                   year=2018, number=2, text="x", state="issued", due_at=NOW,
                                   created_at=NOW, repeats=0, origin="command"))
            await s.flush()
        await s.rollback()


async def test_acknowledgement_stops_repeats_and_escalation(
        ready: None, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _issue(sessionmaker, "410122")
    async with sessionmaker() as s:
        res = await orders_followup.run(s, now=NOW + timedelta(hours=6), cfg=CFG)
        assert res.repeated and res.enqueued == 1
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        order = (await s.scalars(select(SupervisionOrder))).one()
        principal = await load_principal(s, LIAISON, "zh_CN")
        step = await svc.acknowledge(s, order.id, principal=principal, now=NOW + timedelta(
            hours=7), cfg=CFG)
        assert step.changed
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        again = await svc.acknowledge(s, order.id, principal=principal,
                                      now=NOW + timedelta(hours=8), cfg=CFG)
        assert not again.changed and again.view.order.acknowledged_by == LIAISON
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        res = await orders_followup.run(s, now=NOW + timedelta(hours=30), cfg=CFG)
        assert res.repeated == [] and res.escalated == []
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:  # the county head of another county may not acknowledge
        other = await load_principal(s, COUNTY, "zh_CN")
        with pytest.raises(DomainError):
            await svc.acknowledge(s, order.id, principal=other, now=NOW, cfg=CFG)
