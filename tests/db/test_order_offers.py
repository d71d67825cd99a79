"""The escalation ladder's notices to an office come with the one-tap order button: the parent
office's digest of late units, and a unit behind plan; not while the unit has an open order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access.principal import load_principal
from bot.services.supervision import orders
from bot.services.supervision.config import SupervisionConfig
from tests.conftest import at
from tests.db.test_escalation import (  # noqa: F401  (the fixture)
    CITY_HEAD,
    FULL,
    LATE_UNIT,
    NEVER,
    ON_TIME,
    _escalate,
    _outbox,
    _submit,
    zz,
)


def _offers(rows: list) -> list[tuple[int, str]]:  # type: ignore[type-arg]
    return [(r.chat_id, r.payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
            for r in rows if r.kind == "order_offer"]


async def test_late_digest_offers_an_order_per_late_unit(
        zz: async_sessionmaker[AsyncSession]) -> None:  # noqa: F811
    await _submit(zz, ON_TIME, "2018-10-08 17:10")
    await _submit(zz, LATE_UNIT, "2018-10-08 17:20")
    await _escalate(zz, "2018-10-08 21:00")
    rows = await _outbox(zz)
    offers = _offers(rows)
    assert (CITY_HEAD, f"sv:new:late:{NEVER}:2018-10-08") in offers  # 管城回族区 never reported
    assert not [o for o in offers if f":{ON_TIME}:" in o[1] or f":{LATE_UNIT}:" in o[1]]
    assert {chat for chat, _ in offers} == {CITY_HEAD}
    text = next(r.payload["text"] for r in rows if r.kind == "order_offer"
                and f":{NEVER}:" in r.payload["reply_markup"]["inline_keyboard"][0][0][
                    "callback_data"])
    assert "管城回族区 未按时报送 2018-10-08 的报表" in text
    await _escalate(zz, "2018-10-08 21:30")  # a rerun offers nothing twice
    assert len(_offers(await _outbox(zz))) == len(offers)


async def test_behind_plan_offer_skipped_while_an_order_is_open(
        zz: async_sessionmaker[AsyncSession]) -> None:  # noqa: F811
    async with zz() as s:
        head = await load_principal(s, CITY_HEAD, "zh_CN")
        await orders.issue(s, principal=head, unit_code=LATE_UNIT, text="请加快进度。",
                           now=at("2018-11-15 09:00"), cfg=SupervisionConfig())
        await s.commit()  # the test is the unit-of-work owner
    tiny = {k: 1 for k in FULL}
    await _submit(zz, ON_TIME, "2018-11-15 17:00", tiny)
    await _submit(zz, LATE_UNIT, "2018-11-15 17:00", tiny)
    await _escalate(zz, "2018-11-16 08:00")
    offers = [o for o in _offers(await _outbox(zz)) if o[1].startswith("sv:new:lag:")]
    assert (CITY_HEAD, f"sv:new:lag:{ON_TIME}:2018-11-15") in offers
    assert not [o for o in offers if f":{LATE_UNIT}:" in o[1]]  # it already has an order
