"""help desk: route a question the FAQ could not answer to the right desk, carry the answer
back to the asker, remind the desk of open questions, mark exchanges as FAQ candidates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import DeskCandidate, DeskReply
from bot.db.models.faq import EXCHANGE_ANSWERED, EXCHANGE_OPEN, DeskExchange, FaqCandidate
from bot.db.models.org import Unit
from bot.db.models.outbox import OutboxMessage
from bot.db.models.users import ChatUser
from bot.db.repo import units as units_repo
from bot.db.repo import users as users_repo
from bot.db.upsert import insert_ignore
from bot.i18n import Catalogs, pick_locale
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.faqdesk.log import question_for
from bot.services.shared import audit, outbox
from bot.services.shared.errors import DomainError

DESK_ROLE = "qa_desk"
DESK_ROLES = frozenset({DESK_ROLE})
KIND_DESK_QUESTION = "faq_desk"
KIND_DESK_REMINDER = "faq_desk_reminder"
KIND_DESK_ANSWER = "faq_answer"
MAX_ANSWER_CHARS = 3500
_DEDUP_RE = re.compile(r"^faq-desk(?:-remind)?:(\d+):")


@dataclass(frozen=True)
class Escalated:
    """Outcome of forwarding a question: the exchange, its desk unit, and whether it is new."""

    exchange_id: int
    unit_code: str
    unit_name: str
    new: bool


async def _has_desk(session: AsyncSession, unit_code: str) -> list[int]:
    """Desk members granted on exactly this unit."""
    return list(await users_repo.holders(session, [DESK_ROLE], unit_code))


async def _chain(session: AsyncSession, unit: Unit) -> list[Unit]:
    """The unit and its ancestors, nearest first."""
    return [unit, *reversed(await units_repo.ancestors(session, unit))]


async def desk_unit_for(session: AsyncSession, principal: Principal | None) -> Unit | None:
    """The desk that answers this person: nearest desk above their (most specific) unit,
    else the root's desk (also for the public); None when no desk exists at all."""
    start: Unit | None = None
    if principal is not None and principal.grants:
        deepest = max(principal.grants, key=lambda g: (g.unit_path.count("/"), g.unit_path))
        start = await units_repo.get(session, deepest.unit_code)
    if start is not None:
        for unit in await _chain(session, start):
            if await _has_desk(session, unit.code):
                return unit
    for root in sorted(await units_repo.roots(session), key=lambda u: u.code):
        if await _has_desk(session, root.code):
            return root
    return None


async def _desk_members(session: AsyncSession, unit: Unit) -> list[int]:
    """Members of the nearest staffed desk at or above `unit` (root desk as last resort)."""
    for u in await _chain(session, unit):
        members = await _has_desk(session, u.code)
        if members:
            return members
    return []


async def _locale_of(session: AsyncSession, user_id: int) -> str:
    """A chat user's language (their /lang choice, else their Telegram language)."""
    user = await session.get(ChatUser, user_id)
    if user is None:
        return pick_locale(None, None)
    return pick_locale(user.language, user.telegram_language)


def answered_keyboard(t: Any, exchange_id: int) -> dict[str, Any]:
    """The keyboard left under a question once it is answered: only Mark as FAQ candidate."""
    return {"inline_keyboard": [[
        {"text": t("⭐ FAQ candidate"), "callback_data": DeskCandidate(exchange_id).pack()},
    ]]}


def _desk_keyboard(t: Any, exchange_id: int) -> dict[str, Any]:
    """Inline keyboard under a forwarded question: Answer / Mark as FAQ candidate."""
    return {"inline_keyboard": [[
        {"text": t("✍️ Answer"), "callback_data": DeskReply(exchange_id).pack()},
        {"text": t("⭐ FAQ candidate"), "callback_data": DeskCandidate(exchange_id).pack()},
    ]]}


async def escalate(
    session: AsyncSession,
    *,
    now: datetime,
    catalogs: Catalogs,
    question_id: int,
    principal: Principal,
    chat_id: int,
) -> Escalated:
    """Forward the asker's question to their desk (through the outbox) (the caller commits)."""
    question = await question_for(session, question_id, principal.user_id)
    existing = await session.scalar(
        select(DeskExchange).where(DeskExchange.question_id == question_id))
    if existing is not None:
        unit = await units_repo.get(session, existing.unit_code)
        return Escalated(existing.id, existing.unit_code,
                         unit.display_name(principal.locale) if unit else existing.unit_code,
                         new=False)
    unit = await desk_unit_for(session, principal)
    if unit is None:
        raise DomainError("No help desk has been set up yet. Please contact your county census "
                          "office directly.")
    exchange = DeskExchange(
        question_id=question_id, asker_user_id=principal.user_id, asker_chat_id=chat_id,
        asker_locale=principal.locale, unit_code=unit.code, text=question.text,
        status=EXCHANGE_OPEN, created_at=now,
    )
    session.add(exchange)
    await session.flush()
    asker = await session.get(ChatUser, principal.user_id)
    for member in await _has_desk(session, unit.code):
        t = catalogs.get(await _locale_of(session, member))
        text = render("faq/desk_question.html.j2", t, id=exchange.id, text=question.text,
                      asker=asker.first_name if asker else "", unit=unit.display_name(t.locale),
                      staff=bool(principal.grants), reminder=0)
        await outbox.enqueue(session, now=now, chat_id=member, kind=KIND_DESK_QUESTION,
                             text=text, dedup_key=f"faq-desk:{exchange.id}:{member}",
                             reply_markup=_desk_keyboard(t, exchange.id))
    audit.record(session, now=now, action="faq.escalate", actor_user_id=principal.user_id,
                 object_type="desk_exchange", object_id=str(exchange.id), unit_code=unit.code)
    await session.flush()
    return Escalated(exchange.id, unit.code, unit.display_name(principal.locale), new=True)


async def _authorized_exchange(
    session: AsyncSession, exchange_id: int, principal: Principal
) -> tuple[DeskExchange, Unit]:
    """The exchange, if this desk member covers its unit; DomainError otherwise."""
    exchange = await session.get(DeskExchange, exchange_id)
    unit = await units_repo.get(session, exchange.unit_code) if exchange else None
    if exchange is None or unit is None:
        raise DomainError("This question no longer exists.")
    if not principal.covers(DESK_ROLES, unit.path):
        raise DomainError("Only the help desk of %(unit)s can answer this question.",
                          unit=unit.display_name(principal.locale))
    return exchange, unit


async def answer(
    session: AsyncSession,
    *,
    now: datetime,
    catalogs: Catalogs,
    exchange_id: int,
    principal: Principal,
    text: str,
) -> DeskExchange:
    """Record a desk member's answer and queue it to the asker in the asker's language."""
    text = clean_answer(text)
    exchange, unit = await _authorized_exchange(session, exchange_id, principal)
    if exchange.status == EXCHANGE_ANSWERED:
        raise DomainError("Question #%(id)d has already been answered.", id=exchange.id,
                          gone=True)
    exchange.status = EXCHANGE_ANSWERED
    exchange.answer_text = text
    exchange.answered_by = principal.user_id
    exchange.answered_at = now
    t = catalogs.get(exchange.asker_locale)
    body = render("faq/desk_answer.html.j2", t, question=exchange.text, answer=text,
                  unit=unit.display_name(t.locale))
    await outbox.enqueue(session, now=now, chat_id=exchange.asker_chat_id, kind=KIND_DESK_ANSWER,
                         text=body, dedup_key=f"faq-answer:{exchange.id}",
                         respect_quiet_hours=False)
    audit.record(session, now=now, action="faq.desk_answer", actor_user_id=principal.user_id,
                 object_type="desk_exchange", object_id=str(exchange.id), unit_code=unit.code)
    await session.flush()
    return exchange


def clean_answer(text: str) -> str:
    """The answer text, stripped; DomainError when empty or too long for one message."""
    text = text.strip()
    if not text:
        raise DomainError("The answer is empty. Please write the answer as a text message.",
                          retry=True)
    if len(text) > MAX_ANSWER_CHARS:
        raise DomainError("The answer is too long (%(n)d characters; at most %(max)d). "
                          "Please shorten it.", n=len(text), max=MAX_ANSWER_CHARS, retry=True)
    return text


async def check_can_answer(
    session: AsyncSession, *, exchange_id: int, principal: Principal
) -> DeskExchange:
    """The open exchange this desk member may answer (before prompting for the text)."""
    exchange, _ = await _authorized_exchange(session, exchange_id, principal)
    if exchange.status == EXCHANGE_ANSWERED:
        raise DomainError("Question #%(id)d has already been answered.", id=exchange.id,
                          gone=True)
    return exchange


async def mark_candidate(
    session: AsyncSession, *, now: datetime, exchange_id: int, principal: Principal
) -> bool:
    """Mark an exchange as a candidate FAQ entry; False when it already was."""
    exchange, unit = await _authorized_exchange(session, exchange_id, principal)
    added = await insert_ignore(
        session, FaqCandidate,
        [{"exchange_id": exchange.id, "marked_by": principal.user_id, "created_at": now}],
        ["exchange_id"],
    )
    if added:
        audit.record(session, now=now, action="faq.candidate", actor_user_id=principal.user_id,
                     object_type="desk_exchange", object_id=str(exchange.id),
                     unit_code=unit.code)
    await session.flush()
    return added > 0


async def exchange_for_message(
    session: AsyncSession, *, chat_id: int, message_id: int, text: str | None = None
) -> int | None:
    """Which exchange a forwarded desk message (the one replied to) belongs to."""
    key = await session.scalar(
        select(OutboxMessage.dedup_key).where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.telegram_message_id == message_id,
            OutboxMessage.kind.in_((KIND_DESK_QUESTION, KIND_DESK_REMINDER)),
        )
    )
    match = _DEDUP_RE.match(key or "")
    if match:
        return int(match.group(1))
    found = re.search(r"#Q(\d+)\b", text or "")  # the marker printed in every desk message
    return int(found.group(1)) if found else None


async def remind(
    session: AsyncSession,
    *,
    now: datetime,
    catalogs: Catalogs,
    after: timedelta,
    rounds: int,
) -> int:
    """Remind desks of questions open longer than `after`: one reminder per round (a round
    every `after`, at most `rounds`), keyed so that reruns add nothing. Commits."""
    if after <= timedelta(0) or rounds <= 0:
        return 0
    stmt = select(DeskExchange).where(
        DeskExchange.status == EXCHANGE_OPEN, DeskExchange.created_at <= now - after
    ).order_by(DeskExchange.id)
    queued = 0
    for exchange in (await session.scalars(stmt)).all():
        round_no = min(int((now - exchange.created_at) / after), rounds)
        unit = await units_repo.get(session, exchange.unit_code)
        if unit is None:
            continue
        asker = await session.get(ChatUser, exchange.asker_user_id)
        for member in await _desk_members(session, unit):
            t = catalogs.get(await _locale_of(session, member))
            hours = int((now - exchange.created_at).total_seconds() // 3600)
            text = render("faq/desk_question.html.j2", t, id=exchange.id, text=exchange.text,
                          asker=asker.first_name if asker else "",
                          unit=unit.display_name(t.locale), staff=False, reminder=round_no,
                          hours=hours)
            queued += await outbox.enqueue(
                session, now=now, chat_id=member, kind=KIND_DESK_REMINDER, text=text,
                dedup_key=f"faq-desk-remind:{exchange.id}:{round_no}:{member}",
                reply_markup=_desk_keyboard(t, exchange.id),
            )
    await session.flush()
    return queued
