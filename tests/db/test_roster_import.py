"""Roster import on SQLite and PostgreSQL: validation, encodings, XLSX, upserts, file errors."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.audit import AuditEntry
from bot.db.models.staff import Staff
from bot.services.roster import org as org_service
from bot.services.roster.importer import ImportResult, RosterFileError, import_roster
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")
HEADER = ["staff_id", "name", "role", "unit_code", "phone", "org", "valid_to", "status"]
GOOD = ["ZZ-410102-0001", "王伟", "enumerator", "410102", "13800000001", "", "2019-12-31", ""]


def csv_bytes(rows: list[list[Any]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    lines = [",".join(header)] + [",".join(str(c) for c in r) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def xlsx_bytes(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def load_org(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)


async def staff_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Staff)) or 0)


async def audit_count(session: AsyncSession) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "staff.import"))
        or 0)


def only_reason(result: ImportResult, row: int) -> tuple[str, str, str]:
    (outcome,) = [o for o in result.outcomes if o.row == row]
    assert outcome.outcome == "rejected"
    (reason,) = outcome.reasons
    return reason.column, reason.rule, reason.message


async def test_good_rows_import_and_bad_rows_are_reported(session: AsyncSession) -> None:
    await load_org(session)
    rows = [
        GOOD,
        ["ZZ-410102-0002", "李娜", "supervisor", "410102", "0371-66661234", "某检测公司",
         "2019/12/31", "active"],
        ["", "无编号", "enumerator", "410102", "13800000003", "", "", ""],  # row 4: missing id
        ["ZZ-4", "张敏", "enumerator", "999999", "13800000004", "", "", ""],  # row 5: unit
        ["ZZ-5", "刘洋", "boss", "410102", "13800000005", "", "", ""],  # row 6: role
        ["ZZ-6", "陈静", "enumerator", "410102", "12345", "", "", ""],  # row 7: phone
        ["ZZ-7", "杨勇", "enumerator", "410102", "13800000007", "", "2019-02-30", ""],  # date
        ["ZZ-8", "黄艳", "enumerator", "410102", "13800000008", "", "", "gone"],  # status
        ["ZZ-9", "赵" * 101, "enumerator", "410102", "13800000009", "", "", ""],  # too long
        ["ZZ-10", "吴杰", "enumerator", "410102", "13800000010", "", "", ""],
    ]
    result = await import_roster(session, csv_bytes(rows), now=NOW, file_name="roster.csv")
    assert (result.created, result.updated, result.unchanged, result.rejected) == (3, 0, 0, 7)
    assert only_reason(result, 4)[:2] == ("staff_id", "required")
    assert only_reason(result, 5)[:2] == ("unit_code", "unknown_unit")
    assert "999999" in only_reason(result, 5)[2] and "Row 5" in only_reason(result, 5)[2]
    assert only_reason(result, 6)[:2] == ("role", "bad_role")
    assert only_reason(result, 7)[:2] == ("phone", "bad_phone")
    assert only_reason(result, 8)[:2] == ("valid_to", "bad_date")
    assert only_reason(result, 9)[:2] == ("status", "bad_status")
    column, rule, message = only_reason(result, 10)
    assert (column, rule) == ("name", "too_long") and "101" in message and "100" in message
    assert await staff_count(session) == 3
    second = await session.get(Staff, "ZZ-410102-0002")
    assert second is not None
    assert (second.role, second.phone, second.org, second.valid_to, second.status) == (
        "supervisor", "+8637166661234", "某检测公司", date(2019, 12, 31), "active")
    first = await session.get(Staff, "ZZ-410102-0001")
    assert first is not None and first.phone == "+8613800000001" and first.status == "active"
    assert first.org is None
    entries = (await session.scalars(
        select(AuditEntry).where(AuditEntry.action == "staff.import"))).all()
    assert len(entries) == 1
    assert entries[0].details["file_name"] == "roster.csv"
    assert (entries[0].details["created"], entries[0].details["rejected"]) == (3, 7)


async def test_duplicates_identical_keep_first_conflicting_reject_all(
    session: AsyncSession,
) -> None:
    await load_org(session)
    same = ["ZZ-1", "王伟", "enumerator", "410102", "13800000001", "", "", ""]
    other = ["ZZ-2", "李娜", "enumerator", "410102", "13800000002", "", "", ""]
    other_changed = ["zz-2", "李娜", "supervisor", "410102", "13800000002", "", "", ""]
    result = await import_roster(
        session, csv_bytes([same, other, same, other_changed, same]), now=NOW)
    by_row = {o.row: o for o in result.outcomes}
    assert by_row[2].outcome == "created"
    for row in (4, 6):
        reason = by_row[row].reasons[0]
        assert (reason.column, reason.rule) == ("staff_id", "duplicate")
        assert "row 2" in reason.message
    for row, other_row in ((3, "5"), (5, "3")):  # ZZ-2 vs zz-2: same id, different values
        assert by_row[row].outcome == "rejected"
        reason = by_row[row].reasons[0]
        assert reason.rule == "duplicate" and other_row in reason.message
    assert await session.get(Staff, "ZZ-2") is None
    assert await staff_count(session) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
async def test_chinese_csv_in_each_encoding(session: AsyncSession, encoding: str) -> None:
    await load_org(session)
    header = ["编号", "姓名", "角色", "单位代码", "手机号", "所属机构", "有效期至", "状态"]
    rows = [
        ["ZZ-1", "王伟", "普查员", "410102", "138 0000 0001", "", "2019年12月31日", "有效"],
        ["ZZ-2", "欧阳娜", "普查指导员", "410105", "+86 138-0000-0002", "中原环境咨询有限公司",
         "", "暂停"],
        ["ZZ-3", "买买提·艾力", "普查办主任", "410100", "13800000003", "", "", "注销"],
        ["ZZ-4", "李强", "联络员", "410103", "13800000004", "", "", ""],
        ["ZZ-5", "周芳", "领导", "410100", "13800000005", "", "", ""],
        ["ZZ-6", "郑磊", "答疑", "410100", "13800000006", "", "", ""],
    ]
    result = await import_roster(session, csv_bytes(rows, header, encoding), now=NOW)
    assert result.rejected == 0 and result.created == 6, [o.reasons for o in result.outcomes]
    assert result.columns["phone"] == "手机号"
    got = {s.staff_id: s for s in (await session.scalars(select(Staff))).all()}
    assert got["ZZ-1"].name == "王伟" and got["ZZ-1"].valid_to == date(2019, 12, 31)
    assert got["ZZ-2"].org == "中原环境咨询有限公司" and got["ZZ-2"].status == "suspended"
    assert got["ZZ-2"].phone == "+8613800000002"
    assert got["ZZ-3"].name == "买买提·艾力" and got["ZZ-3"].status == "revoked"
    assert [got[f"ZZ-{i}"].role for i in range(1, 7)] == [
        "enumerator", "supervisor", "office_head", "liaison", "leader", "qa_desk"]


async def test_xlsx_with_excel_cells_title_row_and_blank_rows(session: AsyncSession) -> None:
    await load_org(session)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["郑州市普查人员名单（测试）"])  # a title row above the header
    ws.append(["Staff ID", "NAME", "Role", "Unit Code", "Phone", "备注", "Valid To"])
    ws.append(["ZZ-1", "王伟", "Enumerator", 410102, 13800000001, "x", datetime(2019, 12, 31)])
    ws.append([None, None, None])
    ws.append(["ZZ-2", "李娜", "office head", 410102.0, 13800000002.0, None, date(2020, 6, 30)])
    ws.append(["ZZ-3", "张敏", "supervisor", "410102", "13800000003", None, 43830])
    buf = io.BytesIO()
    wb.save(buf)
    result = await import_roster(session, buf.getvalue(), now=NOW, file_name="r.xlsx")
    assert result.kind == "xlsx" and result.ignored_columns == ["备注"]
    assert [(o.row, o.outcome) for o in result.outcomes] == [
        (3, "created"), (5, "created"), (6, "rejected")]
    assert only_reason(result, 6)[:2] == ("valid_to", "bad_date")
    one = await session.get(Staff, "ZZ-1")
    two = await session.get(Staff, "ZZ-2")
    assert one is not None and two is not None
    assert (one.unit_code, one.phone, one.valid_to) == ("410102", "+8613800000001",
                                                        date(2019, 12, 31))
    assert (two.role, two.unit_code, two.valid_to) == ("office_head", "410102", date(2020, 6, 30))


async def test_reimport_reports_unchanged_and_updates_status_at_once(
    session: AsyncSession,
) -> None:
    await load_org(session)
    rows = [GOOD, ["ZZ-2", "李娜", "enumerator", "410102", "13800000002", "", "", ""],
            ["ZZ-3", "张敏", "enumerator", "410102", "13800000003", "", "", ""]]
    await import_roster(session, csv_bytes(rows), now=NOW)
    # someone not in the next file is left alone
    again = [GOOD, ["ZZ-2", "李娜", "enumerator", "410102", "13800000002", "", "", "revoked"]]
    result = await import_roster(session, xlsx_bytes(again), now=at("2018-10-09 09:00"))
    assert [(o.staff_id, o.outcome, o.changed) for o in result.outcomes] == [
        ("ZZ-410102-0001", "unchanged", ()), ("ZZ-2", "updated", ("status",))]
    revoked = await session.get(Staff, "ZZ-2")
    assert revoked is not None and revoked.status == "revoked"
    assert revoked.updated_at == at("2018-10-09 09:00") and revoked.created_at == NOW
    assert await session.get(Staff, "ZZ-3") is not None
    # an empty status keeps the current one: re-importing the first file does not un-revoke
    third = await import_roster(session, csv_bytes(rows), now=at("2018-10-10 09:00"))
    assert (third.updated, third.unchanged) == (0, 3)
    revoked = await session.get(Staff, "ZZ-2")
    assert revoked is not None and revoked.status == "revoked"
    assert await audit_count(session) == 3


async def test_reimport_keeps_telegram_binding_and_absent_columns(session: AsyncSession) -> None:
    await load_org(session)
    await import_roster(session, csv_bytes([GOOD]), now=NOW)
    bound = await session.get(Staff, "ZZ-410102-0001")
    assert bound is not None
    bound.telegram_user_id = 4242
    await session.commit()
    short = ["staff_id", "name", "role", "unit_code", "phone"]
    result = await import_roster(
        session, csv_bytes([["ZZ-410102-0001", "王伟", "supervisor", "410102", "13800000001"]],
                           short), now=at("2018-10-09 09:00"))
    assert result.outcomes[0].changed == ("role",)
    session.expire_all()
    bound = await session.get(Staff, "ZZ-410102-0001")
    assert bound is not None
    assert (bound.telegram_user_id, bound.role, bound.valid_to) == (4242, "supervisor",
                                                                    date(2019, 12, 31))


async def test_dry_run_changes_nothing(session: AsyncSession) -> None:
    await load_org(session)
    result = await import_roster(session, csv_bytes([GOOD]), now=NOW, dry_run=True)
    assert result.created == 1 and result.dry_run
    assert await staff_count(session) == 0 and await audit_count(session) == 0


def _docx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "empty"),
        (bytes(range(256)) * 4, "binary"),
        (b"\xff\xfe\xfd\x81\x30", "neither UTF-8 nor GB18030"),
        (_docx_like(), "not an Excel workbook"),
        (b"PK\x03\x04garbage", "damaged"),
        ("名字,电话\n王伟,13800000001\n".encode(), "staff_id"),
        (b"staff_id,name,role,unit_code,phone\n", "no data rows"),
        ("staff_id,name,编号,role,unit_code,phone\nA,b,c,d,e,f\n".encode(), "both mean"),
    ],
)
async def test_unusable_files_raise_and_change_nothing(
    session: AsyncSession, data: bytes, needle: str
) -> None:
    await load_org(session)
    await import_roster(session, csv_bytes([GOOD]), now=NOW)
    with pytest.raises(RosterFileError) as info:
        await import_roster(session, data, now=NOW, file_name="bad")
    assert needle in str(info.value)
    assert await staff_count(session) == 1 and await audit_count(session) == 1


async def test_wrong_headers_say_what_is_missing_and_what_was_found(
    session: AsyncSession,
) -> None:
    data = "编号,姓名,电话号码,部门\nZZ-1,王伟,13800000001,x\n".encode("gb18030")
    with pytest.raises(RosterFileError) as info:
        await import_roster(session, data, now=NOW)
    text = str(info.value)
    assert "missing: role, unit_code, phone" in text
    assert "Columns found: 编号, 姓名, 电话号码, 部门" in text


async def test_every_row_rejected_when_no_units_loaded(session: AsyncSession) -> None:
    result = await import_roster(session, csv_bytes([GOOD]), now=NOW)
    assert result.rejected == 1 and result.known_units == 0
    assert result.outcomes[0].reasons[0].rule == "unknown_unit"
