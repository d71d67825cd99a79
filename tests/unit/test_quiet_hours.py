"""Quiet hours: 22:00-07:30 Shanghai; notices due inside wait until the end."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.services.shared.quiet_hours import in_quiet_hours, quiet_until

SH = ZoneInfo("Asia/Shanghai")
START, END = time(22, 0), time(7, 30)


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.mark.parametrize(("when", "quiet"), [
    ("2018-10-08 21:59", False), ("2018-10-08 22:00", True), ("2018-10-09 03:00", True),
    ("2018-10-09 07:29", True), ("2018-10-09 07:30", False), ("2018-10-09 12:00", False),
])
def test_in_quiet_hours(when: str, quiet: bool) -> None:
    assert in_quiet_hours(sh(when), START, END, SH) is quiet


def test_deferred_to_the_end_of_the_night_before_and_after_midnight() -> None:
    assert quiet_until(sh("2018-10-08 23:15"), START, END, SH) == sh("2018-10-09 07:30")
    assert quiet_until(sh("2018-10-09 03:00"), START, END, SH) == sh("2018-10-09 07:30")
    assert quiet_until(sh("2018-10-09 09:00"), START, END, SH) == sh("2018-10-09 09:00")


def test_utc_input_is_judged_in_local_time() -> None:
    utc = datetime(2018, 10, 8, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    until = quiet_until(utc, START, END, SH)
    assert until.tzinfo is UTC and until == sh("2018-10-09 07:30")


def test_daytime_window_and_empty_window() -> None:
    assert in_quiet_hours(sh("2018-10-08 13:00"), time(12), time(14), SH)
    assert not in_quiet_hours(sh("2018-10-08 14:00"), time(12), time(14), SH)
    assert not in_quiet_hours(sh("2018-10-08 03:00"), time(0), time(0), SH)


def test_naive_refused() -> None:
    with pytest.raises(ValueError):
        in_quiet_hours(datetime(2018, 10, 8, 23), START, END, SH)
