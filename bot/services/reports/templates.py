"""Report templates (data/report_templates/*.yaml): fields, units, types, rules, and validation.

Field types:
- ``target_count``: a cumulative count measured against the unit's target (never negative,
  never decreasing without a confirmed reason; above the target only once the liaison confirms
  how many objects were newly found (新增) for that source type);
- ``cumulative``: a cumulative count with no target (never negative, never decreasing);
- ``count``: a count within the period (whole, never negative);
- ``percent``: 0-100; ``money``: never negative, two decimals; ``text``: free text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import PROJECT_ROOT
from bot.services.shared.errors import DomainError

FIELD_TYPES = ("target_count", "cumulative", "count", "percent", "money", "text")
NUMERIC_TYPES = frozenset({"target_count", "cumulative", "count", "percent", "money"})
WHOLE_TYPES = frozenset({"target_count", "cumulative", "count"})
MONOTONIC_TYPES = frozenset({"target_count", "cumulative"})
PHASES = ("survey", "listing", "accounting")
TEXT_MAX = 1000
VALUE_MAX = 1e12

Value = float | str


def N_(message: str) -> str:
    """Mark a message id for extraction; it is translated when rendered."""
    return message


def data_dir() -> Path:
    """The data directory (CENSUSBOT_DATA_DIR, else the project's `data/`)."""
    return _data_path(os.environ.get("CENSUSBOT_DATA_DIR") or "", "")


def data_path(name: str) -> Path:
    """A file or folder of the data directory; the same Path object on every call while the
    directory stays the same (it is looked up on every report message, and a Path hashes its
    string anew each time it is built)."""
    return _data_path(os.environ.get("CENSUSBOT_DATA_DIR") or "", name)


@lru_cache(maxsize=32)
def _data_path(configured: str, name: str) -> Path:
    root = Path(configured) if configured else PROJECT_ROOT / "data"
    return root / name if name else root


@dataclass(frozen=True)
class Field:
    """One line of a dispatch table."""

    key: str
    label: str
    label_en: str
    type: str
    unit: str = ""
    unit_en: str = ""
    target: str | None = None
    counted: bool = False
    required: bool = False
    aliases: tuple[str, ...] = ()

    def label_for(self, locale: str) -> str:
        """The label in the reader's language."""
        return self.label_en if locale.startswith("en") else self.label

    def unit_for(self, locale: str) -> str:
        """The unit of measure in the reader's language."""
        return self.unit_en if locale.startswith("en") else self.unit

    @property
    def numeric(self) -> bool:
        """Whether the field holds a number."""
        return self.type in NUMERIC_TYPES

    @property
    def monotonic(self) -> bool:
        """Whether the value is cumulative and may not go down."""
        return self.type in MONOTONIC_TYPES


@dataclass(frozen=True)
class Check:
    """A cross-field rule: `field` <= `le` (another field) or <= the sum of `le_sum` fields."""

    field: str
    le: tuple[str, ...]


@dataclass(frozen=True)
class ReportTemplate:
    """The fields and rules of one phase's dispatch table."""

    phase: str
    name: str
    name_en: str
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    completion_field: str | None = None

    def name_for(self, locale: str) -> str:
        """The table's name in the reader's language."""
        return self.name_en if locale.startswith("en") else self.name

    def field(self, key: str) -> Field:
        """The field with this key (KeyError when unknown)."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        """Field keys in order."""
        return tuple(f.key for f in self.fields)

    @property
    def target_keys(self) -> tuple[str, ...]:
        """Target keys used by counted fields, in order, without repeats."""
        seen: list[str] = []
        for f in self.fields:
            if f.counted and f.target and f.target not in seen:
                seen.append(f.target)
        return tuple(seen)

    def completion_rate(
        self, values: Mapping[str, Any], targets: Mapping[str, float]
    ) -> float | None:
        """Overall completion 0..100: sum of counted values / sum of their targets."""
        if self.completion_field:
            v = values.get(self.completion_field)
            return float(v) if isinstance(v, int | float) else None
        done = 0.0
        total = 0.0
        for f in self.fields:
            if not f.counted or not f.target:
                continue
            target = targets.get(f.target)
            if not target:
                continue
            total += target
            v = values.get(f.key)
            done += float(v) if isinstance(v, int | float) else 0.0
        return round(100.0 * done / total, 2) if total else None


def _field(raw: Any, phase: str) -> Field:
    if not isinstance(raw, dict) or not raw.get("key"):
        raise DomainError("Template %(phase)s: every field needs a key.", phase=phase)
    ftype = str(raw.get("type", ""))
    if ftype not in FIELD_TYPES:
        raise DomainError("Template %(phase)s: field %(field)s has an unknown type %(type)s.",
                          phase=phase, field=raw["key"], type=ftype)
    if ftype == "target_count" and not raw.get("target"):
        raise DomainError("Template %(phase)s: field %(field)s needs a target key.",
                          phase=phase, field=raw["key"])
    return Field(
        key=str(raw["key"]), label=str(raw.get("label") or raw["key"]),
        label_en=str(raw.get("label_en") or raw.get("label") or raw["key"]), type=ftype,
        unit=str(raw.get("unit") or ""), unit_en=str(raw.get("unit_en") or raw.get("unit") or ""),
        target=str(raw["target"]) if raw.get("target") else None,
        counted=bool(raw.get("counted", False)), required=bool(raw.get("required", False)),
        aliases=tuple(str(a) for a in raw.get("aliases") or ()),
    )


def parse_template(data: Any) -> ReportTemplate:
    """Build a template from its YAML data, checking keys, types, aliases and rules."""
    if not isinstance(data, dict) or not data.get("phase"):
        raise DomainError("A report template needs a phase and fields.")
    phase = str(data["phase"])
    fields = tuple(_field(f, phase) for f in data.get("fields") or ())
    keys = [f.key for f in fields]
    if not fields or len(set(keys)) != len(keys):
        raise DomainError("Template %(phase)s: field keys are missing or repeated.", phase=phase)
    owners: dict[str, str] = {}
    for f in fields:
        for alias in (f.key, *f.aliases):
            other = owners.setdefault(alias.casefold(), f.key)
            if other != f.key:
                raise DomainError("Template %(phase)s: alias %(alias)s is used twice.",
                                  phase=phase, alias=alias)
    checks = []
    for raw in data.get("checks") or ():
        le = raw.get("le_sum") or [raw.get("le")]
        check = Check(field=str(raw.get("field")), le=tuple(str(x) for x in le))
        if check.field not in keys or any(x not in keys for x in check.le):
            raise DomainError("Template %(phase)s: a rule names an unknown field.", phase=phase)
        checks.append(check)
    completion = data.get("completion_field")
    if completion and completion not in keys:
        raise DomainError("Template %(phase)s: unknown completion field.", phase=phase)
    return ReportTemplate(phase=phase, name=str(data.get("name") or phase),
                          name_en=str(data.get("name_en") or data.get("name") or phase),
                          fields=fields, checks=tuple(checks),
                          completion_field=str(completion) if completion else None)


@lru_cache(maxsize=8)
def _load_all(directory: Path) -> dict[str, ReportTemplate]:
    out: dict[str, ReportTemplate] = {}
    for path in sorted(directory.glob("*.yaml")):
        tmpl = parse_template(yaml.safe_load(path.read_text(encoding="utf-8")))
        out[tmpl.phase] = tmpl
    return out


def templates(directory: Path | None = None) -> dict[str, ReportTemplate]:
    """Every template by phase (loaded once per directory)."""
    return _load_all(directory or data_path("report_templates"))


def get_template(phase: str) -> ReportTemplate:
    """The template of one phase; DomainError when there is none."""
    found = templates().get(phase)
    if found is None:
        raise DomainError("There is no report template for the phase %(phase)s.", phase=phase)
    return found


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Problem:
    """A rule a value breaks; `field` is the field key (or the unknown word), msgid + params."""

    field: str
    message: str
    params: dict[str, Any] = dc_field(default_factory=dict)
    confirmable: bool = False  # a decrease: allowed with an explicit confirmation and reason
    above: str | None = None  # above its target: the target key, allowed once 新增 is given
    excess: float = 0.0  # how far above the target

    @property
    def hard(self) -> bool:
        """Whether no confirmation can make the value acceptable."""
        return not self.confirmable and self.above is None

    def render(self, gettext: Any) -> str:
        """The message in the reader's language."""
        text: str = gettext(self.message)
        return text % self.params if self.params else text


def fmt(value: Any) -> str:
    """A number as people write it: no trailing .0, thousands separated."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def check_value(f: Field, value: Value, *, label: str, target: float | None) -> list[Problem]:
    """Rules on one value alone: type, sign, whole numbers, range, target, text length."""
    if f.type == "text":
        if not isinstance(value, str):
            return [Problem(f.key, N_("%(field)s: free text is expected."), {"field": label})]
        if len(value) > TEXT_MAX:
            msg = N_("%(field)s: the text is too long (at most %(max)s characters).")
            return [Problem(f.key, msg, {"field": label, "max": TEXT_MAX})]
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [Problem(f.key, N_("%(field)s: enter a number, for example 120."), {"field": label})]
    if value < 0:
        return [Problem(f.key, N_("%(field)s cannot be negative."), {"field": label})]
    if value > VALUE_MAX:
        return [Problem(f.key, N_("%(field)s: %(value)s is not a plausible value."),
                        {"field": label, "value": fmt(value)})]
    if f.type in WHOLE_TYPES and not float(value).is_integer():
        return [Problem(f.key, N_("%(field)s: a whole number is expected."), {"field": label})]
    if f.type == "percent" and value > 100:
        return [Problem(f.key, N_("%(field)s: a percentage must be between 0 and 100."),
                        {"field": label})]
    if f.type == "money" and round(value, 2) != value:
        return [Problem(f.key, N_("%(field)s: at most two decimals."), {"field": label})]
    if f.type == "target_count" and target is not None and value > target and f.target:
        return [Problem(f.key, N_("%(field)s: %(value)s is above the target of %(target)s by "
                                  "%(excess)s."),
                        {"field": label, "value": fmt(value), "target": fmt(target),
                         "excess": fmt(value - target)},
                        above=f.target, excess=float(value - target))]
    return []


def new_found_needed(problems: list[Problem]) -> dict[str, float]:
    """The least number of newly found objects (新增) per target key the values imply."""
    out: dict[str, float] = {}
    for p in problems:
        if p.above is not None:
            out[p.above] = max(out.get(p.above, 0.0), p.excess)
    return out


def missing_new_found(problems: list[Problem], given: Mapping[str, Any] | None) -> list[str]:
    """Target keys above target whose 新增 count is not given yet or is too small."""
    given = given or {}
    return [key for key, least in new_found_needed(problems).items()
            if not isinstance(given.get(key), int | float) or given[key] < least]


def validate(
    template: ReportTemplate,
    values: Mapping[str, Value],
    *,
    targets: Mapping[str, float],
    previous: Mapping[str, Any] | None,
    locale: str,
    complete: bool = True,
) -> list[Problem]:
    """Every rule the values break; `complete` also checks required fields.

    Decreases of cumulative values are `confirmable` problems: the report may be saved once
    the user confirms and gives a reason.
    """
    problems: list[Problem] = []
    previous = previous or {}
    for f in template.fields:
        label = f.label_for(locale)
        if f.key not in values:
            if complete and f.required:
                problems.append(Problem(f.key, N_("%(field)s is required."), {"field": label}))
            continue
        value = values[f.key]
        found = check_value(f, value, label=label,
                            target=targets.get(f.target) if f.target else None)
        problems.extend(found)
        prev = previous.get(f.key)
        above = [p for p in found if p.above is not None]
        if above:
            found = []
        if (not found and f.monotonic and isinstance(prev, int | float)
                and isinstance(value, int | float) and value < prev):
            problems.append(Problem(
                f.key, N_("%(field)s: %(value)s is below the previous %(previous)s; cumulative "
                "figures never go down. Confirm the correction and give the reason."),
                {"field": label, "value": fmt(value), "previous": fmt(prev)}, confirmable=True))
    for check in template.checks:
        got = values.get(check.field)
        others = [values.get(k) for k in check.le]
        if not isinstance(got, int | float) or isinstance(got, bool):
            continue
        value = got
        if not all(isinstance(o, int | float) for o in others):
            continue
        limit = sum(float(o) for o in others if isinstance(o, int | float))
        if value > limit:
            names = " + ".join(template.field(k).label_for(locale) for k in check.le)
            problems.append(Problem(
                check.field, N_("%(field)s (%(value)s) cannot be more than %(other)s (%(limit)s)."),
                {"field": template.field(check.field).label_for(locale), "value": fmt(value),
                 "other": names, "limit": fmt(limit)}))
    return problems
