"""What a bulletin says: `BulletinData` (a plain snapshot of the facts) and the judgements drawn
from it (ranking, change since the previous bulletin, praise, named laggards, repeat offenders).

`BulletinData` is stored as JSON with the bulletin, so that a published bulletin re-renders to
the same content forever; rendering (message, document, chart) only reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

SUBMITTED = "submitted"
LATE = "late"
MISSING = "missing"
NOT_DUE = "not_due"


@dataclass(frozen=True)
class SourceLine:
    """Overall progress of one source type (e.g. industrial enterprises) against its target."""

    key: str
    label_zh: str
    label_en: str
    done: float
    target: float
    new_found: float = 0.0  # objects found beyond the listing base (新增)

    @property
    def rate(self) -> float | None:
        """Completion as a fraction of the target (None without a target)."""
        return self.done / self.target if self.target > 0 else None

    def label(self, locale: str) -> str:
        """The label in the reader's language."""
        return self.label_en if locale.startswith("en") and self.label_en else self.label_zh


@dataclass(frozen=True)
class UnitLine:
    """One unit's facts for the period: latest status, completion, lateness history."""

    code: str
    name: str
    name_en: str | None
    status: str  # submitted | late | missing | not_due (of the period's last report)
    completion_rate: float | None
    previous_rate: float | None = None
    submitted_at: datetime | None = None
    late_count: int = 0  # reports handed in after the deadline during the period
    missing_count: int = 0  # reports never handed in during the period
    offence_periods: int = 0  # periods (this one included) with a late or missing report

    def display_name(self, locale: str) -> str:
        """The unit's name in the reader's language."""
        return self.name_en if locale.startswith("en") and self.name_en else self.name


@dataclass(frozen=True)
class BulletinData:
    """Everything a bulletin reports, frozen at generation."""

    series_id: str
    title_zh: str
    title_en: str
    root_code: str
    root_name: str
    root_name_en: str | None
    phase: str
    period_start: date
    period_end: date
    as_of: datetime
    plan_rate: float | None
    sources: tuple[SourceLine, ...]
    units: tuple[UnitLine, ...]
    praise_count: int = 3
    lag_margin: float = 0.10
    repeat_threshold: int = 2
    table_in_message_max: int = 30
    extra: dict[str, Any] = field(default_factory=dict)

    def title(self, locale: str) -> str:
        """The series title in the reader's language."""
        return self.title_en if locale.startswith("en") else self.title_zh

    def root_display(self, locale: str) -> str:
        """The root unit's name in the reader's language."""
        return self.root_name_en if locale.startswith("en") and self.root_name_en else (
            self.root_name)

    # ------------------------------------------------------------ JSON round trip
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates and datetimes as ISO strings)."""
        raw = asdict(self)
        raw["period_start"] = self.period_start.isoformat()
        raw["period_end"] = self.period_end.isoformat()
        raw["as_of"] = self.as_of.isoformat()
        for unit in raw["units"]:
            if unit["submitted_at"] is not None:
                unit["submitted_at"] = unit["submitted_at"].isoformat()
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BulletinData:
        """Rebuild from `to_json` output."""
        values = dict(raw)
        values["period_start"] = date.fromisoformat(raw["period_start"])
        values["period_end"] = date.fromisoformat(raw["period_end"])
        values["as_of"] = datetime.fromisoformat(raw["as_of"])
        values["sources"] = tuple(SourceLine(**s) for s in raw["sources"])
        units = []
        for u in raw["units"]:
            u = dict(u)
            if u.get("submitted_at"):
                u["submitted_at"] = datetime.fromisoformat(u["submitted_at"])
            units.append(UnitLine(**u))
        values["units"] = tuple(units)
        return cls(**values)


@dataclass(frozen=True)
class RankedUnit:
    """A unit with its rank (1 = best; ties share a rank) and change since last time."""

    unit: UnitLine
    rank: int | None
    delta: float | None  # completion_rate - previous_rate, as a fraction


def ranked(data: BulletinData) -> list[RankedUnit]:
    """Units ordered best first; units without a rate come last, unranked."""
    with_rate = sorted((u for u in data.units if u.completion_rate is not None),
                       key=lambda u: (-(u.completion_rate or 0.0), u.code))
    out: list[RankedUnit] = []
    previous: float | None = None
    rank = 0
    for i, unit in enumerate(with_rate, start=1):
        rate = unit.completion_rate
        if previous is None or rate is None or round(rate, 6) != round(previous, 6):
            rank = i
        previous = rate
        delta = None if unit.previous_rate is None or rate is None else rate - unit.previous_rate
        out.append(RankedUnit(unit, rank, delta))
    for unit in sorted((u for u in data.units if u.completion_rate is None), key=lambda u: u.code):
        out.append(RankedUnit(unit, None, None))
    return out


def praised(data: BulletinData) -> list[RankedUnit]:
    """The leaders: the top units that reported on time and are at or ahead of plan."""
    out: list[RankedUnit] = []
    for r in ranked(data):
        if r.rank is None or len(out) >= data.praise_count:
            break
        u = r.unit
        on_plan = data.plan_rate is None or (u.completion_rate or 0.0) >= data.plan_rate
        if on_plan and u.late_count == 0 and u.missing_count == 0 and u.status != MISSING:
            out.append(r)
    return out


def late_units(data: BulletinData) -> list[UnitLine]:
    """Units that handed in at least one report after the deadline this period."""
    return sorted((u for u in data.units if u.late_count > 0 or u.status == LATE),
                  key=lambda u: (-max(u.late_count, 1), u.code))


def missing_units(data: BulletinData) -> list[UnitLine]:
    """Units that failed to hand in at least one report this period."""
    return sorted((u for u in data.units if u.missing_count > 0 or u.status == MISSING),
                  key=lambda u: (-max(u.missing_count, 1), u.code))


def lagging_units(data: BulletinData) -> list[RankedUnit]:
    """Units behind the plan line by more than the margin (or with no figures at all)."""
    if data.plan_rate is None:
        return []
    floor = data.plan_rate - data.lag_margin
    return [r for r in reversed(ranked(data))
            if r.unit.completion_rate is None or r.unit.completion_rate < floor]


def repeat_offenders(data: BulletinData) -> list[UnitLine]:
    """Units late or missing in this period and in earlier ones (named again)."""
    return sorted((u for u in data.units if u.offence_periods >= data.repeat_threshold),
                  key=lambda u: (-u.offence_periods, u.code))


def overall_rate(data: BulletinData) -> float | None:
    """Completion of all source types together against all targets."""
    target = sum(s.target for s in data.sources)
    return sum(s.done for s in data.sources) / target if target > 0 else None


def pct(rate: float | None) -> str:
    """A fraction as a percentage with one decimal ('—' when unknown)."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def signed_points(delta: float | None) -> str:
    """A change in percentage points with its sign ('—' when unknown)."""
    if delta is None:
        return "—"
    points = delta * 100
    if abs(points) < 0.05:
        return "±0.0"
    return f"{points:+.1f}"


def number_text(value: float) -> str:
    """A count without a spurious '.0'."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


# ------------------------------------------------------------------ the one computed structure

ON_TIME = "on_time"
LATE_MISSING = "late_missing"


@dataclass(frozen=True)
class UnitFigure:
    """Everything the message, the document and the chart show about one unit."""

    unit: UnitLine
    rank: int | None
    rate: float | None  # completion as a fraction (may exceed 1: objects newly found)
    delta: float | None
    late: int  # reports handed in late this period (a late last report counts at least 1)
    missing: int  # reports missing this period (a missing last report counts at least 1)
    verdict: str  # on_time | late | missing | late_missing | not_due
    behind: bool  # lagging: below plan by more than the margin, or no figures


@dataclass(frozen=True)
class Figures:
    """Every figure of a bulletin, computed once from its `BulletinData`."""

    rows: tuple[UnitFigure, ...]  # ranked, best first
    praised: tuple[UnitFigure, ...]
    late: tuple[UnitFigure, ...]
    missing: tuple[UnitFigure, ...]
    lagging: tuple[UnitFigure, ...]  # worst first
    repeat: tuple[UnitLine, ...]
    overall: float | None
    plan: float | None


def _verdict(u: UnitLine, late: int, missing: int) -> str:
    if late and missing:
        return LATE_MISSING
    if late:
        return LATE
    if missing:
        return MISSING
    return NOT_DUE if u.status == NOT_DUE else ON_TIME


def figures(data: BulletinData) -> Figures:
    """The bulletin's figures: every rendering reads these and nothing else."""
    lag = {r.unit.code for r in lagging_units(data)}
    rows = []
    for r in ranked(data):
        u = r.unit
        late = max(u.late_count, 1 if u.status == LATE else 0)
        missing = max(u.missing_count, 1 if u.status == MISSING else 0)
        rows.append(UnitFigure(u, r.rank, u.completion_rate, r.delta, late, missing,
                               _verdict(u, late, missing), u.code in lag))
    by_code = {f.unit.code: f for f in rows}
    return Figures(
        rows=tuple(rows),
        praised=tuple(by_code[r.unit.code] for r in praised(data)),
        late=tuple(sorted((f for f in rows if f.late), key=lambda f: (-f.late, f.unit.code))),
        missing=tuple(sorted((f for f in rows if f.missing),
                             key=lambda f: (-f.missing, f.unit.code))),
        lagging=tuple(by_code[r.unit.code] for r in lagging_units(data)),
        repeat=tuple(repeat_offenders(data)),
        overall=overall_rate(data),
        plan=data.plan_rate,
    )
