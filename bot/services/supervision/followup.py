"""Follow-up of orders and interview actions (PagerDuty-style), decided as of `now`.

- Not acknowledged: sent to the unit again every `repeat_after` (3 hours by default) and, once,
  escalated to the issuer and the unit's parent office after `escalate_after` (24 hours). One
  acknowledgement by any recipient stops both.
- Answer overdue: the unit is reminded at the due time and every `overdue_repeat` after it, and
  escalated once `overdue_escalate_after` past it.
- During quiet hours nothing is decided: the first run after them takes the steps then due.

Every notice is keyed by order, step and count, so a replay for the same `now` adds nothing;
every step is written on the order's timeline. A notice is due at once: its not-before is the
moment the order was issued (never later than `send_at`), so a replayed run delivers what it
decides right away, even when `now` is ahead of the sender's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.supervision import ACKNOWLEDGED, ISSUED, RETURNED, SupervisionOrder
from bot.services.deadlines.escalation import office_heads
from bot.services.supervision.config import SupervisionConfig
from bot.services.supervision.notify import notify
from bot.services.supervision.orders import OrderView, event, recipient_markup, recipients, view


@dataclass
class FollowupResult:
    """What one run did."""

    enqueued: int = 0
    repeated: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)
    quiet: bool = False


async def escalation_recipients(session: AsyncSession, v: OrderView) -> list[int]:
    """The issuer and the office heads of the unit's parent office."""
    people = {v.order.issued_by}
    if v.unit.parent_code:
        people.update(await office_heads(session, v.unit.parent_code))
    return sorted(p for p in people if p)


async def run(session: AsyncSession, *, now: datetime, cfg: SupervisionConfig,
              send_at: datetime | None = None, quiet: bool = False) -> FollowupResult:
    """Take every follow-up step due as of `now` (no commit); notices are due at `send_at`."""
    result = FollowupResult(quiet=quiet)
    if quiet:
        return result
    rows = (await session.scalars(select(SupervisionOrder).where(
        SupervisionOrder.state.in_((ISSUED, ACKNOWLEDGED, RETURNED)),
        SupervisionOrder.created_at <= now).order_by(SupervisionOrder.id))).all()
    for order in rows:
        v = await view(session, order, cfg)
        due = min(send_at or now, order.created_at)
        if order.state == ISSUED:
            await _unacknowledged(session, v, now=now, cfg=cfg, send_at=due, result=result)
        if now >= order.due_at:
            await _overdue(session, v, now=now, cfg=cfg, send_at=due, result=result)
    await session.flush()
    return result


async def _unacknowledged(session: AsyncSession, v: OrderView, *, now: datetime,
                          cfg: SupervisionConfig, send_at: datetime | None,
                          result: FollowupResult) -> None:
    order = v.order
    age = now - order.created_at
    if order.escalated_at is None and age >= cfg.escalate_after:
        n = await notify(session, now=now, send_at=send_at,
                         users=await escalation_recipients(session, v), kind="order",
                         key=f"order:{order.id}:escalated", reason="unacknowledged",
                         template="supervision/escalated.html.j2", **v.context())
        order.escalated_at = now
        event(session, order, "escalated", now, reason="unacknowledged", recipients=n)
        result.escalated.append(order.id)
        result.enqueued += n
    step = int(age / cfg.repeat_after) if cfg.repeat_after.total_seconds() > 0 else 0
    if step >= 1 and step > order.repeats:
        n = await notify(session, now=now, send_at=send_at,
                         users=await recipients(session, order.unit_code), kind="order",
                         key=f"order:{order.id}:repeat:{step}", repeat=step,
                         template="supervision/order.html.j2",
                         markup=recipient_markup(order.id, ack=True), **v.context())
        order.repeats = step
        event(session, order, "repeated", now, count=step, recipients=n)
        result.repeated.append(order.id)
        result.enqueued += n


async def _overdue(session: AsyncSession, v: OrderView, *, now: datetime,
                   cfg: SupervisionConfig, send_at: datetime | None,
                   result: FollowupResult) -> None:
    order = v.order
    late = now - order.due_at
    if order.state != ISSUED:  # unacknowledged ones are already being repeated
        every = cfg.overdue_repeat.total_seconds()
        step = int(late.total_seconds() // every) + 1 if every > 0 else 1
        n = await notify(session, now=now, send_at=send_at,
                         users=await recipients(session, order.unit_code), kind="order",
                         key=f"order:{order.id}:overdue:{step}",
                         template="supervision/overdue.html.j2",
                         markup=recipient_markup(order.id, ack=False), **v.context())
        if n:
            event(session, order, "reminded", now, count=step, recipients=n)
            result.enqueued += n
    if order.overdue_at is None and late >= cfg.overdue_escalate_after:
        n = await notify(session, now=now, send_at=send_at,
                         users=await escalation_recipients(session, v), kind="order",
                         key=f"order:{order.id}:overdue-escalated", reason="overdue",
                         template="supervision/escalated.html.j2", **v.context())
        order.overdue_at = now
        event(session, order, "overdue", now, recipients=n)
        result.overdue.append(order.id)
        result.enqueued += n
