"""Holiday calendar: official days off, make-up working days (调休), deadline policies."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import PROJECT_ROOT
from bot.services.shared.holidays import SHIFT, SKIP, load_calendar, parse_calendar

CAL = load_calendar(PROJECT_ROOT / "data" / "holidays" / "cn.yaml")
SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("day", "holiday"), [
    ("2018-10-01", True), ("2018-10-07", True), ("2018-10-08", False),
    ("2018-09-29", False),  # Saturday, make-up working day for National Day
    ("2018-09-30", False),  # Sunday, make-up working day
    ("2018-02-16", True), ("2018-02-24", False), ("2018-12-31", True), ("2018-12-29", False),
    ("2019-02-05", True), ("2019-02-02", False), ("2019-05-04", True), ("2019-05-05", False),
    ("2019-10-12", False), ("2018-10-13", False),  # a plain Saturday: census works weekends
])
def test_official_days(day: str, holiday: bool) -> None:
    assert CAL.is_holiday(date.fromisoformat(day)) is holiday


def test_skip_and_shift_policies() -> None:
    deadline = datetime(2018, 10, 3, 18, 0, tzinfo=SH)
    assert CAL.effective_deadline(deadline, SKIP) is None
    assert CAL.effective_deadline(deadline, SHIFT) == datetime(2018, 10, 8, 18, 0, tzinfo=SH)
    working = datetime(2018, 10, 9, 18, 0, tzinfo=SH)
    assert CAL.effective_deadline(working, SKIP) == working


def test_weekends_off_option_keeps_make_up_days() -> None:
    cal = load_calendar(PROJECT_ROOT / "data" / "holidays" / "cn.yaml", weekends_off=True)
    assert cal.is_holiday(date(2018, 10, 13))
    assert not cal.is_holiday(date(2018, 9, 29))


def test_bad_calendar_rejected() -> None:
    with pytest.raises(ValueError, match="both holiday and working day"):
        parse_calendar({"years": {2018: {"holidays": [{"from": "2018-10-01", "to": "2018-10-02"}],
                                         "workdays": ["2018-10-02"]}}})
    with pytest.raises(ValueError, match="unknown holiday policy"):
        CAL.effective_deadline(datetime(2018, 10, 3, 18, tzinfo=SH), "maybe")
