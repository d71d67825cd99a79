"""The outbox: enqueue notices (in the caller's transaction) and the sender's queue operations.

Delivery protocol: a row is committed `sending` (with the holder) before its API call, and its
outcome (`sent`, back to `pending`, `failed`) is committed after it. The sender does both in one
transaction per turn (`settle_and_claim`): the outcomes of the rows that finished since the last
turn and the claims of the next few rows; `claim` and `mark_sent` do the same one row at a time.
These functions never commit: the sender (bot.delivery, its own unit-of-work owner) commits
each of them before it makes, or after it records, an API call.
Rows of one chat go out in id order: only a chat's lowest active row (pending or sending) is
ever handed to the sender.

After a crash, rows still `sending` are the only ambiguity (the call may or may not have reached
Telegram, which has no idempotency key). `recover_interrupted` re-queues them flagged
`duplicate_risk` (policy "resend": nothing is lost, a person may get that one notice twice) or
fails them (policy "drop": nothing twice, that notice may be lost). At most one row per
concurrent send slot can be in that state: claimed and not yet answered, or answered and not
yet recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models.org import Unit
from bot.db.models.outbox import (
    ACTIVE_STATES,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OutboxMessage,
)
from bot.db.models.users import ChatUser, RoleGrant
from bot.db.upsert import insert_ignore
from bot.i18n import Catalogs
from bot.i18n.catalogs import DEFAULT_LOCALE, pick_locale
from bot.rendering import render
from bot.services.verification.lookups import ROLE_LABELS
from bot.util.split import TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT, split_html

log = logging.getLogger(__name__)

RESEND = "resend"
DROP = "drop"


async def enqueue(
    session: AsyncSession,
    *,
    now: datetime,
    chat_id: int,
    kind: str,
    text: str | None = None,
    method: str = "sendMessage",
    payload: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    reply_markup: dict[str, Any] | None = None,
    respect_quiet_hours: bool = True,
    not_before: datetime | None = None,
) -> bool:
    """Queue one message; with `dedup_key`, queueing the same key again adds nothing.

    A text over Telegram's 4,096 characters becomes several rows (in order, the keyboard on the
    last part). Returns True when rows were added. The caller's commit makes them durable
    together with the business change that caused them.
    """
    body: dict[str, Any] = dict(payload or {})
    if text is not None:
        body.setdefault("text", text)
        body.setdefault("parse_mode", "HTML")
    if reply_markup is not None:
        body["reply_markup"] = reply_markup
    bodies = _split_body(method, body)
    base = {
        "chat_id": chat_id,
        "kind": kind,
        "method": method,
        "state": OUTBOX_PENDING,
        "is_group": chat_id < 0,
        "respect_quiet_hours": respect_quiet_hours,
        "not_before": not_before or now,
        "attempts": 0,
        "created_at": now,
        "parts": len(bodies),
    }
    rows = [
        {**base, "payload": part, "part": n,
         "dedup_key": None if dedup_key is None else (dedup_key if n == 1 else f"{dedup_key}#{n}")}
        for n, part in enumerate(bodies, start=1)
    ]
    if dedup_key is None:
        session.add_all([OutboxMessage(**row) for row in rows])
        return True
    # The first part decides: if its key is already queued, the whole message is.
    if await insert_ignore(session, OutboxMessage, rows[:1], ["dedup_key"]) == 0:
        return False
    if len(rows) > 1:
        await insert_ignore(session, OutboxMessage, rows[1:], ["dedup_key"])
    return True


def _split_body(method: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """One payload per part: long texts split; a long caption moves to a follow-up text."""
    key, limit = ("text", TELEGRAM_TEXT_LIMIT) if method == "sendMessage" else (
        "caption", TELEGRAM_CAPTION_LIMIT)
    content = body.get(key)
    if not isinstance(content, str) or body.get("parse_mode", "HTML") != "HTML":
        return [body]
    chunks = split_html(content, limit)
    if len(chunks) <= 1:
        return [body]
    markup = body.pop("reply_markup", None)
    out = [{**body, key: chunk} for chunk in chunks]
    if method != "sendMessage":  # the rest of a long caption follows as text messages
        rest = split_html("\n".join(chunks[1:]), TELEGRAM_TEXT_LIMIT)
        out = [out[0]] + [{"text": c, "parse_mode": "HTML"} for c in rest]
    if markup is not None:
        out[-1]["reply_markup"] = markup
    return out


# ----------------------------------------------------------------------------- the sender side
async def defer_quiet(session: AsyncSession, *, now: datetime, until: datetime) -> int:
    """Postpone every due row that respects quiet hours to `until` (their end); no commit."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == OUTBOX_PENDING, OutboxMessage.respect_quiet_hours.is_(True),
               OutboxMessage.not_before <= now)
        .values(not_before=until)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


async def due_heads(
    session: AsyncSession, *, now: datetime, limit: int, exclude_chats: set[int] | None = None
) -> list[OutboxMessage]:
    """The next rows that may be sent: each chat's first active row, if pending and due."""
    earlier = aliased(OutboxMessage)
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.state == OUTBOX_PENDING,
            OutboxMessage.not_before <= now,
            ~exists().where(and_(earlier.chat_id == OutboxMessage.chat_id,
                                 earlier.state.in_(ACTIVE_STATES),
                                 earlier.id < OutboxMessage.id)),
        )
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    if exclude_chats:
        stmt = stmt.where(OutboxMessage.chat_id.not_in(sorted(exclude_chats)))
    return list((await session.scalars(stmt)).all())


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending row becomes due (None when nothing is pending)."""
    value = await session.scalar(
        select(func.min(OutboxMessage.not_before)).where(OutboxMessage.state == OUTBOX_PENDING))
    return value


async def claim(session: AsyncSession, *, row_id: int, holder: str, now: datetime) -> bool:
    """Mark a pending row `sending` (the caller commits before the API call); False if taken."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.state == OUTBOX_PENDING)
        .values(state=OUTBOX_SENDING, claimed_by=holder, claimed_at=now,
                attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class Settled:
    """How one claimed row ended, waiting to be recorded with the sender's next transaction.

    `state` is `sent` (with `message_id`), `pending` (back to the queue at `at`, as a retry) or
    `failed`; `count_attempt` False gives back the attempt a 429 used.
    """

    row_id: int
    state: str
    at: datetime
    message_id: int | None = None
    error: str | None = None
    code: int | None = None
    count_attempt: bool = True


async def settle_and_claim(session: AsyncSession, *, settled: list[Settled], claim_ids: list[int],
                           holder: str, now: datetime) -> list[int]:
    """One transaction: record how finished rows ended, then claim the next rows (`sending`).

    The claimed rows are committed `sending` before any of their API calls; a row finished by
    an API call stays `sending` until this commit records it, so after a crash it is among the
    rows in doubt. Returns the ids claimed (rows no longer pending are skipped).
    """
    sent = [{"id": item.row_id, "state": OUTBOX_SENT, "claimed_by": None, "sent_at": item.at,
             "telegram_message_id": item.message_id, "last_error": None}
            for item in settled if item.state == OUTBOX_SENT]
    if sent:  # one executemany: UPDATE ... WHERE id = ? for each row
        await session.execute(update(OutboxMessage), sent)
    for item in settled:
        if item.state == OUTBOX_SENT:
            continue
        values: dict[str, Any] = {"state": item.state, "claimed_by": None}
        if item.error is not None:  # None: given back unsent, the last error stays
            values.update(last_error=item.error[:500], error_code=item.code)
        if item.state == OUTBOX_PENDING:
            values["not_before"] = item.at
            if not item.count_attempt:
                values["attempts"] = OutboxMessage.attempts - 1
        else:
            values["failed_at"] = item.at
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == item.row_id)
                              .values(**values).execution_options(synchronize_session=False))
    claimed: list[int] = []
    if claim_ids:
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(claim_ids), OutboxMessage.state == OUTBOX_PENDING)
            .values(state=OUTBOX_SENDING, claimed_by=holder, claimed_at=now,
                    attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        claimed = sorted(int(i) for i in result.scalars().all())
    await session.flush()
    return claimed


async def mark_sent(session: AsyncSession, *, row_id: int, now: datetime,
                    message_id: int | None) -> None:
    """Mark `sent` right after Telegram accepted the message (the caller commits)."""
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id)
        .values(state=OUTBOX_SENT, sent_at=now, telegram_message_id=message_id, last_error=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()


async def mark_retry(session: AsyncSession, *, row_id: int, not_before: datetime, error: str,
                     code: int | None, count_attempt: bool = True) -> None:
    """Put a row back in the queue to try again at `not_before` (a 429 does not count)."""
    values: dict[str, Any] = {"state": OUTBOX_PENDING, "not_before": not_before,
                              "last_error": error[:500], "error_code": code, "claimed_by": None}
    if not count_attempt:
        values["attempts"] = OutboxMessage.attempts - 1
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
                          .execution_options(synchronize_session=False))
    await session.flush()


async def mark_failed(session: AsyncSession, *, row_id: int, now: datetime, error: str,
                      code: int | None) -> None:
    """Give up on a row (bounded attempts used, or Telegram refused it for good)."""
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id)
        .values(state=OUTBOX_FAILED, failed_at=now, last_error=error[:500], error_code=code,
                claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()


async def mark_unreachable(
    session: AsyncSession, *, row_id: int, chat_id: int, now: datetime, error: str, code: int,
    tz: Any = None,
) -> int:
    """The chat blocked the bot or is gone: fail its queued rows, flag the user, tell the office.

    The office heads of every unit where the user holds a grant (or of the nearest unit above
    with one) are told once per user and day, through the outbox. Returns notices queued.
    """
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == chat_id, OutboxMessage.state.in_(ACTIVE_STATES),
               (OutboxMessage.id == row_id) | (OutboxMessage.state == OUTBOX_PENDING))
        .values(state=OUTBOX_FAILED, failed_at=now, last_error=error[:500], error_code=code,
                claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    queued = 0
    user = await session.get(ChatUser, chat_id)
    if user is not None:
        user.unreachable = True
        queued = await _tell_office_unreachable(session, user=user, now=now, tz=tz)
    await session.flush()
    return queued


async def _tell_office_unreachable(session: AsyncSession, *, user: ChatUser, now: datetime,
                                   tz: Any) -> int:
    grants = (await session.execute(
        select(RoleGrant.role, RoleGrant.unit_code).where(RoleGrant.user_id == user.id)
    )).all()
    heads: dict[int, set[str]] = {}
    for role, unit_code in grants:
        for head in await office_heads_for(session, unit_code):
            if head != user.id:
                heads.setdefault(head, set()).add(role)
    if not heads:
        return 0
    day = (now.astimezone(tz) if tz else now).date().isoformat()
    locales = await recipients_locales(session, list(heads))
    queued = 0
    for head, roles in sorted(heads.items()):
        text = render_notice("notices/unreachable.html.j2", locales[head],
                             name=user.first_name or str(user.id), user_id=user.id,
                             username=user.username,
                             roles=[ROLE_LABELS.get(r, r) for r in sorted(roles)])
        if await enqueue(session, now=now, chat_id=head, kind="unreachable", text=text,
                         dedup_key=f"unreachable:{user.id}:{head}:{day}"):
            queued += 1
    return queued


async def office_heads_for(session: AsyncSession, unit_code: str) -> list[int]:
    """Office heads of the unit, or of the nearest unit above that has any."""
    code: str | None = unit_code
    while code is not None:
        heads = (await session.scalars(
            select(RoleGrant.user_id).where(RoleGrant.role == "office_head",
                                            RoleGrant.unit_code == code).distinct()
        )).all()
        if heads:
            return sorted(heads)
        code = await session.scalar(select(Unit.parent_code).where(Unit.code == code))
    return []


async def recover_interrupted(session: AsyncSession, *, holder: str, now: datetime,
                              policy: str = RESEND) -> list[int]:
    """Rows left `sending` by a dead sender: re-queue (flagged) or fail them; returns their ids."""
    ids = list((await session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.state == OUTBOX_SENDING,
                                       (OutboxMessage.claimed_by != holder)
                                       | OutboxMessage.claimed_by.is_(None))
    )).all())
    if ids:
        values: dict[str, Any] = {"duplicate_risk": True, "claimed_by": None,
                                  "last_error": "interrupted while sending"}
        if policy == DROP:
            values.update(state=OUTBOX_FAILED, failed_at=now)
        else:
            values.update(state=OUTBOX_PENDING)
        await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                              .values(**values).execution_options(synchronize_session=False))
        log.warning("outbox: %d row(s) were interrupted while sending; policy %s", len(ids),
                    policy)
    await session.flush()
    return ids


async def recipients_locales(session: AsyncSession, user_ids: list[int]) -> dict[int, str]:
    """Each user's language (their /lang choice, else their Telegram's, else zh_CN)."""
    rows = (await session.execute(
        select(ChatUser.id, ChatUser.language, ChatUser.telegram_language)
        .where(ChatUser.id.in_(user_ids))
    )).all()
    known = {int(i): pick_locale(lang, tg) for i, lang, tg in rows}
    return {uid: known.get(uid, DEFAULT_LOCALE) for uid in user_ids}


_CATALOGS: Catalogs | None = None


def render_notice(template: str, locale: str, /, **context: Any) -> str:
    """Render a notice template in the recipient's language."""
    global _CATALOGS
    if _CATALOGS is None:
        _CATALOGS = Catalogs()
    return render(template, _CATALOGS.get(locale), **context)


async def notify(session: AsyncSession, *, now: datetime, users: list[int], kind: str,
                 template: str, key: str, buttons: Sequence[tuple[str, str]] = (),
                 **context: Any) -> int:
    """Render `template` per recipient's language and enqueue once per key and recipient.

    `buttons` are (msgid, callback data) pairs: one row of inline buttons, translated too.
    """
    if not users:
        return 0
    locales = await recipients_locales(session, users)
    added = 0
    for uid in sorted(set(users)):
        text = render_notice(template, locales[uid], **context)
        markup = None
        if buttons:
            global _CATALOGS
            if _CATALOGS is None:
                _CATALOGS = Catalogs()
            t = _CATALOGS.get(locales[uid])
            markup = {"inline_keyboard": [[{"text": t(label), "callback_data": data}
                                           for label, data in buttons]]}
        if await enqueue(session, now=now, chat_id=uid, kind=kind, text=text,
                         dedup_key=f"{key}:{uid}", reply_markup=markup):
            added += 1
    return added


@dataclass(frozen=True)
class OutboxStats:
    """What /outbox shows: queue, recent rate, failures, unreachable recipients."""

    pending: int
    due: int
    deferred: int
    sending: int
    sent_last: dict[int, int]  # minutes -> messages sent in that many last minutes
    failed_24h: int
    failed_by_reason: list[tuple[str, int]]
    unreachable: list[tuple[int, str]]
    oldest_pending: datetime | None


async def stats(session: AsyncSession, *, now: datetime, windows: tuple[int, ...] = (1, 5, 15),
                unit_paths: list[str] | None = None) -> OutboxStats:
    """Queue figures; unreachable users limited to those with grants under `unit_paths`."""
    def count(*conds: Any) -> Any:
        return select(func.count(OutboxMessage.id)).where(*conds)

    pending = await session.scalar(count(OutboxMessage.state == OUTBOX_PENDING)) or 0
    due = await session.scalar(count(OutboxMessage.state == OUTBOX_PENDING,
                                     OutboxMessage.not_before <= now)) or 0
    sending = await session.scalar(count(OutboxMessage.state == OUTBOX_SENDING)) or 0
    sent_last = {
        m: int(await session.scalar(count(OutboxMessage.state == OUTBOX_SENT,
                                          OutboxMessage.sent_at > now - timedelta(minutes=m)))
               or 0)
        for m in windows
    }
    since = now - timedelta(hours=24)
    failed = await session.scalar(count(OutboxMessage.state == OUTBOX_FAILED,
                                        OutboxMessage.failed_at > since)) or 0
    reasons = (await session.execute(
        select(OutboxMessage.error_code, func.count(OutboxMessage.id))
        .where(OutboxMessage.state == OUTBOX_FAILED, OutboxMessage.failed_at > since)
        .group_by(OutboxMessage.error_code).order_by(func.count(OutboxMessage.id).desc())
    )).all()
    oldest = await session.scalar(select(func.min(OutboxMessage.created_at))
                                  .where(OutboxMessage.state == OUTBOX_PENDING))
    stmt = select(ChatUser.id, ChatUser.first_name).where(ChatUser.unreachable.is_(True))
    if unit_paths is not None:
        scope = select(RoleGrant.user_id).join(Unit, Unit.code == RoleGrant.unit_code).where(
            or_(false(), *[Unit.path.startswith(p) for p in unit_paths]))
        stmt = stmt.where(ChatUser.id.in_(scope))
    unreachable = [(int(i), str(n)) for i, n in (await session.execute(
        stmt.order_by(ChatUser.id).limit(50))).all()]
    return OutboxStats(
        pending=int(pending), due=int(due), deferred=int(pending) - int(due), sending=int(sending),
        sent_last=sent_last, failed_24h=int(failed),
        failed_by_reason=[(str(code) if code is not None else "?", int(n)) for code, n in reasons],
        unreachable=unreachable, oldest_pending=oldest,
    )
