"""The demo shows supervision: one synthetic order to 金水区 for its personas, and one report
waiting for review; seeding again adds nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.outbox import OutboxMessage
from bot.db.models.supervision import ReportReview, SupervisionOrder
from bot.services.access.principal import load_principal
from bot.services.supervision import review
from demo.personas import PERSONAS
from demo.seed import seed
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-15 09:00")


async def _state(sm: async_sessionmaker[AsyncSession]) -> tuple[list[SupervisionOrder],
                                                                  list[str]]:
    async with sm() as s:
        orders = list((await s.scalars(select(SupervisionOrder))).all())
        states = list((await s.scalars(select(ReportReview.state))).all())
    return orders, states


async def test_demo_has_an_order_and_a_report_to_review(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    sm = create_sessionmaker(engine)
    try:
        await seed(sm, ZHENGZHOU, NOW)
        orders, states = await _state(sm)
        assert [(o.unit_code, o.number, o.issuer_unit_code) for o in orders] == [
            ("410105", 1, "410100")]
        assert "演示数据（合成）" in orders[0].text
        assert states.count("received") == 1 and set(states) == {"received", "accepted"}
        ids = {p.key: p.user_id for p in PERSONAS}
        async with sm() as s:
            chats = set((await s.scalars(select(OutboxMessage.chat_id).where(
                OutboxMessage.kind == "order"))).all())
            assert chats == {ids["liaison"], ids["county_head"]}
            head = await load_principal(s, ids["city_head"], "zh_CN")
            [waiting] = await review.waiting(s, head)
            assert waiting.unit.code == "410105"
        await seed(sm, ZHENGZHOU, NOW)  # a restart of the demo
        again, states_again = await _state(sm)
        assert len(again) == 1 and states_again == states
    finally:
        await engine.dispose()
