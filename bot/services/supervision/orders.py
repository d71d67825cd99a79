"""Supervision orders (督办): issue, acknowledge (收到), answer (答复), close (办结) or return
(退回), and what each party sees; every step is written on the order's timeline.

An order goes to a unit below the issuer's office; its office heads and liaisons receive it
through the outbox with an acknowledge button. One acknowledgement by any of them covers the
unit. A button pressed again, or by a second recipient, changes nothing: the caller learns
what already happened.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Supervision
from bot.db.models.org import Unit
from bot.db.models.supervision import (
    ACKNOWLEDGED,
    ANSWERED,
    CLOSED,
    ISSUED,
    OPEN_STATES,
    ORDER,
    RETURNED,
    OrderEvent,
    SupervisionOrder,
)
from bot.db.repo import users as users_repo
from bot.i18n import Translator
from bot.services.access.principal import Principal
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.shared.outbox import enqueue
from bot.services.supervision import numbers as order_numbers
from bot.services.supervision.config import SupervisionConfig
from bot.services.supervision.notify import button, notify

ISSUER_ROLES = frozenset({"office_head", "leader", "admin"})
RECIPIENT_ROLES = ("office_head", "liaison")
TEXT_MAX = 2000
FILES_MAX = 10
SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE_TIME = time(18, 0)


def clean_text(raw: str | None, max_len: int = TEXT_MAX) -> str:
    """Normalise (NFC, no control characters; full-width punctuation kept) and bound a text
    typed by a person."""
    text = unicodedata.normalize("NFC", raw or "")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = "\n".join(line.rstrip() for line in text.strip().splitlines())
    if not text:
        raise DomainError("The text is empty: write what the unit must do.", retry=True)
    if len(text) > max_len:
        raise DomainError("The text is %(length)s characters long; at most %(max)s are allowed.",
                          length=len(text), max=max_len, retry=True)
    return text


def local(dt: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """A time as people read it (Asia/Shanghai)."""
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def due_on(day: date, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The due time of a due date: 18:00 local that day."""
    return datetime.combine(day, DUE_TIME, tzinfo=tz)


# ------------------------------------------------------------------------------ access


def issuing_office(principal: Principal | None, unit: Unit) -> str | None:
    """The innermost office (unit code) from which this user may issue to `unit`: an office
    head, leader or admin grant on a unit strictly above it."""
    if principal is None:
        return None
    found = [g for g in principal.grants if g.role in ISSUER_ROLES
             and unit.path.startswith(g.unit_path) and unit.path != g.unit_path]
    return max(found, key=lambda g: len(g.unit_path)).unit_code if found else None


def is_recipient(principal: Principal | None, unit_code: str) -> bool:
    """Whether the user is an office head or liaison of exactly this unit."""
    return principal is not None and any(
        g.role in RECIPIENT_ROLES and g.unit_code == unit_code for g in principal.grants)


def is_issuer(principal: Principal | None, order: SupervisionOrder, office: Unit) -> bool:
    """Whether the user may close or return: the issuer, or a head of the issuing office."""
    return principal is not None and (principal.user_id == order.issued_by
                                      or principal.covers(ISSUER_ROLES, office.path))


def may_see(principal: Principal | None, unit: Unit, office: Unit) -> bool:
    """Anyone with a grant on or above the unit or the issuing office may read an order."""
    return principal is not None and any(
        unit.path.startswith(g.unit_path) or office.path.startswith(g.unit_path)
        for g in principal.grants)


# ------------------------------------------------------------------------------ rendering


@dataclass
class OrderView:
    """An order with its unit and issuing office, ready for templates."""

    order: SupervisionOrder
    unit: Unit
    office: Unit
    cfg: SupervisionConfig

    def ref(self, locale: str) -> str:
        """The reference (number) in the reader's language; "" for an interview action."""
        o = self.order
        return order_numbers.label(self.cfg, self.office, o.year, o.number, locale)

    def context(self) -> dict[str, Any]:
        """Template variables shared by every order notice."""
        o = self.order
        return {"order": o, "unit": self.unit, "office": self.office,
                "ref_zh": self.ref("zh_CN"), "ref_en": self.ref("en"),
                "due": local(o.due_at), "issued": local(o.created_at)}


async def view(session: AsyncSession, order: SupervisionOrder,
               cfg: SupervisionConfig) -> OrderView:
    """The order with its unit and office loaded."""
    unit = await session.get(Unit, order.unit_code)
    office = await session.get(Unit, order.issuer_unit_code)
    assert unit is not None and office is not None
    return OrderView(order, unit, office, cfg)


def recipient_markup(order_id: int, *, ack: bool) -> Any:
    """Buttons for the unit: acknowledge (收到) and answer (答复), or answer alone."""
    def build(t: Translator) -> dict[str, Any]:
        row = [button(t("Acknowledge"), Supervision("ack", order_id).pack())] if ack else []
        row.append(button(t("Answer"), Supervision("ans", order_id).pack()))
        return {"inline_keyboard": [row]}
    return build


def issuer_markup(order_id: int) -> Any:
    """Buttons for the issuer on an answer: close (办结) and return (退回)."""
    def build(t: Translator) -> dict[str, Any]:
        return {"inline_keyboard": [[button(t("Close"), Supervision("cls", order_id).pack()),
                                     button(t("Return"), Supervision("ret", order_id).pack())]]}
    return build


async def recipients(session: AsyncSession, unit_code: str) -> list[int]:
    """The unit's office heads and liaisons."""
    return list(await users_repo.holders(session, RECIPIENT_ROLES, unit_code))


async def steps(session: AsyncSession, order_id: int, kind: str) -> int:
    """How many steps of `kind` the order's timeline has (after a flush)."""
    await session.flush()
    return int(await session.scalar(select(func.count(OrderEvent.id)).where(
        OrderEvent.order_id == order_id, OrderEvent.kind == kind)) or 0)


def event(session: AsyncSession, order: SupervisionOrder, kind: str, now: datetime,
          actor: int | None = None, **detail: Any) -> None:
    """Write one step on the order's timeline (caller's transaction)."""
    session.add(OrderEvent(order_id=order.id, at=now, kind=kind, actor=actor, detail=detail))


# ------------------------------------------------------------------------------ issuing


@dataclass
class Issued:
    """An issued order (or the existing one for a repeated one-tap origin)."""

    view: OrderView
    created: bool
    recipients: int


async def issue(session: AsyncSession, *, principal: Principal | None, unit_code: str,
                text: str, now: datetime, cfg: SupervisionConfig, due: date | None = None,
                origin: str = "command", origin_key: str | None = None,
                kind: str = ORDER, interview_id: int | None = None,
                office_code: str | None = None) -> Issued:
    """Number and issue an order to a unit below the issuer's office, queue it to the unit's
    office heads and liaisons with an acknowledge button; the caller commits."""
    unit = await session.get(Unit, unit_code.strip())
    if unit is None:
        raise DomainError("There is no unit with code %(code)s.", code=unit_code.strip()[:32])
    office_code = office_code or issuing_office(principal, unit)
    if office_code is None:
        raise DomainError("%(unit)s is not in your office's area: you can issue orders only "
                          "to units below your own office.", unit=unit.name)
    body = clean_text(text)
    if origin_key is not None:
        existing = await session.scalar(select(SupervisionOrder).where(
            SupervisionOrder.origin_key == origin_key))
        if existing is not None:
            return Issued(await view(session, existing, cfg), False, 0)
    if due is not None and due_on(due) <= now:
        raise DomainError("The due date %(date)s has passed: give a later date.",
                          date=due.isoformat())
    due_at = due_on(due) if due else due_on(now.astimezone(SHANGHAI).date()
                                            + timedelta(days=cfg.due_days))
    year = now.astimezone(SHANGHAI).year
    try:  # a SAVEPOINT: on a clash only the number and the order are given back
        async with session.begin_nested():
            number = (await order_numbers.take(session, office_code, year) if kind == ORDER
                      else None)
            order = SupervisionOrder(
                kind=kind, unit_code=unit.code, issuer_unit_code=office_code,
                issued_by=principal.user_id if principal else 0, year=year, number=number,
                text=body, state=ISSUED, due_at=due_at, created_at=now, repeats=0,
                origin=origin, origin_key=origin_key, interview_id=interview_id)
            session.add(order)
    except IntegrityError:  # the same one-tap origin issued at the same moment
        existing = await session.scalar(select(SupervisionOrder).where(
            SupervisionOrder.origin_key == origin_key))
        if existing is None:
            raise
        return Issued(await view(session, existing, cfg), False, 0)
    event(session, order, "issued", now, order.issued_by, origin=origin)
    audit.record(session, now=now, action="order.issue", actor_user_id=order.issued_by,
                 object_type="order", object_id=str(order.id), unit_code=unit.code,
                 number=number)
    v = await view(session, order, cfg)
    people = await recipients(session, unit.code)
    n = await notify(session, now=now, users=people, kind="order", key=f"order:{order.id}:new",
                     template="supervision/order.html.j2",
                     markup=recipient_markup(order.id, ack=True), **v.context())
    return Issued(v, True, n)


# ------------------------------------------------------------------------------ the unit


async def _get(session: AsyncSession, order_id: int) -> SupervisionOrder:
    order = await session.get(SupervisionOrder, order_id, populate_existing=True)
    if order is None:
        raise DomainError("There is no such order.")
    return order


@dataclass
class Step:
    """The outcome of a button: whether it changed the order, and the order as it is now."""

    view: OrderView
    changed: bool


async def acknowledge(session: AsyncSession, order_id: int, *, principal: Principal | None,
                      now: datetime, cfg: SupervisionConfig) -> Step:
    """Acknowledge for the whole unit (stops the repeats); the caller commits. Idempotent."""
    order = await _get(session, order_id)
    if not is_recipient(principal, order.unit_code):
        raise DomainError("Only the office heads and liaisons of the unit can do this.")
    assert principal is not None
    done = await session.execute(
        update(SupervisionOrder).where(SupervisionOrder.id == order.id,
                                       SupervisionOrder.state == ISSUED)
        .values(state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=principal.user_id)
        .execution_options(synchronize_session=False))
    changed = getattr(done, "rowcount", 0) == 1
    await session.refresh(order)
    v = await view(session, order, cfg)
    if changed:
        event(session, order, "acknowledged", now, principal.user_id)
        await notify(session, now=now, users=[order.issued_by], kind="order",
                     key=f"order:{order.id}:acked", template="supervision/acknowledged.html.j2",
                     **v.context())
    await session.flush()
    return Step(v, changed)


def clean_files(files: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """At most FILES_MAX photos or documents, as {"type", "file_id"}."""
    out = []
    for f in files[:FILES_MAX]:
        kind, fid = str(f.get("type", "")), str(f.get("file_id", ""))
        if kind in ("photo", "document") and 0 < len(fid) <= 256:
            out.append({"type": kind, "file_id": fid})
    return out


async def check_answerable(session: AsyncSession, order_id: int,
                           principal: Principal | None) -> SupervisionOrder:
    """The order, if this user may answer it now (DomainError saying why not otherwise)."""
    order = await _get(session, order_id)
    if not is_recipient(principal, order.unit_code):
        raise DomainError("Only the office heads and liaisons of the unit can do this.")
    if order.state == ANSWERED:
        raise DomainError("This order was already answered on %(when)s; the issuer is "
                          "reviewing the answer.", when=local(order.answered_at or now_of(order)))
    if order.state == CLOSED:
        raise DomainError("This order was closed on %(when)s.",
                          when=local(order.closed_at or now_of(order)))
    return order


def now_of(order: SupervisionOrder) -> datetime:
    """The order's latest known time (for messages about a finished step)."""
    return order.closed_at or order.answered_at or order.acknowledged_at or order.created_at


async def answer(session: AsyncSession, order_id: int, *, principal: Principal | None,
                 text: str, files: Sequence[dict[str, Any]], now: datetime,
                 cfg: SupervisionConfig) -> Step:
    """Record the unit's written answer (with optional photos or documents) and send it to the
    issuer with close and return buttons; the caller commits."""
    order = await check_answerable(session, order_id, principal)
    assert principal is not None
    body = clean_text(text)
    attached = clean_files(files)
    done = await session.execute(
        update(SupervisionOrder).where(SupervisionOrder.id == order.id,
                                       SupervisionOrder.state.in_((ISSUED, ACKNOWLEDGED,
                                                                   RETURNED)))
        .values(state=ANSWERED, answered_at=now, answer_text=body, answer_files=attached,
                acknowledged_at=order.acknowledged_at or now,
                acknowledged_by=order.acknowledged_by or principal.user_id)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        session.expire_all()  # the UPDATE changed nothing: re-read what happened
        await check_answerable(session, order_id, principal)
        raise DomainError("There is no such order.")
    await session.refresh(order)
    event(session, order, "answered", now, principal.user_id, files=len(attached))
    v = await view(session, order, cfg)
    key = f"order:{order.id}:answer:{await steps(session, order.id, 'answered')}"
    await notify(session, now=now, users=[order.issued_by], kind="order", key=key,
                 template="supervision/answered.html.j2", markup=issuer_markup(order.id),
                 files=len(attached), **v.context())
    for i, f in enumerate(attached):
        method, field = ("sendPhoto", "photo") if f["type"] == "photo" else (
            "sendDocument", "document")
        await enqueue(session, now=now, chat_id=order.issued_by, kind="order", method=method,
                      payload={field: f["file_id"]}, dedup_key=f"{key}:f{i}")
    await session.flush()
    return Step(v, True)


# ------------------------------------------------------------------------------ the issuer


async def _for_issuer(session: AsyncSession, order_id: int, principal: Principal | None,
                      cfg: SupervisionConfig) -> OrderView:
    order = await _get(session, order_id)
    v = await view(session, order, cfg)
    if not is_issuer(principal, order, v.office):
        raise DomainError("Only the issuing office can close or return this order.")
    return v


async def check_returnable(session: AsyncSession, order_id: int, principal: Principal | None,
                           cfg: SupervisionConfig) -> OrderView:
    """The order, if this user may return its answer now (DomainError otherwise)."""
    v = await _for_issuer(session, order_id, principal, cfg)
    if v.order.state != ANSWERED:
        raise already(v.order)
    return v


def already(order: SupervisionOrder) -> DomainError:
    """What happened to an order whose button was pressed again."""
    if order.state == CLOSED:
        return DomainError("This order was closed on %(when)s.",
                           when=local(order.closed_at or now_of(order)))
    if order.state == RETURNED:
        return DomainError("This answer was returned; the unit is answering again.")
    if order.state in (ISSUED, ACKNOWLEDGED):
        return DomainError("The unit has not answered yet.")
    return DomainError("This order was already answered on %(when)s; the issuer is "
                       "reviewing the answer.", when=local(order.answered_at or now_of(order)))


async def close(session: AsyncSession, order_id: int, *, principal: Principal | None,
                now: datetime, cfg: SupervisionConfig) -> Step:
    """Accept the answer and close the order (办结); the unit hears it; the caller commits."""
    v = await _for_issuer(session, order_id, principal, cfg)
    order = v.order
    done = await session.execute(
        update(SupervisionOrder).where(SupervisionOrder.id == order.id,
                                       SupervisionOrder.state == ANSWERED)
        .values(state=CLOSED, closed_at=now).execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        await session.refresh(order)
        return Step(v, False)
    await session.refresh(order)
    actor = principal.user_id if principal else None
    event(session, order, "closed", now, actor)
    await notify(session, now=now, users=await recipients(session, order.unit_code),
                 kind="order", key=f"order:{order.id}:closed",
                 template="supervision/closed.html.j2", **v.context())
    await session.flush()
    return Step(v, True)


async def return_answer(session: AsyncSession, order_id: int, *, principal: Principal | None,
                        reason: str, now: datetime, cfg: SupervisionConfig) -> Step:
    """Return the answer with a reason (退回); the unit gets it with the answer button again."""
    v = await check_returnable(session, order_id, principal, cfg)
    order = v.order
    why = clean_text(reason, 1000)
    done = await session.execute(
        update(SupervisionOrder).where(SupervisionOrder.id == order.id,
                                       SupervisionOrder.state == ANSWERED)
        .values(state=RETURNED).execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        await session.refresh(order)
        return Step(v, False)
    await session.refresh(order)
    actor = principal.user_id if principal else None
    event(session, order, "returned", now, actor, reason=why)
    times = await steps(session, order.id, "returned")
    await notify(session, now=now, users=await recipients(session, order.unit_code),
                 kind="order", key=f"order:{order.id}:returned:{times}",
                 template="supervision/returned.html.j2",
                 markup=recipient_markup(order.id, ack=False), reason=why, **v.context())
    await session.flush()
    return Step(v, True)


# ------------------------------------------------------------------------------ views


async def open_in_scope(session: AsyncSession, principal: Principal | None,
                        cfg: SupervisionConfig, *, include_closed: bool = False,
                        limit: int = 200) -> list[OrderView]:
    """Orders and interview actions addressed to or issued from units in the user's scope,
    oldest first."""
    if principal is None or not principal.grants:
        return []
    paths = [g.unit_path for g in principal.grants]
    in_scope = select(Unit.code).where(or_(*[Unit.path.startswith(p) for p in paths]))
    stmt = select(SupervisionOrder).where(or_(SupervisionOrder.unit_code.in_(in_scope),
                                              SupervisionOrder.issuer_unit_code.in_(in_scope)))
    if not include_closed:
        stmt = stmt.where(SupervisionOrder.state.in_(OPEN_STATES))
    rows = (await session.scalars(stmt.order_by(SupervisionOrder.created_at,
                                                SupervisionOrder.id).limit(limit))).all()
    return [await view(session, o, cfg) for o in rows]


async def detail(session: AsyncSession, order_id: int, principal: Principal | None,
                 cfg: SupervisionConfig) -> tuple[OrderView, list[OrderEvent]]:
    """One order and its timeline, if the user may see it."""
    order = await session.get(SupervisionOrder, order_id)
    if order is None:
        raise DomainError("There is no such order.")
    v = await view(session, order, cfg)
    if not may_see(principal, v.unit, v.office):
        raise DomainError("There is no such order.")
    events = (await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                    .order_by(OrderEvent.at, OrderEvent.id))).all()
    return v, list(events)


async def overdue(session: AsyncSession, *, now: datetime, under_path: str,
                  cfg: SupervisionConfig) -> list[OrderView]:
    """Open orders past their due date addressed to units under `under_path` (bulletins)."""
    stmt = (select(SupervisionOrder).join(Unit, Unit.code == SupervisionOrder.unit_code)
            .where(SupervisionOrder.state.in_(OPEN_STATES), SupervisionOrder.due_at < now,
                   Unit.path.startswith(under_path))
            .order_by(SupervisionOrder.due_at))
    return [await view(session, o, cfg) for o in (await session.scalars(stmt)).all()]
