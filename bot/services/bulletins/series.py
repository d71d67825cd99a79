"""Numbered situation bulletins: generation, approval, publication.

When the number is assigned: at publication, in the transaction that publishes. The series
row's counter is incremented with `UPDATE bulletin_series SET next_number = next_number + 1
... RETURNING` (PostgreSQL row lock; SQLite's write lock), UNIQUE(series_id, number) backs it,
and the outbox rows that deliver the bulletin are written in the same transaction. Drafts carry
no number, so a discarded draft leaves no gap; a crash before the commit rolls back the counter
with everything else, so there is never a number without a published bulletin, nor a
published bulletin without its deliveries.

One bulletin per series and period: UNIQUE(series_id, period_start, revision), inserted with
ON CONFLICT DO NOTHING, so a rerun (or two generators racing) returns the existing one.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import BulletinAction
from bot.db.models.bulletins import DISCARDED, DRAFT, PUBLISHED, Bulletin, BulletinSeries
from bot.db.models.org import Unit
from bot.db.models.users import ChatUser, RoleGrant
from bot.db.upsert import insert_ignore
from bot.i18n import Catalogs, Translator, pick_locale
from bot.services.access.principal import Principal
from bot.services.bulletins.config import (
    NOTE_MAX,
    SeriesConfig,
    may_approve,
    period_for,
    root_path,
    series_config,
)
from bot.services.bulletins.content import BulletinData
from bot.services.bulletins.document import (
    Issue,
    document_filename,
    render_document,
    render_messages,
)
from bot.services.shared import audit, outbox
from bot.services.shared.errors import DomainError

log = logging.getLogger(__name__)


@dataclass
class Rendition:
    """A bulletin rendered in one language: message parts, chart and document."""

    messages: list[str]
    chart_png: bytes
    document_html: str
    document_name: str
    chart_name: str


def issue_of(b: Bulletin, tz: ZoneInfo) -> Issue:
    """The bulletin's identity for rendering (number, date, note, correction)."""
    when = b.published_at or b.created_at
    return Issue(number=b.number if b.state == PUBLISHED else None,
                 issued_on=when.astimezone(tz).date(), note=b.note,
                 corrects_number=b.corrects_number, correction_reason=b.correction_reason)


def render_bulletin(b: Bulletin, t: Translator, tz: ZoneInfo) -> Rendition:
    """Render a bulletin (draft or published) for a reader of `t`'s language."""
    from bot.services.bulletins.chart import chart_png

    data = BulletinData.from_json(b.data)
    issue = issue_of(b, tz)
    chart = chart_png(data, t)
    number = issue.number
    return Rendition(
        messages=render_messages(data, issue, t),
        chart_png=chart,
        document_html=render_document(data, issue, t, chart=chart),
        document_name=document_filename(data, number, t.locale, "html"),
        chart_name=document_filename(data, number, t.locale, "png"),
    )


def _upload(name: str, mime: str, content: bytes) -> dict[str, Any]:
    return {"filename": name, "mime_type": mime,
            "data_b64": base64.b64encode(content).decode("ascii")}


async def _enqueue_rendition(session: AsyncSession, *, now: datetime, chat_id: int,
                             r: Rendition, key: str, caption: str,
                             reply_markup: dict[str, Any] | None = None,
                             respect_quiet_hours: bool = True) -> int:
    """Queue message parts, chart and document for one chat; buttons on the last part.

    Uploads travel in the outbox payload as {"filename", "mime_type", "data_b64"} under the
    Bot API parameter name (`photo`, `document`).
    """
    added = 0
    last = len(r.messages) - 1
    for i, text in enumerate(r.messages):
        added += await outbox.enqueue(
            session, now=now, chat_id=chat_id, kind="bulletin", text=text,
            dedup_key=f"{key}:{chat_id}:m{i}", respect_quiet_hours=respect_quiet_hours,
            reply_markup=reply_markup if (i == last and reply_markup) else None)
    added += await outbox.enqueue(
        session, now=now, chat_id=chat_id, kind="bulletin", method="sendPhoto",
        payload={"photo": _upload(r.chart_name, "image/png", r.chart_png),
                 "caption": caption[:1024]},
        dedup_key=f"{key}:{chat_id}:chart", respect_quiet_hours=respect_quiet_hours)
    added += await outbox.enqueue(
        session, now=now, chat_id=chat_id, kind="bulletin", method="sendDocument",
        payload={"document": _upload(r.document_name, "text/html",
                                     r.document_html.encode("utf-8")),
                 "caption": caption[:1024]},
        dedup_key=f"{key}:{chat_id}:doc", respect_quiet_hours=respect_quiet_hours)
    return added


def draft_keyboard(bulletin_id: int, t: Translator) -> dict[str, Any]:
    """Publish / Add note / Discard buttons (callback data well under 64 bytes)."""
    return {"inline_keyboard": [[
        {"text": t("Publish"), "callback_data": BulletinAction("pub", bulletin_id).pack()},
        {"text": t("Add note"), "callback_data": BulletinAction("note", bulletin_id).pack()},
        {"text": t("Discard"), "callback_data": BulletinAction("del", bulletin_id).pack()},
    ]]}


async def _locale_of(session: AsyncSession, user_id: int) -> str:
    user = await session.get(ChatUser, user_id)
    return pick_locale(user.language, user.telegram_language) if user else pick_locale(None, None)


# ------------------------------------------------------------------------ recipients


async def approvers(session: AsyncSession, series: BulletinSeries) -> list[int]:
    """Chat ids that receive drafts: approver-role holders on the root, and configured ids."""
    cfg = series_config(series)
    rows = (await session.scalars(
        select(RoleGrant.user_id).where(RoleGrant.role.in_(cfg.approver_roles),
                                        RoleGrant.unit_code == series.root_code)
        .distinct())).all()
    return sorted(set(rows) | set(cfg.approver_user_ids))


async def leadership_chats(session: AsyncSession, series: BulletinSeries) -> dict[int, str]:
    """Chat id -> locale of everyone a published bulletin goes to.

    Leaders at or under the root, office heads of the root and of every unit under it, and the
    series' configured group chats.
    """
    path = await root_path(session, series)
    stmt = (select(RoleGrant.user_id).join(Unit, Unit.code == RoleGrant.unit_code)
            .where(RoleGrant.role.in_(("leader", "office_head")), Unit.path.startswith(path))
            .distinct())
    out: dict[int, str] = {}
    for uid in sorted((await session.scalars(stmt)).all()):
        out[uid] = await _locale_of(session, uid)
    for chat in series_config(series).chats:
        out[chat.chat_id] = chat.locale
    return out


# ------------------------------------------------------------------------ data collection

Collector = Callable[[AsyncSession, BulletinSeries, tuple[date, date], datetime],
                     Awaitable[BulletinData]]


async def collect(session: AsyncSession, series: BulletinSeries, period: tuple[date, date],
                  now: datetime) -> BulletinData:
    """Gather the facts of a period from the reports (see bulletin_collect)."""
    from bot.services.bulletins.collect import collect as real_collect

    return await real_collect(session, series, period, now)


# ------------------------------------------------------------------------ workflow


@dataclass
class Outcome:
    """What a workflow step did."""

    bulletin: Bulletin
    created: bool = False  # a new draft / a fresh publication
    queued: int = 0  # outbox rows added
    recipients: list[int] = field(default_factory=list)


async def _live(session: AsyncSession, series_id: str, start: date,
                revision: int = 0) -> Bulletin | None:
    return (await session.scalars(
        select(Bulletin).where(Bulletin.series_id == series_id, Bulletin.period_start == start,
                               Bulletin.revision == revision)
        .execution_options(populate_existing=True))).first()


async def get_series(session: AsyncSession, series_id: str) -> BulletinSeries:
    """The series row, or DomainError."""
    row = await session.get(BulletinSeries, series_id)
    if row is None:
        raise DomainError("There is no bulletin series %(series)s.", series=series_id)
    return row


async def generate(
    session: AsyncSession,
    series_id: str,
    *,
    now: datetime,
    actor: Principal | None = None,
    origin: str = "schedule",
    collector: Collector | None = None,
    period: tuple[date, date] | None = None,
) -> Outcome | None:
    """Generate the draft for the period `now` falls after; the caller commits.

    A rerun returns the existing bulletin of the period (a scheduled rerun also respects a
    discarded one). The draft goes to the approvers through the outbox in the same
    transaction; with `auto_publish` it is published at once. None when the series has not
    started yet.
    """
    series = await get_series(session, series_id)
    cfg = series_config(series)
    if actor is not None and not may_approve(actor, cfg, await root_path(session, series)):
        raise DomainError("Only the office head of the series' root unit can do this.")
    period = period or period_for(cfg, now)
    if period is None:
        return None
    existing = await _live(session, series_id, period[0])
    if existing is None and origin == "schedule":
        existing = (await session.scalars(select(Bulletin).where(
            Bulletin.series_id == series_id, Bulletin.period_start == period[0],
            Bulletin.origin == "schedule", Bulletin.corrects_number.is_(None)))).first()
    if existing is not None:
        await session.flush()
        return Outcome(existing)
    data = await (collector or collect)(session, series, period, now)
    return await _insert_draft(session, series, cfg, data, period, now=now, actor=actor,
                               origin=origin, revision=0)


async def _insert_draft(session: AsyncSession, series: BulletinSeries, cfg: SeriesConfig,
                        data: BulletinData, period: tuple[date, date], *, now: datetime,
                        actor: Principal | None, origin: str, revision: int,
                        corrects: int | None = None, reason: str | None = None) -> Outcome:
    inserted = await insert_ignore(session, Bulletin, [{
        "series_id": series.id, "period_start": period[0], "period_end": period[1],
        "revision": revision, "number": None, "state": DRAFT, "corrects_number": corrects,
        "correction_reason": reason, "data": data.to_json(), "note": None, "origin": origin,
        "created_at": now, "created_by": actor.user_id if actor else None,
    }], ["series_id", "period_start", "revision"])
    bulletin = await _live(session, series.id, period[0], revision)
    assert bulletin is not None
    if not inserted:  # someone else generated it at the same moment
        await session.flush()
        return Outcome(bulletin)
    audit.record(session, now=now, action="bulletin.generate",
                 actor_user_id=actor.user_id if actor else None, object_type="bulletin",
                 object_id=str(bulletin.id), unit_code=series.root_code, origin=origin,
                 period=period[0].isoformat(), corrects=corrects)
    if cfg.auto_publish:
        await session.flush()
        outcome = await _publish_locked(session, series, bulletin, now=now, actor=None)
        outcome.created = True
        await session.flush()
        return outcome
    queued, chats = await _send_draft(session, series, bulletin, now=now)
    await session.flush()
    return Outcome(bulletin, created=True, queued=queued, recipients=chats)


async def _send_draft(session: AsyncSession, series: BulletinSeries, bulletin: Bulletin, *,
                      now: datetime) -> tuple[int, list[int]]:
    catalogs = Catalogs()
    tz = series_config(series).tz
    queued = 0
    chats = await approvers(session, series)
    renditions: dict[str, Rendition] = {}
    for chat_id in chats:
        locale = await _locale_of(session, chat_id)
        t = catalogs.get(locale)
        if locale not in renditions:
            renditions[locale] = render_bulletin(bulletin, t, tz)
        caption = str(t("Draft for approval"))
        queued += await _enqueue_rendition(
            session, now=now, chat_id=chat_id, r=renditions[locale],
            key=f"bulletin-draft:{bulletin.id}", caption=caption,
            reply_markup=draft_keyboard(bulletin.id, t), respect_quiet_hours=False)
    return queued, chats


async def draft_for_action(session: AsyncSession, bulletin_id: int,
                           actor: Principal | None) -> tuple[BulletinSeries, Bulletin]:
    """The bulletin and its series, if `actor` may approve it (DomainError otherwise)."""
    bulletin = await session.get(Bulletin, bulletin_id, populate_existing=True)
    if bulletin is None:
        raise DomainError("There is no such bulletin.", gone=True)
    series = await get_series(session, bulletin.series_id)
    if actor is not None and not may_approve(actor, series_config(series),
                                             await root_path(session, series)):
        raise DomainError("Only the office head of the series' root unit can do this.")
    return series, bulletin


async def publish(session: AsyncSession, bulletin_id: int, *, now: datetime,
                  actor: Principal | None) -> Outcome:
    """Number and publish a draft, queueing it to every leadership chat; the caller commits.

    Publishing an already published bulletin returns it unchanged (created=False); a
    discarded one cannot be published.
    """
    series, bulletin = await draft_for_action(session, bulletin_id, actor)
    outcome = await _publish_locked(session, series, bulletin, now=now, actor=actor)
    await session.flush()
    return outcome


async def _publish_locked(session: AsyncSession, series: BulletinSeries, bulletin: Bulletin,
                          *, now: datetime, actor: Principal | None) -> Outcome:
    # 1. Claim the draft: the first write takes the row lock (PostgreSQL) / write lock
    #    (SQLite); a concurrent publisher waits, then finds it no longer a draft.
    claimed = await session.execute(
        update(Bulletin).where(Bulletin.id == bulletin.id, Bulletin.state == DRAFT)
        .values(published_at=now).execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        await session.refresh(bulletin)
        if bulletin.state == DISCARDED:
            raise DomainError("This draft was discarded; generate a new one with /bulletin new.")
        return Outcome(bulletin)
    # 2. The number: the series counter, incremented under its row lock.
    new_next = (await session.execute(
        update(BulletinSeries).where(BulletinSeries.id == series.id)
        .values(next_number=BulletinSeries.next_number + 1)
        .returning(BulletinSeries.next_number)
        .execution_options(synchronize_session=False))).scalar_one()
    number = int(new_next) - 1
    # 3. Publish.
    await session.execute(
        update(Bulletin).where(Bulletin.id == bulletin.id)
        .values(number=number, state=PUBLISHED, published_by=actor.user_id if actor else None)
        .execution_options(synchronize_session=False))
    await session.refresh(bulletin)
    await session.refresh(series)
    audit.record(session, now=now, action="bulletin.publish",
                 actor_user_id=actor.user_id if actor else None, object_type="bulletin",
                 object_id=str(bulletin.id), unit_code=series.root_code, number=number)
    # 4. Deliveries, in the same transaction.
    queued, chats = await _deliver(session, series, bulletin, now=now)
    return Outcome(bulletin, created=True, queued=queued, recipients=chats)


async def _deliver(session: AsyncSession, series: BulletinSeries, bulletin: Bulletin, *,
                   now: datetime) -> tuple[int, list[int]]:
    catalogs = Catalogs()
    tz = series_config(series).tz
    renditions: dict[str, Rendition] = {}
    queued = 0
    chats = await leadership_chats(session, series)
    for chat_id, locale in chats.items():
        t = catalogs.get(locale)
        if locale not in renditions:
            renditions[locale] = render_bulletin(bulletin, t, tz)
        caption = str(t("Bulletin No. %(number)s") % {"number": bulletin.number})
        queued += await _enqueue_rendition(session, now=now, chat_id=chat_id,
                                           r=renditions[locale], key=f"bulletin:{bulletin.id}",
                                           caption=caption)
    return queued, list(chats)


async def add_note(session: AsyncSession, bulletin_id: int, note: str, *, now: datetime,
                   actor: Principal | None) -> Bulletin:
    """Set the office head's "next steps" note on a draft; the caller commits."""
    series, bulletin = await draft_for_action(session, bulletin_id, actor)
    if bulletin.state != DRAFT:
        raise DomainError("Bulletin No. %(number)s is published and cannot be changed; "
                          "issue a correction with /bulletin correct %(number)s.",
                          number=bulletin.number or 0, gone=True)
    text = note.strip()
    if not text:
        raise DomainError("The note is empty: send the next steps as text.", retry=True)
    if len(text) > NOTE_MAX:
        raise DomainError("The note is %(length)s characters long; at most %(max)s are allowed.",
                          length=len(text), max=NOTE_MAX, retry=True)
    bulletin.note = text
    audit.record(session, now=now, action="bulletin.note",
                 actor_user_id=actor.user_id if actor else None, object_type="bulletin",
                 object_id=str(bulletin.id), unit_code=series.root_code)
    await session.flush()
    return bulletin


async def discard(session: AsyncSession, bulletin_id: int, *, now: datetime,
                  actor: Principal | None) -> Bulletin:
    """Discard a draft (it never had a number, so no gap); the caller commits."""
    series, bulletin = await draft_for_action(session, bulletin_id, actor)
    result = await session.execute(
        update(Bulletin).where(Bulletin.id == bulletin.id, Bulletin.state == DRAFT)
        .values(state=DISCARDED, revision=None, discarded_at=now,
                discarded_by=actor.user_id if actor else None)
        .execution_options(synchronize_session=False))
    await session.refresh(bulletin)
    if getattr(result, "rowcount", 0) != 1:
        state, number = bulletin.state, bulletin.number  # the UPDATE changed nothing
        if state == PUBLISHED:
            raise DomainError("Bulletin No. %(number)s is published and cannot be changed; "
                              "issue a correction with /bulletin correct %(number)s.",
                              number=number or 0, gone=True)
        return bulletin
    audit.record(session, now=now, action="bulletin.discard",
                 actor_user_id=actor.user_id if actor else None, object_type="bulletin",
                 object_id=str(bulletin.id), unit_code=series.root_code)
    await session.flush()
    return bulletin


async def correct(session: AsyncSession, series_id: str, number: int, *, now: datetime,
                  actor: Principal | None, reason: str | None = None,
                  collector: Collector | None = None) -> Outcome:
    """Draft a correction of published No. `number`: fresh data for the same period, saying
    what it corrects; it gets its own number when published. Commits."""
    series = await get_series(session, series_id)
    cfg = series_config(series)
    if actor is not None and not may_approve(actor, cfg, await root_path(session, series)):
        raise DomainError("Only the office head of the series' root unit can do this.")
    original = await by_number(session, series_id, number)
    if original is None:
        raise DomainError("There is no published bulletin No. %(number)s.", number=number)
    pending = (await session.scalars(select(Bulletin).where(
        Bulletin.series_id == series_id, Bulletin.corrects_number == number,
        Bulletin.state == DRAFT))).first()
    if pending is not None:
        await session.flush()
        return Outcome(pending)
    top = (await session.scalar(select(func.max(Bulletin.revision)).where(
        Bulletin.series_id == series_id, Bulletin.period_start == original.period_start))) or 0
    period = (original.period_start, original.period_end)
    data = await (collector or collect)(session, series, period, now)
    if same_figures(data.to_json(), original.data):  # nothing written yet
        raise DomainError("The figures of No. %(number)s have not changed since it was "
                          "published: a correction would be identical. Correct the reports "
                          "first, then send /bulletin correct %(number)s again.", number=number)
    return await _insert_draft(session, series, cfg, data, period, now=now, actor=actor,
                               origin="demand", revision=int(top) + 1, corrects=number,
                               reason=(reason or "").strip()[:500] or None)


def same_figures(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two bulletin data say the same (the generation time aside), compared as stored
    (JSON: tuples become lists)."""
    def stored(data: dict[str, Any]) -> Any:
        return json.loads(json.dumps({k: v for k, v in data.items() if k != "as_of"},
                                     sort_keys=True, default=str))
    return bool(stored(a) == stored(b))


async def by_number(session: AsyncSession, series_id: str, number: int) -> Bulletin | None:
    """The published bulletin with this number."""
    return (await session.scalars(select(Bulletin).where(
        Bulletin.series_id == series_id, Bulletin.number == number,
        Bulletin.state == PUBLISHED))).first()


async def recent(session: AsyncSession, series_id: str, limit: int = 10) -> list[Bulletin]:
    """The latest published bulletins, newest first."""
    return list((await session.scalars(select(Bulletin).where(
        Bulletin.series_id == series_id, Bulletin.state == PUBLISHED)
        .order_by(Bulletin.number.desc()).limit(limit))).all())


async def drafts(session: AsyncSession, series_id: str) -> list[Bulletin]:
    """Drafts waiting for approval, oldest first."""
    return list((await session.scalars(select(Bulletin).where(
        Bulletin.series_id == series_id, Bulletin.state == DRAFT)
        .order_by(Bulletin.id))).all())
