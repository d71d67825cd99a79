"""Holiday calendar (official holidays and make-up working days, 调休) and reporting days.

A reporting day is skipped when it is an official holiday; with the `shift` policy a deadline
that falls on one moves to the next working day at the same time of day. Weekends are working
days for the census unless `weekends_off` (field work went on through weekends in 2018).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

SKIP = "skip"
SHIFT = "shift"
IGNORE = "ignore"
POLICIES = (SKIP, SHIFT, IGNORE)


@dataclass(frozen=True)
class HolidayCalendar:
    """Days off and make-up working days; `names` gives the holiday's name by date."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    names: dict[date, str] = field(default_factory=dict)
    weekends_off: bool = False

    def is_holiday(self, day: date) -> bool:
        """Whether `day` is an official day off (a make-up working day never is)."""
        if day in self.workdays:
            return False
        if day in self.holidays:
            return True
        return self.weekends_off and day.weekday() >= 5

    def is_working_day(self, day: date) -> bool:
        """Whether people are at work on `day`."""
        return not self.is_holiday(day)

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        for _ in range(60):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no working day within 60 days")

    def effective_deadline(self, deadline: datetime, policy: str) -> datetime | None:
        """The deadline after the holiday policy: unchanged, None (skipped) or shifted."""
        if policy not in POLICIES:
            raise ValueError(f"unknown holiday policy {policy!r}; expected one of {POLICIES}")
        day = deadline.date()
        if policy == IGNORE or self.is_working_day(day):
            return deadline
        if policy == SKIP:
            return None
        shifted = self.next_working_day(day)
        return deadline + timedelta(days=(shifted - day).days)


def parse_calendar(data: dict[str, Any], *, weekends_off: bool = False) -> HolidayCalendar:
    """Build a calendar from the YAML structure of data/holidays/*.yaml."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    names: dict[date, str] = {}
    for year, spec in (data.get("years") or {}).items():
        for item in spec.get("holidays") or []:
            start, end = _as_date(item["from"]), _as_date(item["to"])
            if end < start:
                raise ValueError(f"{year}: holiday {item.get('name')} ends before it starts")
            day = start
            while day <= end:
                holidays.add(day)
                names[day] = str(item.get("name", ""))
                day += timedelta(days=1)
        for value in spec.get("workdays") or []:
            workdays.add(_as_date(value))
    clash = holidays & workdays
    if clash:
        raise ValueError(f"days both holiday and working day: {sorted(clash)}")
    return HolidayCalendar(frozenset(holidays), frozenset(workdays), names, weekends_off)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@lru_cache(maxsize=8)
def load_calendar(path: Path, weekends_off: bool = False) -> HolidayCalendar:
    """The calendar in a YAML file (cached per path); an absent file means no holidays."""
    if not path.exists():
        log.warning("holiday calendar %s not found: no holidays", path)
        return HolidayCalendar(weekends_off=weekends_off)
    with path.open(encoding="utf-8") as fh:
        return parse_calendar(yaml.safe_load(fh) or {}, weekends_off=weekends_off)
