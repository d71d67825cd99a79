"""Parsers of people's supervision input: any text either parses or gets a DomainError naming
the rule; texts are normalised and bounded; cells never start a formula."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.reports.templates import get_template
from bot.services.shared.errors import DomainError
from bot.services.supervision.interviews import parse_form
from bot.services.supervision.orders import TEXT_MAX, clean_text
from bot.services.supervision.review import parse_comments
from bot.services.supervision.xlsx import text_cell

SURVEY = get_template("survey")


@given(st.text(max_size=3000))
def test_clean_text_bounds_or_refuses(raw: str) -> None:
    try:
        out = clean_text(raw)
    except DomainError as exc:
        assert "empty" in exc.message or "characters" in exc.message
        return
    assert out and len(out) <= TEXT_MAX and out == out.strip()
    assert all(ch in "\n\t" or ord(ch) >= 32 for ch in out)


@given(st.text(max_size=500))
def test_interview_form_parses_or_names_the_rule(raw: str) -> None:
    try:
        form = parse_form(raw)
    except DomainError as exc:
        assert "line" in exc.message.lower() or "empty" in exc.message or \
            "At most" in exc.message or "characters" in exc.message
        return
    assert form.who and form.actions and form.held_at.tzinfo is not None


def test_interview_form() -> None:
    form = parse_form("张某某（中牟县普查办主任）\n2018-10-20 09:00\n补报数据 2018-10-22\n"
                      "书面报告：2018-10-25")
    assert form.who == "张某某（中牟县普查办主任）" and form.held_at.hour == 9
    assert form.actions == [("补报数据", date(2018, 10, 22)), ("书面报告", date(2018, 10, 25))]
    with pytest.raises(DomainError) as err:
        parse_form("张某某\n2018-10-20 09:00\n补报数据 2018-13-40")
    assert err.value.params == {"line": 3}


@given(st.text(max_size=400))
def test_review_comments_parse_or_ask_for_a_field(raw: str) -> None:
    try:
        fields, _general = parse_comments(SURVEY, raw)
    except DomainError as exc:
        assert "field" in exc.message or "empty" in exc.message or "characters" in exc.message
        return
    keys = {f.key for f in SURVEY.fields}
    assert fields and all(f["key"] in keys and f["comment"] for f in fields)


def test_review_comments_name_fields_in_either_language() -> None:
    fields, general = parse_comments(
        SURVEY, "工业：与清查数不符\nIndustrial sources - forms entered: too low\n请核实")
    assert [f["key"] for f in fields] == ["industrial_filled", "industrial_entered"]
    assert general == "请核实"


@given(st.text(max_size=50))
def test_cells_never_start_a_formula(raw: str) -> None:
    cell = text_cell(raw)
    assert not cell.startswith(("=", "+", "-", "@")) and cell.endswith(raw)
