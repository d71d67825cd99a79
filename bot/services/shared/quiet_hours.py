"""People's quiet hours (22:00-07:30 Asia/Shanghai by default): notices wait until they end."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(now: datetime, start: time, end: time, tz: ZoneInfo) -> bool:
    """Whether local time `now` falls in [start, end) (which may run over midnight)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime refused")
    if start == end:
        return False
    local = now.astimezone(tz).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(now: datetime, start: time, end: time, tz: ZoneInfo) -> datetime:
    """When a notice due at `now` may go out: `now` itself, or the end of the quiet hours."""
    if not in_quiet_hours(now, start, end, tz):
        return now
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), end, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=tz)
    return candidate.astimezone(now.tzinfo)
