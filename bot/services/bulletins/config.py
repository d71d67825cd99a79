"""Bulletin series configuration (data/bulletin_series.yaml): cadences, periods, plan line,
who may read and approve, and syncing the file into the database."""


from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PROJECT_ROOT
from bot.db.models.bulletins import BulletinSeries
from bot.db.models.org import Unit
from bot.db.upsert import insert_ignore
from bot.services.access.principal import Principal
from bot.services.shared.errors import DomainError

log = logging.getLogger(__name__)

SERIES_FILE = PROJECT_ROOT / "data" / "bulletin_series.yaml"
NOTE_MAX = 2000
READ_ROLES = frozenset({"leader", "office_head", "admin"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY = ("weekly", "daily", "on_demand")


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
    """Create or update the series rows from the configuration (the counter is kept); commits.

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
    await session.commit()
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
