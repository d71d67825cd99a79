"""Supervision settings from data/supervision.yaml: due dates, repeat and escalation delays,
and the issuing offices' short names used in order numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.db.models.org import Unit


@dataclass(frozen=True)
class SupervisionConfig:
    """Delays and prefixes; every value has a default."""

    due_days: int = 3
    repeat_after: timedelta = timedelta(hours=3)
    escalate_after: timedelta = timedelta(hours=24)
    overdue_repeat: timedelta = timedelta(hours=3)
    overdue_escalate_after: timedelta = timedelta(0)
    problem_answer_days: int = 3
    prefixes: dict[str, dict[str, str]] = field(default_factory=dict)
    accepted_only_series: tuple[str, ...] = ()  # bulletin series counting accepted reports only

    def prefix(self, unit: Unit, locale: str) -> str:
        """The issuing office's short name in the reader's language."""
        own = self.prefixes.get(unit.code) or {}
        extra = unit.extra if isinstance(unit.extra, dict) else {}
        if locale.startswith("en"):
            return own.get("en") or f"{unit.name_en or unit.name} Census Office"
        return own.get("zh") or str(extra.get("short_name") or "") or f"{unit.name[:1]}普办"


def _hours(raw: dict[str, Any], key: str, default: float) -> timedelta:
    return timedelta(hours=float(raw.get(key, default)))


_CACHE: dict[Path, tuple[tuple[int, int] | None, SupervisionConfig]] = {}


def load_config(data_dir: Path) -> SupervisionConfig:
    """Read data/supervision.yaml (defaults when absent); parsed again only when it changed
    (it is read on every report submission)."""
    path = data_dir / "supervision.yaml"
    try:
        st = path.stat()
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        stamp = None
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    cfg = _parse(path if stamp is not None else None)
    _CACHE[path] = (stamp, cfg)
    return cfg


def _parse(path: Path | None) -> SupervisionConfig:
    raw: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    orders = raw.get("orders") or {}
    problems = raw.get("problems") or {}
    return SupervisionConfig(
        due_days=int(orders.get("due_days", 3)),
        repeat_after=_hours(orders, "repeat_after_hours", 3),
        escalate_after=_hours(orders, "escalate_after_hours", 24),
        overdue_repeat=_hours(orders, "overdue_repeat_hours", 3),
        overdue_escalate_after=_hours(orders, "overdue_escalate_after_hours", 0),
        problem_answer_days=int(problems.get("answer_days", 3)),
        accepted_only_series=tuple(str(x) for x in (raw.get("review") or {}).get(
            "accepted_only_series") or ()),
        prefixes={str(k): {str(a): str(b) for a, b in (v or {}).items()}
                  for k, v in (raw.get("prefixes") or {}).items()},
    )
