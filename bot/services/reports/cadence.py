"""Cadences (daily, weekly, twice a week, every two days) and the reporting period of a time.

`period_for` is pure: given a cadence and an aware `now`, the period that `now` falls in, with
its deadline. Which unit reports on which phase at which cadence comes from data/cadences.yaml,
the root unit's `report_depth` and each unit's `cadences` extra key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.repo import units as units_repo
from bot.services.reports.templates import data_path
from bot.services.shared.errors import DomainError

KINDS = ("daily", "weekly", "twice_weekly", "every_two_days")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DEADLINE = time(18, 0)
DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_ANCHOR = date(2018, 10, 1)


@dataclass(frozen=True)
class Cadence:
    """How often a unit reports: kind, report weekdays (0=Monday), deadline time, zone."""

    kind: str = "daily"
    days: tuple[int, ...] = ()
    deadline: time = DEFAULT_DEADLINE
    tz: str = DEFAULT_TZ
    anchor: date = DEFAULT_ANCHOR
    report: str | None = None  # the report (template key) when a phase has several cadences

    def __post_init__(self) -> None:
        """Check the kind and the days."""
        if self.kind not in KINDS:
            raise DomainError("Unknown cadence %(kind)s.", kind=self.kind)
        if self.kind in ("weekly", "twice_weekly"):
            want = 1 if self.kind == "weekly" else 2
            if len(set(self.days)) != want or any(not 0 <= d <= 6 for d in self.days):
                raise DomainError("A %(kind)s cadence needs %(n)s report weekday(s).",
                                  kind=self.kind, n=want)


@dataclass(frozen=True)
class Period:
    """A reporting period: first and last local day, and the aware deadline on the last day."""

    start: date
    end: date
    deadline: datetime


def _weekday(value: Any) -> int:
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    text = str(value).strip().lower()[:3]
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    raise DomainError("Unknown weekday %(day)s.", day=str(value))


def _time(value: Any) -> time:
    if isinstance(value, int):  # YAML reads 18:00 unquoted as sexagesimal minutes
        return time(value // 60 % 24, value % 60)
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise DomainError("Deadline %(value)s is not a time such as 18:00.",
                          value=str(value)) from exc


def parse_cadence(spec: Mapping[str, Any], tz: str = DEFAULT_TZ) -> Cadence:
    """A cadence from a data-file mapping such as {every: weekly, day: fri, deadline: '17:00'}."""
    kind = str(spec.get("every", "daily"))
    if kind == "weekly":
        days: tuple[int, ...] = (_weekday(spec.get("day", "fri")),)
    elif kind == "twice_weekly":
        days = tuple(_weekday(d) for d in spec.get("days") or ("mon", "thu"))
    else:
        days = ()
    anchor = spec.get("anchor", DEFAULT_ANCHOR)
    if not isinstance(anchor, date):
        anchor = date.fromisoformat(str(anchor))
    report = spec.get("report")
    return Cadence(kind=kind, days=days, deadline=_time(spec.get("deadline", "18:00")),
                   tz=str(spec.get("timezone", tz)), anchor=anchor,
                   report=str(report) if report else None)


def period_containing(cadence: Cadence, day: date) -> Period:
    """The period that local day `day` belongs to."""
    if cadence.kind == "daily":
        start = end = day
    elif cadence.kind == "every_two_days":
        k = (day - cadence.anchor).days // 2
        start = cadence.anchor + timedelta(days=2 * k)
        end = start + timedelta(days=1)
    else:
        report_days = set(cadence.days)
        end = day
        while end.weekday() not in report_days:
            end += timedelta(days=1)
        before = end - timedelta(days=1)
        while before.weekday() not in report_days:
            before -= timedelta(days=1)
        start = before + timedelta(days=1)
    deadline = datetime.combine(end, cadence.deadline, tzinfo=ZoneInfo(cadence.tz))
    return Period(start=start, end=end, deadline=deadline)


def period_for(cadence: Cadence, now: datetime) -> Period:
    """The period that the aware time `now` falls in (by the local date in the cadence's zone)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime refused: pass a timezone-aware value")
    return period_containing(cadence, now.astimezone(ZoneInfo(cadence.tz)).date())


def previous_period(cadence: Cadence, period: Period) -> Period:
    """The period just before `period`."""
    return period_containing(cadence, period.start - timedelta(days=1))


# ------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CadenceConfig:
    """The cadence data file: zone, default depth and phases, per-unit overrides."""

    tz: str
    depth: int
    defaults: Mapping[str, tuple[Cadence, ...]]
    units: Mapping[str, Mapping[str, tuple[Cadence, ...]]]


def _phase_cadences(phase: str, spec: Any, tz: str) -> tuple[Cadence, ...]:
    """One phase's cadences: `off` (none), one mapping, or a list of mappings, each of which
    after the first names its own report (template key) with `report:`."""
    if spec is None or spec is False or str(spec).lower() == "off":
        return ()
    specs = spec if isinstance(spec, list) else [spec]
    out = tuple(parse_cadence(s, tz) for s in specs if isinstance(s, Mapping))
    if len(out) != len(specs):
        raise DomainError("Cadences of %(phase)s: each entry must be a mapping such as "
                          "{every: daily}.", phase=phase)
    reports = [c.report or phase for c in out]
    if len(set(reports)) != len(reports):
        raise DomainError("Cadences of %(phase)s: two cadences submit the same report; give "
                          "each further cadence its own `report:` template.", phase=phase)
    return out


def _phase_map(raw: Any, tz: str) -> dict[str, tuple[Cadence, ...]]:
    return {str(phase): _phase_cadences(str(phase), spec, tz)
            for phase, spec in (raw or {}).items()}


def parse_config(data: Any) -> CadenceConfig:
    """The cadence configuration from the data file's content."""
    data = data or {}
    tz = str(data.get("timezone", DEFAULT_TZ))
    default = data.get("default") or {}
    phases = {k: v for k, v in _phase_map(default.get("phases"), tz).items() if v}
    units = {str(code): _phase_map(spec, tz) for code, spec in (data.get("units") or {}).items()}
    return CadenceConfig(tz=tz, depth=int(default.get("depth", 1)), defaults=phases, units=units)


@lru_cache(maxsize=4)
def _load_config(path: Path) -> CadenceConfig:
    if not path.exists():
        return parse_config({"default": {"phases": {"survey": {"every": "daily"}}}})
    return parse_config(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_config(path: Path | None = None) -> CadenceConfig:
    """The cadence configuration (data/cadences.yaml), loaded once."""
    return _load_config(path or data_path("cadences.yaml"))


@dataclass(frozen=True)
class Assignment:
    """A unit that submits one report at a cadence.

    `phase` is the report's key (its template, and `Report.phase`): the census phase itself
    for a phase's first cadence, or the cadence's own `report:` when a phase has several.
    `group` is the census phase the report belongs to.
    """

    unit: Unit
    phase: str
    cadence: Cadence
    group: str = ""

    @property
    def census_phase(self) -> str:
        """The census phase (survey, listing, accounting) this report belongs to."""
        return self.group or self.phase


def assignments_for(units: Sequence[Unit], config: CadenceConfig) -> list[Assignment]:
    """Which of `units` report on which phase at which cadence (pure, given every ancestor)."""
    by_code = {u.code: u for u in units}
    out: list[Assignment] = []
    for unit in sorted(units, key=lambda u: u.path):
        root_code = unit.path.strip("/").split("/")[0]
        root = by_code.get(root_code)
        depth = config.depth
        if root is not None and isinstance(root.extra, dict) and "report_depth" in root.extra:
            depth = int(root.extra["report_depth"])
        root_depth = root.depth if root is not None else 0
        phases: dict[str, tuple[Cadence, ...]] = {}
        if unit.depth - root_depth == depth:
            phases.update(config.defaults)
        phases.update(config.units.get(unit.code, {}))
        extra = unit.extra.get("cadences") if isinstance(unit.extra, dict) else None
        if isinstance(extra, dict):
            phases.update(_phase_map(extra, config.tz))
        for phase, cadences in sorted(phases.items()):
            for cadence in cadences:
                out.append(Assignment(unit, cadence.report or phase, cadence, phase))
    return out


def _roots_of(units: Sequence[Unit]) -> set[str]:
    return {u.path.strip("/").split("/")[0] for u in units}


async def assignments(session: AsyncSession, *, root_code: str | None = None,
                      phase: str | None = None,
                      under: Sequence[str] | None = None) -> list[Assignment]:
    """Reporting assignments, optionally under one root (or any of the paths `under`) and
    for one phase. Only the units concerned and their tree roots are loaded (in one query:
    a path names its root)."""
    stmt = select(Unit)
    if root_code is not None:
        root = await session.get(Unit, root_code)
        if root is None:
            return []
        under = [root.path]
    if under is not None:
        if not under:
            return []
        roots = sorted({p.strip("/").split("/")[0] for p in under})
        stmt = stmt.where(or_(*(Unit.path.startswith(p) for p in under),
                              Unit.code.in_(roots)))
    loaded = list((await session.scalars(stmt)).all())
    units = loaded if under is None else [
        u for u in loaded if any(u.path.startswith(p) for p in under)]
    have = {u.code for u in units}
    missing = _roots_of(units) - {u.code for u in loaded}
    extra = (await session.scalars(select(Unit).where(Unit.code.in_(missing)))).all() \
        if missing else []
    found = [a for a in assignments_for([*loaded, *extra], load_config())
             if a.unit.code in have]
    if phase is not None:
        found = [a for a in found if a.phase == phase]
    return found


async def assignment(session: AsyncSession, unit_code: str, phase: str) -> Assignment | None:
    """The assignment of one unit and phase, or None when the unit does not report on it."""
    found = await units_repo.chain(session, unit_code)  # root first, the unit last
    if not found:
        return None
    unit = found[-1]
    root_code = unit.path.strip("/").split("/")[0]
    root = found[0] if found[0].code == root_code else None
    units = [unit] if root is None or root is unit else [root, unit]
    for a in assignments_for(units, load_config()):
        if a.unit.code == unit_code and a.phase == phase:
            return a
    return None
