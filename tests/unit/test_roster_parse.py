"""Property and example tests of the roster file reader and row validators (no database)."""

from __future__ import annotations

import string
from datetime import date, datetime

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import Catalogs
from bot.services.roster.files import read_tables
from bot.services.roster.importer import (
    COLUMNS,
    REQUIRED,
    RosterFileError,
    clean_row,
    map_header,
    parse_phone,
    parse_roster,
)

UNITS = frozenset({"410102", "410105"})
cells = st.one_of(
    st.none(), st.text(max_size=300), st.integers(), st.floats(), st.booleans(),
    st.dates(), st.datetimes(),
    st.sampled_from(["普查员", "enumerator", "有效", "revoked", "13800000000", "0371-66661234",
                     "2019年12月31日", "2019/2/29", "410102", " ", "\x00", "ＺＺ－１"]),
)
raw_rows = st.dictionaries(st.sampled_from(COLUMNS), cells)


@settings(max_examples=300, deadline=None)
@given(raw=raw_rows, row=st.integers(min_value=1, max_value=10**6))
def test_validator_never_crashes_and_names_the_column(raw: dict[str, object], row: int) -> None:
    values, problems = clean_row(row, raw, unit_codes=UNITS)
    for p in problems:
        assert p.column in COLUMNS and p.column in raw
        assert p.row == row
        assert f"Row {row}, column {p.column}" in p.message
        assert p.column not in values
    for col in raw:  # every present column is either accepted or explained
        assert (col in values) != any(p.column == col for p in problems)
    for col in REQUIRED:
        if col in values:
            assert values[col]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000))
def test_reader_refuses_junk_with_a_file_error_only(data: bytes) -> None:
    try:
        parsed = parse_roster(data)
    except RosterFileError as exc:
        assert str(exc)
    else:  # junk that happens to parse must at least have the required header
        assert all(c in parsed.columns for c in REQUIRED)


@settings(max_examples=200, deadline=None)
@given(header=st.lists(st.one_of(st.none(), st.text(max_size=20), st.integers()), max_size=12))
def test_header_mapping_never_crashes(header: list[object]) -> None:
    try:
        index, headings, ignored = map_header(header)
    except RosterFileError as exc:
        assert "both mean" in str(exc)
    else:
        assert set(index) == set(headings) <= set(COLUMNS)
        assert len(index) + len(ignored) <= len(header)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=string.printable + "编号姓名，", max_size=500))
def test_any_text_file_is_a_table_or_a_clear_error(text: str) -> None:
    for encoding in ("utf-8", "gb18030"):
        try:
            tables = read_tables(text.encode(encoding))
        except RosterFileError as exc:
            assert str(exc)
        else:
            assert tables and all(n >= 1 for t in tables for n, _c in t.rows)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-12-31", date(2019, 12, 31)), ("2019/12/31", date(2019, 12, 31)),
        ("2019年12月31日", date(2019, 12, 31)), ("2019.1.5", date(2019, 1, 5)),
        ("2019-12-31 00:00:00", date(2019, 12, 31)), ("２０１９－１２－３１", date(2019, 12, 31)),
        (datetime(2019, 12, 31, 0, 0), date(2019, 12, 31)), (date(2020, 2, 29), date(2020, 2, 29)),
    ],
)
def test_dates_accepted(value: object, expected: date) -> None:
    values, problems = clean_row(2, {"valid_to": value})
    assert problems == [] and values["valid_to"] == expected


@pytest.mark.parametrize("value", ["2019-02-29", "31/12/2019", "12/31/2019", "明年", "43830",
                                   43830, "2019-12-31 08:00", "0001-01-01"])
def test_dates_refused(value: object) -> None:
    _values, problems = clean_row(2, {"valid_to": value})
    assert [(p.column, p.rule) for p in problems] == [("valid_to", "bad_date")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800000000", "+8613800000000"), ("138-0000-0000", "+8613800000000"),
        ("+86 138 0000 0000", "+8613800000000"), (13800000000, "+8613800000000"),
        (13800000000.0, "+8613800000000"), ("0371-66661234", "+8637166661234"),
        ("17012345678", "+8617012345678"), ("+852 5123 4567", "+85251234567"),
        ("１３８００００００００", "+8613800000000"),
    ],
)
def test_phones_normalised_to_e164(value: object, expected: str) -> None:
    values, problems = clean_row(2, {"phone": value})
    assert problems == [] and values["phone"] == expected


@pytest.mark.parametrize("value", ["12345", "1380000000", "138000000000", "abc", "1.38E+10",
                                   "+86 000", "10086x"])
def test_phones_refused(value: str) -> None:
    _values, problems = clean_row(2, {"phone": value})
    assert [(p.column, p.rule) for p in problems] == [("phone", "bad_phone")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("普查员", "enumerator"), ("Enumerator", "enumerator"), ("office head", "office_head"),
     ("OFFICE-HEAD", "office_head"), ("普查办主任", "office_head"), ("答疑", "qa_desk"),
     ("qa desk", "qa_desk"), ("普查指导员", "supervisor"), ("联络员", "liaison"),
     ("领导", "leader")],
)
def test_roles_in_english_or_chinese(value: str, expected: str) -> None:
    assert clean_row(2, {"role": value})[0]["role"] == expected


def test_status_empty_is_left_to_the_importer_and_aliases_map() -> None:
    assert clean_row(2, {"status": ""})[0]["status"] is None
    assert clean_row(2, {"status": "注销"})[0]["status"] == "revoked"
    assert clean_row(2, {"status": " Suspended "})[0]["status"] == "suspended"


def test_staff_id_normalised_and_checked() -> None:
    assert clean_row(2, {"staff_id": " zz-410102-0001 "})[0]["staff_id"] == "ZZ-410102-0001"
    assert clean_row(2, {"staff_id": "ＺＺ－０１"})[0]["staff_id"] == "ZZ-01"
    _v, problems = clean_row(2, {"staff_id": "ZZ 01"})
    assert [(p.column, p.rule) for p in problems] == [("staff_id", "bad_staff_id")]
    _v, problems = clean_row(2, {"staff_id": "Z" * 65})
    assert [(p.column, p.rule) for p in problems] == [("staff_id", "too_long")]


def test_messages_use_the_heading_written_in_the_file() -> None:
    _v, problems = clean_row(7, {"phone": "1"}, headings={"phone": "手机号"})
    assert problems[0].message.startswith("Row 7, column 手机号 (phone): 1 is not a valid")


def test_header_aliases_ignore_case_spaces_and_width() -> None:
    index, _h, ignored = map_header(["Staff ID", " NAME ", "角色", "unit-code", "ＰＨＯＮＥ",
                                     "备注", None, "有效期至"])
    assert index == {"staff_id": 0, "name": 1, "role": 2, "unit_code": 3, "phone": 4,
                     "valid_to": 7}
    assert ignored == ["备注"]


def test_tab_separated_utf16_with_title_and_comment_rows() -> None:
    text = ("# exported\n郑州市名单\n编号\t姓名\t角色\t单位代码\t手机号\n"
            "ZZ-1\t王伟\t普查员\t410102\t13800000000\n")
    parsed = parse_roster(text.encode("utf-16"))
    assert parsed.encoding == "utf-16"
    assert parsed.rows == [(4, {"staff_id": "ZZ-1", "name": "王伟", "role": "普查员",
                                "unit_code": "410102", "phone": "13800000000"})]


@settings(max_examples=500, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=10, max_size=10),
       style=st.sampled_from(["{}", "+86{}", "86 {}", "{} ", "+86-{}"]))
def test_mobile_fast_path_agrees_with_phonenumbers(digits: str, style: str) -> None:
    number = "1" + digits
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        expected = None
    else:
        expected = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                    if phonenumbers.is_valid_number(parsed) else None)
    assert parse_phone(style.format(number)) == expected


def test_messages_render_in_chinese() -> None:
    zh = Catalogs().get("zh_CN").gettext
    _v, problems = clean_row(7, {"phone": "1"}, headings={"phone": "手机号"})
    assert problems[0].render(zh).startswith("第 7 行，手机号 (phone) 列：1 不是有效的电话号码")
    with pytest.raises(RosterFileError) as info:
        parse_roster(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert info.value.render(zh) == "此文件是PNG 图片，不是人员名单，请发送 CSV 或 XLSX 文件。"
