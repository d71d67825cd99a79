"""Hooks other features call: a submitted report opens its review and its "problems and needs"
item; an escalation or behind-plan notice to an office comes with a one-tap order button."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import NewOrder
from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.db.models.supervision import OPEN_STATES, ORDER, SupervisionOrder
from bot.i18n import Translator
from bot.services.reports.templates import data_dir
from bot.services.supervision import problems, review
from bot.services.supervision.config import load_config
from bot.services.supervision.notify import button, notify


async def report_submitted(session: AsyncSession, report: Report, unit: Unit, *,
                           now: datetime) -> None:
    """A new report version: open its review and track its problems entry (caller's
    transaction)."""
    await session.flush()
    await review.received(session, report, now=now)
    await problems.received(session, report, unit, now=now,
                            cfg=load_config(data_dir()))


def order_markup(reason: str, unit_code: str, ref: str) -> Any:
    """The one-tap "issue a supervision order" button (reason late, lag or rev)."""
    def build(t: Translator) -> dict[str, Any]:
        return {"inline_keyboard": [[button(t("Issue a supervision order"),
                                            NewOrder(reason, unit_code, ref).pack())]]}
    return build


async def offer_order(session: AsyncSession, *, now: datetime, users: list[int], unit: Unit,
                      reason: str, day: date) -> int:
    """Queue, right after an escalation or behind-plan notice, the button that issues an order
    to `unit` in one tap (caller's transaction); not while the unit has an open order.
    Returns how many were queued."""
    busy = await session.scalar(select(SupervisionOrder.id).where(
        SupervisionOrder.unit_code == unit.code, SupervisionOrder.kind == ORDER,
        SupervisionOrder.state.in_(OPEN_STATES)).limit(1))
    if busy is not None:
        return 0
    return await notify(session, now=now, users=users, kind="order_offer",
                        key=f"order-offer:{reason}:{unit.code}:{day.isoformat()}",
                        template="supervision/order_offer.html.j2",
                        markup=order_markup(reason, unit.code, day.isoformat()), unit=unit,
                        reason=reason, day=day.isoformat())


async def overdue_orders_for_bulletin(session: AsyncSession, root_path: str,
                                      now: datetime) -> list[dict[str, str]]:
    """Open numbered orders past their due date under `root_path`, as the bulletin names them
    (frozen into the bulletin's data: both languages)."""
    from bot.services.supervision.orders import local, overdue

    out = []
    for v in await overdue(session, now=now, under_path=root_path, cfg=load_config(data_dir())):
        if v.order.number is None:
            continue
        out.append({"unit_zh": v.unit.name, "unit_en": v.unit.name_en or v.unit.name,
                    "ref_zh": v.ref("zh_CN"), "ref_en": v.ref("en"), "due": local(v.order.due_at)})
    return out
