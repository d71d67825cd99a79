"""Numbered situation bulletins: series configuration, generation, approval, publication.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PROJECT_ROOT
from bot.db.models.bulletins import DISCARDED, DRAFT, PUBLISHED, Bulletin, BulletinSeries
from bot.db.models.org import Unit
from bot.db.models.users import ChatUser, RoleGrant
from bot.db.upsert import insert_ignore
from bot.i18n import Catalogs, Translator, pick_locale
from bot.services import audit, outbox
from bot.services.access import Principal
from bot.services.bulletin_content import BulletinData
from bot.services.bulletin_document import (
    Issue,
    document_filename,
    render_document,
    render_messages,
)
from bot.services.errors import DomainError

log = logging.getLogger(__name__)

SERIES_FILE = PROJECT_ROOT / "data" / "bulletin_series.yaml"
NOTE_MAX = 2000
READ_ROLES = frozenset({"leader", "office_head", "admin"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY = ("weekly", "daily", "on_demand")
CALLBACK_PREFIX = "bl"


# ------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class ChatTarget:
    """An extra leadership chat (usually a group) and the language it reads."""

    chat_id: int
    locale: str = "zh_CN"


@dataclass(frozen=True)
class SeriesConfig:
    """One series from data/bulletin_series.yaml."""

    id: str
    title_zh: str
    title_en: str
    root_code: str
    phase: str
    weekday: int = 0  # generated on this weekday (0 = Monday) ...
    at: time = time(9, 0)  # ... at this local time, for the week before
    every: str = "weekly"  # weekly | daily | on_demand (see period_for)
    days: tuple[int, ...] = ()  # generation weekdays of a weekly series (e.g. mon, thu)
    timezone: str = "Asia/Shanghai"
    start: date | None = None  # first day of the first period
    plan_start: date | None = None  # the plan line rises linearly from 0% here ...
    plan_end: date | None = None  # ... to 100% here
    approver_roles: tuple[str, ...] = ("office_head",)
    approver_user_ids: tuple[int, ...] = ()
    auto_publish: bool = False
    chats: tuple[ChatTarget, ...] = ()
    praise_count: int = 3
    lag_margin: float = 0.10
    repeat_window: int = 4  # periods looked at for repeat offenders (this one included)
    repeat_threshold: int = 2
    table_in_message_max: int = 30

    @property
    def tz(self) -> ZoneInfo:
        """The zone of the schedule."""
        return ZoneInfo(self.timezone)


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def parse_series(raw: dict[str, Any]) -> SeriesConfig:
    """Validate one series entry; DomainError names the field at fault."""
    sid = str(raw.get("id") or "").strip()
    for key in ("id", "root", "phase"):
        if not raw.get(key):
            raise DomainError("Bulletin series %(series)s: %(field)s is required.",
                              series=sid or "?", field=key)
    title = raw.get("title") or {}
    cadence = raw.get("cadence") or {}
    every = str(cadence.get("every", "weekly")).replace("-", "_")
    if every not in EVERY:
        raise DomainError("Bulletin series %(series)s: cadence.every must be one of "
                          "%(allowed)s.", series=sid, allowed=", ".join(EVERY))
    names = cadence.get("days") or [cadence.get("day", "mon")]
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    picked = [str(d).lower()[:3] for d in names]
    if not picked or any(d not in WEEKDAYS for d in picked):
        raise DomainError("Bulletin series %(series)s: %(field)s is required.",
                          series=sid, field="cadence.day")
    days = tuple(sorted({WEEKDAYS.index(d) for d in picked}))
    if every == "daily":
        days = tuple(range(7))
    day = WEEKDAYS[days[0]]
    hh, mm = str(cadence.get("at", "09:00")).split(":")
    plan = raw.get("plan") or {}
    approvers = raw.get("approvers") or {}
    chats = tuple(ChatTarget(int(c["id"]), str(c.get("locale", "zh_CN")))
                  for c in (raw.get("chats") or []))
    return SeriesConfig(
        id=sid, title_zh=str(title.get("zh") or sid), title_en=str(title.get("en") or sid),
        root_code=str(raw["root"]), phase=str(raw["phase"]), weekday=WEEKDAYS.index(day),
        every=every, days=days, at=time(int(hh), int(mm)),
        timezone=str(cadence.get("timezone", "Asia/Shanghai")),
        start=_date(raw.get("start")), plan_start=_date(plan.get("start")),
        plan_end=_date(plan.get("end")),
        approver_roles=tuple(approvers.get("roles") or ("office_head",)),
        approver_user_ids=tuple(int(u) for u in approvers.get("user_ids") or ()),
        auto_publish=bool(raw.get("auto_publish", False)), chats=chats,
        praise_count=int(raw.get("praise_count", 3)),
        lag_margin=float(raw.get("lag_margin", 0.10)),
        repeat_window=int(raw.get("repeat_window", 4)),
        repeat_threshold=int(raw.get("repeat_threshold", 2)),
        table_in_message_max=int(raw.get("table_in_message_max", 30)),
    )


def load_series_config(path: Path | None = None) -> list[SeriesConfig]:
    """Every series of the configuration file."""
    path = path or SERIES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DomainError("Cannot read the bulletin series file: %(reason)s",
                          reason=str(exc)) from exc
    return [parse_series(s) for s in data.get("series") or []]


def _config_json(cfg: SeriesConfig) -> dict[str, Any]:
    return {
        "weekday": cfg.weekday, "at": cfg.at.strftime("%H:%M"), "timezone": cfg.timezone,
        "every": cfg.every, "days": list(cfg.days),
        "start": cfg.start.isoformat() if cfg.start else None,
        "plan_start": cfg.plan_start.isoformat() if cfg.plan_start else None,
        "plan_end": cfg.plan_end.isoformat() if cfg.plan_end else None,
        "approver_roles": list(cfg.approver_roles),
        "approver_user_ids": list(cfg.approver_user_ids), "auto_publish": cfg.auto_publish,
        "chats": [{"chat_id": c.chat_id, "locale": c.locale} for c in cfg.chats],
        "praise_count": cfg.praise_count, "lag_margin": cfg.lag_margin,
        "repeat_window": cfg.repeat_window, "repeat_threshold": cfg.repeat_threshold,
        "table_in_message_max": cfg.table_in_message_max,
    }


def series_config(row: BulletinSeries) -> SeriesConfig:
    """The configuration stored on a series row."""
    c = row.config
    return SeriesConfig(
        id=row.id, title_zh=row.title_zh, title_en=row.title_en, root_code=row.root_code,
        phase=row.phase, weekday=int(c.get("weekday", 0)), every=str(c.get("every", "weekly")),
        days=tuple(int(d) for d in c.get("days") or (int(c.get("weekday", 0)),)),
        at=time.fromisoformat(c.get("at", "09:00")), timezone=c.get("timezone", "Asia/Shanghai"),
        start=_date(c.get("start")), plan_start=_date(c.get("plan_start")),
        plan_end=_date(c.get("plan_end")),
        approver_roles=tuple(c.get("approver_roles") or ("office_head",)),
        approver_user_ids=tuple(c.get("approver_user_ids") or ()),
        auto_publish=bool(c.get("auto_publish", False)),
        chats=tuple(ChatTarget(int(x["chat_id"]), x.get("locale", "zh_CN"))
                    for x in c.get("chats") or []),
        praise_count=int(c.get("praise_count", 3)), lag_margin=float(c.get("lag_margin", 0.1)),
        repeat_window=int(c.get("repeat_window", 4)),
        repeat_threshold=int(c.get("repeat_threshold", 2)),
        table_in_message_max=int(c.get("table_in_message_max", 30)),
    )


async def sync_series(session: AsyncSession, configs: Sequence[SeriesConfig], *,
                      now: datetime) -> list[BulletinSeries]:
    """Create or update the series rows from the configuration (the counter is kept; no commit).

    Series whose root unit is not loaded are skipped (logged).
    """
    out = []
    for cfg in configs:
        if await session.get(Unit, cfg.root_code) is None:
            log.warning("bulletin series %s: root unit %s is not loaded", cfg.id, cfg.root_code)
            continue
        row = await session.get(BulletinSeries, cfg.id)
        if row is None:
            await insert_ignore(session, BulletinSeries, [{
                "id": cfg.id, "title_zh": cfg.title_zh, "title_en": cfg.title_en,
                "root_code": cfg.root_code, "phase": cfg.phase, "next_number": 1,
                "config": _config_json(cfg), "updated_at": now}], ["id"])
            row = await session.get(BulletinSeries, cfg.id)
        else:
            row.title_zh, row.title_en = cfg.title_zh, cfg.title_en
            row.root_code, row.phase = cfg.root_code, cfg.phase
            row.config, row.updated_at = _config_json(cfg), now
        assert row is not None
        out.append(row)
    await session.flush()
    return out


# ------------------------------------------------------------------------ periods


def period_for(cfg: SeriesConfig, now: datetime) -> tuple[date, date] | None:
    """The period a bulletin generated at `now` covers; None before the series starts.

    Weekly on one day: the last complete week (Mon-Sun) before the most recent generation time
    (Monday 09:00 by default). Several generation days (twice weekly: mon, thu) or daily: from
    the previous generation day up to the day before the latest one, so that the periods follow
    each other without gaps or overlaps. On demand: today so far.
    """
    local = now.astimezone(cfg.tz)
    if cfg.every == "on_demand":
        start = end = local.date()
    elif cfg.every == "weekly" and len(cfg.days) <= 1:
        days_back = (local.weekday() - cfg.weekday) % 7
        gen_day = local.date() - timedelta(days=days_back)
        if days_back == 0 and local.time() < cfg.at:
            gen_day -= timedelta(days=7)
        # the week before the generation day: Monday..Sunday ending before gen_day
        end = gen_day - timedelta(days=1)
        while end.weekday() != 6:
            end -= timedelta(days=1)
        start = end - timedelta(days=6)
    else:
        days = set(cfg.days or (cfg.weekday,))
        gen_day = local.date()
        if local.time() < cfg.at:
            gen_day -= timedelta(days=1)
        while gen_day.weekday() not in days:
            gen_day -= timedelta(days=1)
        start = gen_day - timedelta(days=1)
        while start.weekday() not in days:
            start -= timedelta(days=1)
        end = gen_day - timedelta(days=1)
    if cfg.start is not None and end < cfg.start:
        return None
    if cfg.start is not None and start < cfg.start:
        start = cfg.start
    return start, end


def plan_rate(cfg: SeriesConfig, day: date) -> float | None:
    """The planned completion (0..1) at the end of `day`: linear from plan start to plan end."""
    if cfg.plan_start is None or cfg.plan_end is None or cfg.plan_end <= cfg.plan_start:
        return None
    total = (cfg.plan_end - cfg.plan_start).days + 1
    done = (day - cfg.plan_start).days + 1
    return max(0.0, min(1.0, done / total))


# ------------------------------------------------------------------------ access


async def root_path(session: AsyncSession, series: BulletinSeries) -> str:
    """The materialised path of the series' root unit."""
    unit = await session.get(Unit, series.root_code)
    return unit.path if unit is not None else f"/{series.root_code}/"


def may_approve(principal: Principal | None, cfg: SeriesConfig, path: str) -> bool:
    """Whether this user may generate, annotate, publish or discard the series' bulletins."""
    if principal is None:
        return False
    return (principal.user_id in cfg.approver_user_ids
            or principal.covers(set(cfg.approver_roles) | {"admin"}, path))


def may_read(principal: Principal | None, cfg: SeriesConfig, path: str) -> bool:
    """Leaders and office heads at, above or below the series' root may read its bulletins."""
    if principal is None:
        return False
    if may_approve(principal, cfg, path):
        return True
    return any(g.role in READ_ROLES and (path.startswith(g.unit_path)
                                         or g.unit_path.startswith(path))
               for g in principal.grants)


async def series_for(session: AsyncSession, principal: Principal | None,
                     *, approve: bool = False) -> list[BulletinSeries]:
    """The series this user may read (or approve), in id order."""
    out = []
    for row in (await session.scalars(select(BulletinSeries).order_by(BulletinSeries.id))).all():
        cfg, path = series_config(row), await root_path(session, row)
        if (may_approve if approve else may_read)(principal, cfg, path):
            out.append(row)
    return out


# ------------------------------------------------------------------------ rendering


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
    from bot.services.bulletin_chart import chart_png

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
    p = CALLBACK_PREFIX
    return {"inline_keyboard": [[
        {"text": t("Publish"), "callback_data": f"{p}:pub:{bulletin_id}"},
        {"text": t("Add note"), "callback_data": f"{p}:note:{bulletin_id}"},
        {"text": t("Discard"), "callback_data": f"{p}:del:{bulletin_id}"},
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
    from bot.services.bulletin_collect import collect as real_collect

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
        raise DomainError("There is no such bulletin.")
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
                          number=bulletin.number or 0)
    text = note.strip()
    if not text:
        raise DomainError("The note is empty: send the next steps as text.")
    if len(text) > NOTE_MAX:
        raise DomainError("The note is %(length)s characters long; at most %(max)s are allowed.",
                          length=len(text), max=NOTE_MAX)
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
                              number=number or 0)
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


def demo_series(cfg: SeriesConfig, now: datetime, plan_days: int = 60,
                elapsed: int = 28) -> SeriesConfig:
    """A series moved to the demo's clock: it started, and its plan line began, `elapsed`
    days before `now` and ends `plan_days` later (as the SYNTHETIC demo reports assume)."""
    from dataclasses import replace

    begin = now.astimezone(cfg.tz).date() - timedelta(days=elapsed)
    return replace(cfg, start=begin, plan_start=begin,
                   plan_end=begin + timedelta(days=plan_days - 1))


async def publish_demo_bulletin(session: AsyncSession, now: datetime,
                                series_id: str = "zz-survey-weekly") -> Bulletin | None:
    """For the demo: sync the series file, generate the period's bulletin from the reports in
    the database (the synthetic Zhengzhou data) and publish it. Returns it (None when the
    series' root unit is not loaded or the series has not started)."""
    rows = await sync_series(session, [demo_series(c, now) for c in load_series_config()],
                             now=now)
    if not any(r.id == series_id for r in rows):
        return None
    outcome = await generate(session, series_id, now=now, origin="schedule")
    if outcome is None:
        return None
    if outcome.bulletin.state == DRAFT:
        outcome = await publish(session, outcome.bulletin.id, now=now, actor=None)
    return outcome.bulletin
