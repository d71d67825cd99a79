"""The quick-form parser: aliases, numbers in every written form, and no input crashes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.reports.quickform import parse_chinese_number, parse_number, parse_quick
from bot.services.reports.templates import get_template

SURVEY = get_template("survey")


@pytest.mark.parametrize(("text", "value"), [
    ("120", 120), ("1,200", 1200), ("1，200", 1200), ("１２０", 120), ("12,345,678", 12345678),
    ("3.5", 3.5), ("85%", 85), ("85％", 85), ("1.2万", 12000), ("-5", -5),
    ("一百二十", 120), ("十五", 15), ("两千零五", 2005), ("一万二千三百四十五", 12345),
    ("三点五", 3.5), ("一二〇", 120), ("零", 0), ("负五", -5), ("二十万", 200000),
])
def test_numbers(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "12,00", "1,2345", "百百", "十百", "一二百", "1.2.3",
                                  "点", "5 6"])
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_chinese_number_round_numbers() -> None:
    assert parse_chinese_number("一千") == 1000 and parse_chinese_number("一亿") == 1e8


@pytest.mark.parametrize("text", [
    "工业 120 锅炉 5", "industrial=120 boilers=5", "工业120锅炉5", "工业：120，锅炉：5",
    "INDUSTRIAL = 120; Boilers: 5", "工业源 一百二十 生活源 五", "工业 120、锅炉 5",
])
def test_forms_of_the_same_report(text: str) -> None:
    result = parse_quick(text, SURVEY, "zh_CN")
    assert result.problems == []
    assert result.values == {"industrial_filled": 120, "domestic_filled": 5}


def test_longest_alias_wins_and_ascii_words_are_whole() -> None:
    result = parse_quick("工业录入 90 工业 100 industry 5", SURVEY, "en")
    assert result.values == {"industrial_entered": 90, "industrial_filled": 100}
    assert [p.field for p in result.problems] == ["industry"]


def test_text_field_takes_the_rest() -> None:
    result = parse_quick("工业 1 问题：平板不够, 需要培训 2 场", SURVEY, "zh_CN")
    assert result.values == {"industrial_filled": 1, "problems": "平板不够, 需要培训 2 场"}


def test_thousands_and_field_separators() -> None:
    result = parse_quick("工业 1,200，锅炉 5", SURVEY, "zh_CN")
    assert result.values == {"industrial_filled": 1200, "domestic_filled": 5}


def test_problems_name_the_field_or_word() -> None:
    result = parse_quick("5 钢铁 7 工业 工业 3 工业 4", SURVEY, "zh_CN")
    fields = [p.field for p in result.problems]
    assert fields == ["5", "钢铁", "industrial_filled", "industrial_filled"]
    rendered = [p.render(lambda s: s) for p in result.problems]
    assert "The number 5 has no field name before it." in rendered
    assert any("钢铁" in r for r in rendered)
    assert "工业源 已填报: no value given." in rendered
    assert "工业源 已填报 is given twice." in rendered


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_no_input_crashes_and_every_problem_names_a_field(text: str) -> None:
    result = parse_quick(text, SURVEY, "zh_CN")
    for key in result.values:
        assert key in SURVEY.keys
    for p in result.problems:
        assert p.field
        assert p.field in SURVEY.keys or p.field in text or p.field in _nfkc(text)
        rendered = p.render(lambda s: s)
        label_or_word = p.params.get("field") or p.params.get("word") or p.params.get("value")
        assert label_or_word and str(label_or_word) in rendered


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([a for f in SURVEY.fields if f.type != "text"
                                           for a in (f.key, *f.aliases)]),
                          st.integers(min_value=0, max_value=10**7)), max_size=6),
       st.sampled_from([" ", "=", ":", "：", ""]), st.sampled_from([" ", "，", ";", "、"]))
def test_generated_reports_parse_back(pairs: list[tuple[str, int]], eq: str, sep: str) -> None:
    text = sep.join(f"{alias}{eq}{value:,}" if value % 2 else f"{alias}{eq}{value}"
                    for alias, value in pairs)
    result = parse_quick(text, SURVEY, "en")
    seen: dict[str, int] = {}
    for alias, value in pairs:
        key = next(f.key for f in SURVEY.fields if alias in (f.key, *f.aliases))
        seen.setdefault(key, value)
    if len(seen) == len(pairs) and (eq or sep.strip()):
        assert result.problems == [], text
        assert result.values == seen, text


def _nfkc(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=99_999_999))
def test_chinese_numerals_round_trip(n: int) -> None:
    assert parse_chinese_number(_to_chinese(n)) == n


def _to_chinese(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n == 0:
        return "零"

    def section(x: int) -> str:
        out, zero = "", False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d = x // unit % 10
            if d:
                if zero and out:
                    out += "零"
                out += digits[d] + name
                zero = False
            else:
                zero = True
        return out

    high, low = divmod(n, 10_000)
    if not high:
        return section(low)
    text = section(high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + section(low)
    return text
