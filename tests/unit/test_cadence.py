"""Reporting periods: a pure function of cadence and time, checked by properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.reports.cadence import (
    Cadence,
    assignments_for,
    parse_cadence,
    parse_config,
    period_containing,
    period_for,
    previous_period,
)
from bot.services.shared.errors import DomainError

SH = ZoneInfo("Asia/Shanghai")

cadences = st.one_of(
    st.just(Cadence("daily")),
    st.builds(lambda d: Cadence("weekly", (d,)), st.integers(0, 6)),
    st.builds(lambda pair: Cadence("twice_weekly", tuple(pair)),
              st.lists(st.integers(0, 6), min_size=2, max_size=2, unique=True)),
    st.builds(lambda a: Cadence("every_two_days", anchor=a),
              st.dates(date(2017, 1, 1), date(2020, 1, 1))),
).map(lambda c: Cadence(c.kind, c.days, time(17, 30), c.tz, c.anchor))
moments = st.datetimes(datetime(2017, 1, 1), datetime(2020, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(cadences, moments)
def test_period_contains_now_and_deadline_is_on_the_last_day(c: Cadence,
                                                            now: datetime) -> None:
    p = period_for(c, now)
    local = now.astimezone(SH).date()
    assert p.start <= local <= p.end
    assert p.deadline.tzinfo is not None
    assert p.deadline.astimezone(SH).date() == p.end
    assert p.deadline.astimezone(SH).time() == time(17, 30)
    length = (p.end - p.start).days + 1
    expected = {"daily": {1}, "weekly": {7}, "every_two_days": {2},
                "twice_weekly": set(range(1, 7))}[c.kind]
    assert length in expected
    if c.kind in ("weekly", "twice_weekly"):
        assert p.end.weekday() in c.days


@settings(max_examples=300, deadline=None)
@given(cadences, moments)
def test_periods_tile_the_calendar(c: Cadence, now: datetime) -> None:
    p = period_for(c, now)
    nxt = period_containing(c, p.end + timedelta(days=1))
    assert nxt.start == p.end + timedelta(days=1)
    assert previous_period(c, nxt) == p
    for day in range((p.end - p.start).days + 1):  # every day of the period maps to it
        assert period_containing(c, p.start + timedelta(days=day)) == p


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6), moments)
def test_twice_weekly_periods_cover_a_week(a: int, b: int, now: datetime) -> None:
    if a == b:
        return
    c = Cadence("twice_weekly", (a, b))
    p1 = period_for(c, now)
    p2 = period_containing(c, p1.end + timedelta(days=1))
    assert (p2.end - p1.start).days + 1 == 7


def test_shanghai_day_not_utc_day() -> None:
    # 2018-10-08 17:00 UTC is 2018-10-09 01:00 in Shanghai
    p = period_for(Cadence("daily"), datetime(2018, 10, 8, 17, 0, tzinfo=UTC))
    assert p.start == date(2018, 10, 9)
    assert p.deadline == datetime(2018, 10, 9, 18, 0, tzinfo=SH)


def test_weekly_friday_and_two_days() -> None:
    weekly = parse_cadence({"every": "weekly", "day": "fri", "deadline": "17:00"})
    p = period_for(weekly, datetime(2018, 10, 8, 9, 0, tzinfo=SH))  # a Monday
    assert (p.start, p.end) == (date(2018, 10, 6), date(2018, 10, 12))
    assert p.deadline == datetime(2018, 10, 12, 17, 0, tzinfo=SH)
    two = parse_cadence({"every": "every_two_days", "anchor": "2018-10-01"})
    assert period_containing(two, date(2018, 10, 4)).start == date(2018, 10, 3)
    assert period_containing(two, date(2018, 9, 30)).start == date(2018, 9, 29)


def test_naive_time_and_bad_specs_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        period_for(Cadence(), datetime(2018, 10, 8, 9, 0))
    with pytest.raises(DomainError):
        parse_cadence({"every": "hourly"})
    with pytest.raises(DomainError):
        parse_cadence({"every": "twice_weekly", "days": ["mon", "mon"]})
    with pytest.raises(DomainError):
        parse_cadence({"every": "weekly", "day": "someday"})
    with pytest.raises(DomainError):
        parse_cadence({"deadline": "25:99"})


class _Unit:
    def __init__(self, code: str, path: str, depth: int, extra: dict[str, object] | None = None):
        self.code, self.path, self.depth, self.extra = code, path, depth, extra or {}


def test_defaults_overrides_and_report_depth() -> None:
    config = parse_config({
        "default": {"depth": 1, "phases": {"survey": {"every": "daily"}}},
        "units": {"410103": {"survey": {"every": "weekly", "day": "mon"}},
                  "410104": {"survey": "off"}},
    })
    units = [_Unit("410100", "/410100/", 0), _Unit("410102", "/410100/410102/", 1),
             _Unit("410103", "/410100/410103/", 1), _Unit("410104", "/410100/410104/", 1),
             _Unit("410105", "/410100/410105/", 1,
                   {"cadences": {"listing": {"every": "twice_weekly"}}}),
             _Unit("4101020001", "/410100/410102/4101020001/", 2)]
    found = {(a.unit.code, a.phase): a.cadence.kind
             for a in assignments_for(units, config)}  # type: ignore[arg-type]
    assert found == {("410102", "survey"): "daily", ("410103", "survey"): "weekly",
                     ("410105", "survey"): "daily", ("410105", "listing"): "twice_weekly"}
    deep = [_Unit("440000", "/440000/", 0, {"report_depth": 2}),
            _Unit("440100", "/440000/440100/", 1), _Unit("440103", "/440000/440100/440103/", 2)]
    assert [a.unit.code for a in assignments_for(deep, config)] == ["440103"]  # type: ignore[arg-type]


def test_several_cadences_per_phase_each_its_own_report() -> None:
    config = parse_config({
        "default": {"depth": 1, "phases": {"survey": {"every": "daily"}}},
        "units": {"410103": {"survey": [
            {"every": "daily", "deadline": "18:00"},
            {"every": "weekly", "day": "fri", "deadline": "17:00", "report": "survey_weekly"}]}},
    })
    units = [_Unit("410100", "/410100/", 0), _Unit("410102", "/410100/410102/", 1),
             _Unit("410103", "/410100/410103/", 1),
             _Unit("410104", "/410100/410104/", 1, {"cadences": {"survey": [
                 {"every": "twice_weekly", "days": ["mon", "thu"]},
                 {"every": "every_two_days", "report": "survey_weekly"}]}})]
    found = {(a.unit.code, a.phase): (a.cadence.kind, a.census_phase)
             for a in assignments_for(units, config)}  # type: ignore[arg-type]
    assert found == {
        ("410102", "survey"): ("daily", "survey"),  # one cadence: unchanged
        ("410103", "survey"): ("daily", "survey"),
        ("410103", "survey_weekly"): ("weekly", "survey"),
        ("410104", "survey"): ("twice_weekly", "survey"),
        ("410104", "survey_weekly"): ("every_two_days", "survey"),
    }


def test_two_cadences_of_one_report_are_refused() -> None:
    with pytest.raises(DomainError, match="same report"):
        parse_config({"units": {"410103": {"survey": [{"every": "daily"},
                                                      {"every": "weekly"}]}}})
    with pytest.raises(DomainError, match="mapping"):
        parse_config({"units": {"410103": {"survey": ["daily"]}}})


def test_the_shipped_cadences_name_existing_templates() -> None:
    from bot.services.reports.cadence import load_config
    from bot.services.reports.templates import templates

    config = load_config()
    reports = {c.report or phase for phases in (config.defaults, *config.units.values())
               for phase, cadences in phases.items() for c in cadences}
    assert reports <= set(templates())
