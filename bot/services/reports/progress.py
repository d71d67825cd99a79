"""Progress of reporting units: status of the period, latest values, rates against targets.

The stable API for /status, /export, bulletins and escalations:
`progress_snapshot`, `reporting_status`, `period_for`, `due_units`, `rollup`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.services.access.principal import LEADERSHIP_ROLES, Principal
from bot.services.reports.cadence import (
    Assignment,
    Cadence,
    Period,
    assignments,
    load_config,
    period_containing,
    period_for,
)
from bot.services.reports.submission import targets_for_units
from bot.services.reports.templates import PHASES, fmt, get_template, templates
from bot.services.reports.xlsx import ExportSheet
from bot.services.shared.errors import DomainError

__all__ = [
    "Cadence", "Period", "Rollup", "UnitProgress", "due_units", "export_sheets", "period_for",
    "progress_snapshot", "reporting_status", "rollup", "scope", "status_board",
]

STATUSES = ("submitted", "late", "missing", "not_due")


@dataclass(frozen=True)
class UnitProgress:
    """Where one reporting unit stands in one period of one phase."""

    unit_code: str
    name: str
    name_en: str | None
    phase: str  # "survey" | "listing" | "accounting"
    period_start: date
    period_end: date
    deadline: datetime  # aware
    status: str  # "submitted" | "late" (after the deadline) | "missing" | "not_due"
    submitted_at: datetime | None  # first submission in the period
    values: dict[str, float]  # field key -> latest value (cumulative fields cumulative)
    targets: dict[str, float]  # target key -> target
    completion_rate: float | None  # 0..100: sum of counted fields / sum of their targets
    previous_rate: float | None  # at the previous period, for "change since"
    version: int = 0  # versions submitted in this period (0 = none)
    text: dict[str, str] = field(default_factory=dict)  # free-text fields of this period
    new_found: dict[str, float] = field(default_factory=dict)  # 新增 per target key (latest)

    @property
    def new_found_total(self) -> float:
        """All newly found objects (新增) of the unit, every source type together."""
        return sum(self.new_found.values())

    def display_name(self, locale: str) -> str:
        """The unit's name in the reader's language."""
        return self.name_en if locale.startswith("en") and self.name_en else self.name


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


async def _reports(session: AsyncSession, codes: Sequence[str], phase: str,
                   until: date, accepted_only: bool = False) -> dict[str, list[Report]]:
    """Every report version of these units for periods starting on or before `until` (only
    versions accepted in review, with `accepted_only`)."""
    out: dict[str, list[Report]] = {c: [] for c in codes}
    for i in range(0, len(codes), 500):
        stmt = (select(Report).where(Report.phase == phase,
                                     Report.unit_code.in_(list(codes[i:i + 500])),
                                     Report.period_start <= until)
                .order_by(Report.unit_code, Report.period_start, Report.version))
        if accepted_only:
            from bot.services.supervision.review import accepted_ids

            stmt = stmt.where(Report.id.in_(accepted_ids()))
        for r in await session.scalars(stmt):
            out[r.unit_code].append(r)
    return out


def _progress(a: Assignment, period: Period, now: datetime, history: list[Report],
              targets: dict[str, float]) -> UnitProgress:
    template = get_template(a.phase)
    this = [r for r in history if r.period_start == period.start]
    earlier = [r for r in history if r.period_start < period.start]
    values: dict[str, float] = {}
    text: dict[str, str] = {}
    latest = (this or earlier)[-1] if (this or earlier) else None
    new_found = _numbers(latest.new_found or {}) if latest is not None else {}
    if earlier:  # cumulative figures carry over from the last report
        last = earlier[-1].values
        values = {f.key: float(last[f.key]) for f in template.fields
                  if f.monotonic and isinstance(last.get(f.key), int | float)}
    if this:
        values = _numbers(this[-1].values)
        text = {k: v for k, v in this[-1].values.items() if isinstance(v, str) and v}
        first = this[0].submitted_at
        status = "late" if first > period.deadline else "submitted"
    else:
        first = None
        status = "not_due" if now <= period.deadline else "missing"
    previous_rate = (template.completion_rate(earlier[-1].values, targets) if earlier else None)
    return UnitProgress(
        unit_code=a.unit.code, name=a.unit.name, name_en=a.unit.name_en, phase=a.phase,
        period_start=period.start, period_end=period.end, deadline=period.deadline,
        status=status, submitted_at=first, values=values, targets=dict(targets),
        completion_rate=template.completion_rate(values, targets),
        previous_rate=previous_rate, version=len(this), text=text, new_found=new_found,
    )


async def progress_snapshot(session: AsyncSession, *, root_code: str, phase: str,
                            now: datetime, period_end: date | None = None,
                            accepted_only: bool = False) -> list[UnitProgress]:
    """Every reporting unit under `root_code` (itself included) for `phase`, in path order.

    The period is the one `now` falls in, or the one containing `period_end` when given
    (for a bulletin about an earlier period); status is judged at `now`. With
    `accepted_only`, only report versions accepted in review (审核) count.
    """
    found = await assignments(session, root_code=root_code, phase=phase)
    if not found:
        return []
    periods = {a.unit.code: (period_containing(a.cadence, period_end) if period_end
                             else period_for(a.cadence, now)) for a in found}
    until = max(p.start for p in periods.values())
    history = await _reports(session, [a.unit.code for a in found], phase, until,
                             accepted_only)
    targets = await targets_for_units(session, [a.unit for a in found], phase)
    return [_progress(a, periods[a.unit.code], now,
                      [r for r in history[a.unit.code]
                       if r.period_start <= periods[a.unit.code].start],
                      targets[a.unit.code]) for a in found]


async def reporting_status(session: AsyncSession, *, unit_code: str, phase: str,
                           now: datetime) -> UnitProgress:
    """Where one unit stands now; DomainError when it does not report on `phase`."""
    for p in await progress_snapshot(session, root_code=unit_code, phase=phase, now=now):
        if p.unit_code == unit_code:
            return p
    raise DomainError("Unit %(unit)s does not report on this table.", unit=unit_code)


async def due_units(session: AsyncSession, *, now: datetime) -> list[tuple[str, str, Period]]:
    """(unit_code, phase, period) of every assignment whose deadline falls on `now`'s local day."""
    tz = ZoneInfo(load_config().tz)
    today = now.astimezone(tz).date()
    out = []
    for a in await assignments(session):
        period = period_for(a.cadence, now)
        if period.deadline.astimezone(tz).date() == today:
            out.append((a.unit.code, a.phase, period))
    return out


# -------------------------------------------------------------------------------- roll-up


@dataclass
class Rollup:
    """Totals of the reporting units under one unit: counts by status, values and targets."""

    unit_code: str
    name: str
    name_en: str | None
    depth: int
    units: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    values: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    completion_rate: float | None = None  # may exceed 100 when objects were newly found
    new_found: dict[str, float] = field(default_factory=dict)  # 新增 per target key, summed

    def display_name(self, locale: str) -> str:
        """The unit's name in the reader's language."""
        return self.name_en if locale.startswith("en") and self.name_en else self.name


async def rollup(session: AsyncSession, root_code: str,
                 snapshot: Sequence[UnitProgress]) -> list[Rollup]:
    """Totals for the root and every unit between it and the reporting units, in path order.

    Counts are summed and rates recomputed from summed values and targets (never an average
    of rates); percentage fields, and phases whose completion is one, take the mean.
    """
    root = await session.get(Unit, root_code)
    if root is None or not snapshot:
        return []
    units = {u.code: u for u in (await session.scalars(
        select(Unit).where(Unit.path.startswith(root.path)))).all()}
    template = get_template(snapshot[0].phase)
    percent = {f.key for f in template.fields if f.type == "percent"}
    out: dict[str, Rollup] = {}
    rates: dict[str, list[float]] = {}
    means: dict[tuple[str, str], list[float]] = {}
    for p in snapshot:
        unit = units.get(p.unit_code)
        if unit is None:
            continue
        chain = [c for c in unit.path.strip("/").split("/") if c in units]
        for code in chain:
            if code == p.unit_code and code != root_code:
                continue
            anc = units[code]
            r = out.setdefault(code, Rollup(code, anc.name, anc.name_en, anc.depth))
            r.units += 1
            r.by_status[p.status] += 1
            for k, v in p.values.items():
                if k in percent:
                    means.setdefault((code, k), []).append(v)
                else:
                    r.values[k] = r.values.get(k, 0.0) + v
            for k, v in p.targets.items():
                r.targets[k] = r.targets.get(k, 0.0) + v
            for k, v in p.new_found.items():
                r.new_found[k] = r.new_found.get(k, 0.0) + v
            if p.completion_rate is not None:
                rates.setdefault(code, []).append(p.completion_rate)
    for (code, k), got_values in means.items():
        out[code].values[k] = round(sum(got_values) / len(got_values), 2)
    for code, r in out.items():
        if template.completion_field:
            got = rates.get(code)
            r.completion_rate = round(sum(got) / len(got), 2) if got else None
        else:
            r.completion_rate = template.completion_rate(r.values, r.targets)
    return sorted(out.values(), key=lambda r: units[r.unit_code].path)


# ------------------------------------------------------------------------- /status, /export

STATUS_ROLES = LEADERSHIP_ROLES | {"liaison"}  # a liaison sees their own unit
ICONS = {"submitted": "✅", "late": "⏰", "missing": "❌", "not_due": "⏳"}
PHASE_WORDS = {"survey": "survey", "入户": "survey", "入户调查": "survey", "listing": "listing",
               "清查": "listing", "accounting": "accounting", "核算": "accounting"}
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


async def scope(session: AsyncSession, principal: Principal | None, args: str,
                own_unit_ok: bool = False) -> tuple[Unit | None, str | None, list[str]]:
    """(root unit, phase asked for or None, words that are neither) for this user, or
    (None, ...)."""
    roles = STATUS_ROLES if own_unit_ok else LEADERSHIP_ROLES
    if principal is None or not principal.has_any(roles):
        return None, None, []
    phase = None
    words = []
    for word in args.split():
        if word.lower() in PHASE_WORDS:
            phase = PHASE_WORDS[word.lower()]
        elif word in templates():  # a further report of a phase, e.g. survey_weekly
            phase = word
        else:
            words.append(word)
    grants = principal.units_for(roles)
    root_code = grants[0].unit_code
    rest = []
    for word in words:  # /status 410102: a unit inside the user's scope
        unit = await session.get(Unit, word)
        if unit is not None and principal.covers(roles, unit.path):
            root_code = unit.code
        else:
            rest.append(word)
    return await session.get(Unit, root_code), phase, rest


def refuse_words(words: Sequence[str], command: str, *, dates_ok: bool = False) -> None:
    """DomainError naming the first word that is neither a unit of the user's area, a table
    nor (when `dates_ok`) a date; `words` are what `scope` left over."""
    for word in words:
        if not (dates_ok and _DATE_LIKE.fullmatch(word)):
            shown = word if len(word) <= 40 else word[:40] + "…"
            raise DomainError("%(command)s: “%(word)s” is not the code of a unit in your area "
                              "or a table name (survey, listing, accounting). Send %(command)s "
                              "alone for your whole area.", command=command, word=shown)


def ranked(snapshot: Sequence[UnitProgress]) -> list[UnitProgress]:
    """Units by completion rate, highest first (no rate last), then by code."""
    return sorted(snapshot, key=lambda p: (-(p.completion_rate or -1.0), p.unit_code))


def rate_change(p: UnitProgress) -> str | None:
    """"+2.5" / "-1" percentage points since the previous period, when both rates exist."""
    if p.completion_rate is None or p.previous_rate is None:
        return None
    delta = round(p.completion_rate - p.previous_rate, 1)
    return ("+" if delta >= 0 else "") + fmt(delta)


def total_lines(phase: str, root_total: Rollup | None, locale: str,
                t: Any) -> list[dict[str, Any]]:
    """The root's totals per counted field (value, target, rate, 新增), then the means."""
    if root_total is None:
        return []
    template = get_template(phase)
    lines: list[dict[str, Any]] = []
    for f in template.fields:
        if f.type != "target_count":
            continue
        target = root_total.targets.get(f.target or "")
        value = root_total.values.get(f.key, 0.0)
        rate = round(100.0 * value / target, 1) if target else None
        new = root_total.new_found.get(f.target or "") if f.counted else None
        lines.append({"label": f.label_for(locale), "value": fmt(value),
                      "target": fmt(target) if target else None, "rate": rate,
                      "new_found": fmt(new) if new else None})
    for f in template.fields:
        if f.type == "percent" and f.key in root_total.values:
            lines.append({"label": f.label_for(locale) + " " + t("(mean)"),
                          "value": fmt(root_total.values[f.key]) + "%", "target": None,
                          "rate": None})
    return lines


@dataclass(frozen=True)
class StatusBoard:
    """/status for one subtree and phase: ranked rows, totals, counts (plain data)."""

    snapshot: list[UnitProgress]
    totals: list[Rollup]
    root_total: Rollup | None
    lines: list[dict[str, Any]]
    ranked: list[UnitProgress]
    counts: dict[str, int]


async def status_board(session: AsyncSession, *, root: Unit, phase: str, now: datetime,
                       locale: str, t: Any) -> StatusBoard | None:
    """Today's matrix for the subtree under `root`, or None when no unit reports on it."""
    snapshot = await progress_snapshot(session, root_code=root.code, phase=phase, now=now)
    if not snapshot:
        return None
    totals = await rollup(session, root.code, snapshot)
    root_total = next((r for r in totals if r.unit_code == root.code), None)
    return StatusBoard(
        snapshot=snapshot, totals=totals, root_total=root_total,
        lines=total_lines(phase, root_total, locale, t), ranked=ranked(snapshot),
        counts={s: sum(1 for p in snapshot if p.status == s) for s in ICONS})


def export_day(words: Sequence[str]) -> date | None:
    """The YYYY-MM-DD date among /export's words, None for this period; DomainError when it
    looks like a date but is none."""
    dates = [w for w in words if _DATE_LIKE.fullmatch(w)]
    try:
        return date(*(int(part) for part in dates[0].split("-"))) if dates else None
    except ValueError:
        raise DomainError("%(word)s is not a date: write it as YYYY-MM-DD, for example "
                          "/export 2018-10-08.", word=dates[0]) from None


async def export_sheets(session: AsyncSession, *, root: Unit, phase: str | None,
                        day: date | None, now: datetime) -> list[ExportSheet]:
    """A sheet per active phase (or the one asked for): the units' progress and the totals."""
    active = {a.phase for a in await assignments(session, root_code=root.code)}
    known = [*PHASES, *sorted(set(templates()) - set(PHASES))]  # then further reports
    phases = [p for p in known if p in active and p in templates() and (phase in (None, p))]
    sheets = []
    for ph in phases:
        snapshot = await progress_snapshot(session, root_code=root.code, phase=ph, now=now,
                                           period_end=day)
        totals = await rollup(session, root.code, snapshot)
        sheets.append(ExportSheet(get_template(ph), snapshot,
                                  next((r for r in totals if r.unit_code == root.code), None)))
    return sheets
