"""Report rules: each rule's message names the field; no values crash the validator."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.reports.templates import (
    missing_new_found,
    new_found_needed,
    parse_template,
    templates,
    validate,
)
from bot.services.shared.errors import DomainError

SURVEY = templates()["survey"]
TARGETS = {"industrial": 800, "livestock": 100, "domestic": 50, "centralized": 10, "mobile": 40}
FULL = {"industrial_filled": 120, "industrial_entered": 100, "livestock_filled": 30,
        "livestock_entered": 20, "domestic_filled": 10, "domestic_entered": 8,
        "centralized_filled": 5, "centralized_entered": 5, "mobile_filled": 12,
        "mobile_entered": 10}


def _messages(values: dict[str, Any], previous: dict[str, Any] | None = None) -> list[str]:
    return [p.render(lambda s: s) for p in
            validate(SURVEY, values, targets=TARGETS, previous=previous, locale="en")]


def test_shipped_templates_cover_the_phases_and_indicators() -> None:
    assert {"survey", "listing", "accounting"} <= set(templates())
    keys = set(SURVEY.keys)
    for source in ("industrial", "livestock", "domestic", "centralized", "mobile"):
        assert {f"{source}_filled", f"{source}_entered"} <= keys
    assert {"onsite_checks", "training_sessions", "collection_rate", "spatial_rate",
            "problems"} <= keys
    acc = set(templates()["accounting"].keys)
    assert {"accounting_rate", "advisory_pass_rate", "mandatory_pass_rate"} <= acc
    for tmpl in templates().values():
        for f in tmpl.fields:
            assert f.label and f.label_en and f.aliases
            assert any(not a.isascii() for a in f.aliases) and any(a.isascii() for a in f.aliases)


def test_valid_report_passes() -> None:
    assert _messages(FULL) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"industrial_filled": -1}, "Industrial sources - forms filled cannot be negative."),
    ({"industrial_filled": 801},
     "Industrial sources - forms filled: 801 is above the target of 800 by 1."),
    ({"collection_rate": 100.5},
     "Collection completion rate: a percentage must be between 0 and 100."),
    ({"mobile_entered": 13},
     "Mobile sources - forms entered (13) cannot be more than Mobile sources - forms filled (12)."),
    ({"onsite_checks": 2.5}, "On-site checks: a whole number is expected."),
    ({"funding_in_place": 1.005}, "Funding in place: at most two decimals."),
    ({"problems": "x" * 1001},
     "Problems and needs: the text is too long (at most 1000 characters)."),
    ({"industrial_filled": "many"},
     "Industrial sources - forms filled: enter a number, for example 120."),
    ({"industrial_filled": math.nan},
     "Industrial sources - forms filled: enter a number, for example 120."),
])
def test_each_rule(change: dict[str, Any], message: str) -> None:
    assert message in _messages({**FULL, **change})


def test_required_fields() -> None:
    messages = _messages({"industrial_filled": 1})
    assert "Agricultural / livestock - forms filled is required." in messages
    assert not any("On-site checks" in m for m in messages)  # optional


def test_decrease_is_confirmable_not_refused() -> None:
    problems = validate(SURVEY, FULL, targets=TARGETS,
                        previous={"industrial_filled": 130, "training_sessions": 9},
                        locale="en")
    assert len(problems) == 1 and problems[0].confirmable
    assert problems[0].field == "industrial_filled"
    assert "120 is below the previous 130" in problems[0].render(lambda s: s)


def test_above_target_needs_new_found_not_refusal() -> None:
    """A count above its target is confirmable: it needs the newly found objects (新增)."""
    values = {**FULL, "industrial_filled": 850, "industrial_entered": 820}
    problems = validate(SURVEY, values, targets=TARGETS, previous=None, locale="en")
    assert problems and not any(p.hard for p in problems)
    assert new_found_needed(problems) == {"industrial": 50}  # the larger excess of the key
    assert missing_new_found(problems, None) == ["industrial"]
    assert missing_new_found(problems, {"industrial": 49}) == ["industrial"]
    assert missing_new_found(problems, {"industrial": 50}) == []


def test_listing_sum_rule() -> None:
    listing = templates()["listing"]
    values = {"industrial_listed": 5, "livestock_listed": 1, "domestic_listed": 1,
              "centralized_listed": 1, "outfalls_listed": 0, "entered_in_base": 9}
    problems = validate(listing, values, targets={}, previous=None, locale="en")
    assert [p.field for p in problems] == ["entered_in_base"]


def test_bad_templates_are_refused() -> None:
    with pytest.raises(DomainError):
        parse_template({"phase": "x", "fields": [{"key": "a", "type": "weird"}]})
    with pytest.raises(DomainError):
        parse_template({"phase": "x", "fields": [
            {"key": "a", "type": "count", "aliases": ["n"]},
            {"key": "b", "type": "count", "aliases": ["N"]}]})
    with pytest.raises(DomainError):
        parse_template({"phase": "x", "fields": [{"key": "a", "type": "target_count"}]})


values_strategy = st.dictionaries(
    st.sampled_from((*SURVEY.keys, "unknown")),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15),
              st.text(max_size=20), st.none(), st.booleans()),
    max_size=12)


@settings(max_examples=400, deadline=None)
@given(values_strategy, values_strategy, st.sampled_from(["en", "zh_CN"]))
def test_validator_never_crashes_and_names_the_field(values: dict[str, Any],
                                                     previous: dict[str, Any],
                                                     locale: str) -> None:
    for tmpl in templates().values():
        problems = validate(tmpl, values, targets=TARGETS, previous=previous, locale=locale)
        for p in problems:
            assert p.field in tmpl.keys
            label = tmpl.field(p.field).label_for(locale)
            assert label in p.render(lambda s: s)


def test_domain_error_escapes_what_the_user_typed() -> None:
    exc = DomainError("Unit %(unit)s does not report on this table.", unit="<b>x</b>&")
    escaped = "Unit &lt;b&gt;x&lt;/b&gt;&amp; does not report on this table."
    assert exc.render(lambda s: s) == escaped
    assert exc.render(lambda s: s, escape=False) == "Unit <b>x</b>& does not report on this table."
