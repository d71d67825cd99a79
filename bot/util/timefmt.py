"""Dates and times as people read them: in their zone, a one-day period as one date."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

FORMAT = "%Y-%m-%d %H:%M"
PEOPLE_TZ = ZoneInfo("Asia/Shanghai")  # the zone people read times in


def local_time(when: datetime | None, tz: tzinfo, fmt: str = FORMAT) -> str:
    """An aware datetime in the reader's zone (Asia/Shanghai for people); "" for None."""
    if when is None:
        return ""
    return when.astimezone(tz).strftime(fmt)


def period_text(start: date | str | Any, end: date | str | None = None,
                locale: str = "zh_CN") -> str:
    """A period: "2026-11-30" for one day, else "2026-11-24 – 2026-11-30" (至 in Chinese).

    `start` may be any object with `start` and `end` dates (a cadence Period).
    """
    if end is None and hasattr(start, "start"):
        start, end = start.start, start.end
    first = start.isoformat() if isinstance(start, date) else str(start)
    last = end.isoformat() if isinstance(end, date) else str(end or first)
    if first == last:
        return first
    return f"{first} – {last}" if locale.startswith("en") else f"{first} 至 {last}"


def colon(locale: str) -> str:
    """The colon after a label: full-width in Chinese, ASCII and a space in English."""
    return ": " if locale.startswith("en") else "："


def local_time_with_offset(when: datetime | None, tz: tzinfo) -> str:
    """A datetime in the zone with its UTC offset, for files: 2018-10-08 10:00 +08:00."""
    if when is None:
        return ""
    local = when.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local.strftime(FORMAT)} {offset[:3]}:{offset[3:]}"
