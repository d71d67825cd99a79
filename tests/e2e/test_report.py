"""Progress reports through the emulator: guided, quick form, spreadsheet, rules, restart,
corrections, refusals, /status and /export."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.reports import Report
from bot.services.access import users as users_service
from bot.services.reports import submission as reports_service
from bot.services.reports.templates import data_dir, get_template
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, start_bot

LIAISON = 5101  # liaison of 中原区 410102
HEAD = 5102  # office head of 郑州市 410100
STRANGER = 5103
TWO_UNITS = 5104  # liaison of 410102 and 410103

FULL = ("工业 120 工业录入 100 农业 30 农业录入 20 锅炉 10 锅炉录入 8 集中式 5 集中式录入 5 "
        "移动源 12 移动源录入 10")


async def _setup(url: str, clock: Clock) -> None:
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    async with sm() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
        await s.commit()  # the test is the unit-of-work owner
    async with sm() as s:
        rows = reports_service.read_targets_file(data_dir() / "targets" /
                                                 "zhengzhou.synthetic.yaml")
        await reports_service.import_targets(s, rows, source="synthetic", now=clock())
        await s.commit()  # the test is the unit-of-work owner
    for user, role, unit in ((LIAISON, "liaison", "410102"), (HEAD, "office_head", "410100"),
                             (TWO_UNITS, "liaison", "410102"), (TWO_UNITS, "liaison", "410103")):
        async with sm() as s:
            await users_service.grant_role(s, now=clock(), user_id=user, role=role,
                                           unit_code=unit)
            await s.commit()  # the test is the unit-of-work owner
    await engine.dispose()


async def _reports(url: str) -> list[Report]:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        rows = list((await s.scalars(select(Report).order_by(Report.id))).all())
    await engine.dispose()
    return rows


@pytest.fixture
async def ready(app: BotApp, sqlite_url: str, clock: Clock) -> BotApp:
    """The bot with Zhengzhou, synthetic targets and role grants, at 2018-10-08 10:00."""
    clock.set(at("2018-10-08 10:00"))
    await _setup(sqlite_url, clock)
    return app


def _plain(msg: dict[str, Any]) -> str:
    """The message as the user reads it: tags removed, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(msg.get("text") or msg.get("caption") or "")))


def _buttons(msg: dict[str, Any]) -> list[str]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def _quick(emu: Emulator, user: dict[str, Any], text: str) -> dict[str, Any]:
    await emu.send_text(user, text)
    return await emu.wait_for_bot_message(user["id"])


async def _confirm(emu: Emulator, user: dict[str, Any], summary: dict[str, Any]) -> str:
    await emu.click(user, summary, "rp:confirm")
    saved = await emu.wait_for_bot_message(user["id"], lambda m: "✅" in _plain(m)
                                           or "not" in _plain(m))
    return str(_plain(saved))


async def test_quick_form_summary_confirm_and_saved(emu: Emulator, ready: BotApp,
                                                    sqlite_url: str) -> None:
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    summary = await _quick(emu, user, "/report " + FULL + " 培训 2 采集率 85% 问题：缺平板")
    text = _plain(summary)
    assert "中原区" in text and "工业源 已填报：120" in text and "/ 883" in text
    assert "缺平板" in text and "rp:confirm" in _buttons(summary)
    assert await _reports(sqlite_url) == []  # nothing saved before confirmation
    saved = await _confirm(emu, user, summary)
    assert "已提交" in saved
    rows = await _reports(sqlite_url)
    assert len(rows) == 1 and rows[0].version == 1 and rows[0].source == "quick"
    assert rows[0].values["industrial_filled"] == 120 and rows[0].values["collection_rate"] == 85
    assert rows[0].values["problems"] == "缺平板" and rows[0].submitted_by == LIAISON


async def test_quick_form_english_aliases_chinese_numerals_and_separators(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:
    user = emu.user(id=LIAISON, first_name="L", language_code="en")
    summary = await _quick(
        emu, user, "/report industrial=一百二十 ind_e=1，00 livestock=30 agr_e=20 boilers=10 "
        "dom_e=8 cen=5 cen_e=5 mobile=12 mob_e=10")
    # "1，00" is not a thousands group: refused, naming the number
    assert "not accepted" in _plain(summary) and "00" in _plain(summary)
    summary = await _quick(
        emu, user, "/report industrial=一百二十 ind_e=1,00 ".replace("1,00", "100")
        + "livestock=30 agr_e=20 boilers=10 dom_e=8 cen=5 cen_e=5 mobile=12 mob_e=10")
    assert "Industrial sources - forms filled: 120" in _plain(summary)
    await _confirm(emu, user, summary)
    assert (await _reports(sqlite_url))[0].values["industrial_filled"] == 120


@pytest.mark.parametrize(("text", "expected"), [
    ("工业 900", "工业源 已填报：900 超过目标 883，多出 17"),  # above: asks for 新增
    ("工业 -5", "工业源 已填报 不能为负数"),  # negative
    ("工业 12.5", "工业源 已填报：应为整数"),  # whole number
    ("采集率 120", "采集完成率：百分比应在 0 到 100 之间"),  # percent range
    ("工业 50 工业录入 60", "工业源 已录入 (60) 不能大于 工业源 已填报 (50)"),  # cross-field
    ("钢铁 5", "未知的字段名“钢铁”"),  # unknown alias
    ("工业", "工业源 已填报：没有给出数值"),  # name without value
    ("工业 5 工业 6", "工业源 已填报 重复填写"),  # given twice
    ("经费 1.234", "到位经费：最多两位小数"),  # money
])
async def test_each_rule_is_refused_with_its_message(emu: Emulator, ready: BotApp,
                                                     sqlite_url: str, text: str,
                                                     expected: str) -> None:
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    reply = await _quick(emu, user, "/report " + text)
    assert expected in _plain(reply), _plain(reply)
    assert "rp:confirm" not in _buttons(reply)
    assert await _reports(sqlite_url) == []


async def test_required_fields_are_named(emu: Emulator, ready: BotApp) -> None:
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    reply = await _quick(emu, user, "/report 工业 5")
    assert "农业源/畜禽养殖 已填报 为必填项" in _plain(reply)
    assert "rp:confirm" not in _buttons(reply)


async def test_decrease_needs_reason_then_correction_is_version_2(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    await _confirm(emu, user, await _quick(emu, user, "/report " + FULL))
    summary = await _quick(emu, user, "/report 工业 110 工业录入 90")
    assert "这将是第 2 版" in _plain(summary)
    assert "工业源 已填报：110 份 (-10) / 883" in _plain(summary)  # the change is shown
    assert "累计数不会减少" in _plain(summary) and "rp:confirm" not in _buttons(summary)
    await emu.send_text(user, "重复统计了10家企业")
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "重复统计了10家企业" in _plain(summary) and "rp:confirm" in _buttons(summary)
    saved = await _confirm(emu, user, summary)
    assert "第 2 版" in saved
    rows = await _reports(sqlite_url)
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].values["industrial_filled"] == 120  # history kept
    assert rows[1].values["industrial_filled"] == 110 and rows[1].reason == "重复统计了10家企业"
    assert rows[1].values["livestock_filled"] == 30  # unchanged fields carried over
    assert rows[1].submitted_by == LIAISON and rows[1].submitted_at >= rows[0].submitted_at


async def test_decrease_against_previous_period_also_needs_reason(
        emu: Emulator, ready: BotApp, clock: Clock) -> None:
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    await _confirm(emu, user, await _quick(emu, user, "/report " + FULL))
    clock.set(at("2018-10-09 10:00"))
    summary = await _quick(emu, user, "/report 工业 100")
    assert "低于上次的 120" in _plain(summary) and "rp:confirm" not in _buttons(summary)


async def test_guided_with_restart_back_skip_and_resume(emu: Emulator, sqlite_url: str) -> None:
    clock = Clock(at("2018-10-08 10:00"))
    await _setup(sqlite_url, clock)
    app = await start_bot(emu, sqlite_url, clock=clock)
    user = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    try:
        await emu.send_text(user, "/report")
        await emu.wait_for_bot_message(LIAISON, lambda m: "一次问一个字段" in _plain(m))
        ask = await emu.wait_for_bot_message(LIAISON)
        assert "(1/16) 工业源 已填报" in _plain(ask) and "目标：883" in _plain(ask)
        await emu.send_text(user, "abc")
        again = await emu.wait_for_bot_message(LIAISON)
        assert "请输入数字" in _plain(again) and "(1/16)" in _plain(again)
        await emu.send_text(user, "-5")  # negative: asked again
        again = await emu.wait_for_bot_message(LIAISON)
        assert "不能为负数" in _plain(again) and "(1/16)" in _plain(again)
        await emu.send_text(user, "一百二十")
        ask2 = await emu.wait_for_bot_message(LIAISON)
        assert "(2/16) 工业源 已录入" in _plain(ask2)
        await emu.send_text(user, "130")  # entered > filled
        again = await emu.wait_for_bot_message(LIAISON)
        assert "不能大于 工业源 已填报 (120)" in _plain(again)
        await emu.click(user, again, "rp:back")
        back = await emu.wait_for_bot_message(LIAISON)
        assert "(1/16)" in _plain(back) and "rp:keep" in _buttons(back)
        await emu.click(user, back, "rp:keep")
        ask2 = await emu.wait_for_bot_message(LIAISON)
        assert "(2/16)" in _plain(ask2)
        await emu.send_text(user, "100")
        await emu.wait_for_bot_message(LIAISON, lambda m: "(3/16)" in _plain(m))
    finally:
        await app.stop()  # the process goes away in the middle of the conversation

    app = await start_bot(emu, sqlite_url, clock=clock)
    try:
        await emu.send_text(user, "30")  # continues where it stopped, no /report needed
        ask = await emu.wait_for_bot_message(LIAISON)
        assert "(4/16) 农业源/畜禽养殖 已录入" in _plain(ask)
    finally:
        await app.stop()

    app = await start_bot(emu, sqlite_url, clock=clock)
    try:
        await emu.send_text(user, "/report")  # offered to continue
        offer = await emu.wait_for_bot_message(LIAISON)
        assert "未完成的报告" in _plain(offer) and "已填 3 / 16" in _plain(offer)
        await emu.click(user, offer, "rp:resume")
        ask = await emu.wait_for_bot_message(LIAISON)
        assert "(4/16)" in _plain(ask)
        for value in ("20", "10", "8", "5", "5", "12", "10"):
            await emu.send_text(user, value)
            ask = await emu.wait_for_bot_message(LIAISON)
        assert "(11/16) 现场核查" in _plain(ask) and "rp:skip" in _buttons(ask)
        for _ in range(5):  # skip the optional fields, one of them typed as text
            await emu.click(user, ask, "rp:skip")
            ask = await emu.wait_for_bot_message(LIAISON)
        assert "(16/16) 存在问题及需求" in _plain(ask)
        await emu.send_text(user, "人手不足")
        summary = await emu.wait_for_bot_message(LIAISON)
        assert "工业源 已填报：120" in _plain(summary) and "人手不足" in _plain(summary)
        saved = await _confirm(emu, user, summary)
        assert "已提交" in saved
    finally:
        await app.stop()
    rows = await _reports(sqlite_url)
    assert len(rows) == 1 and rows[0].source == "guided"
    assert rows[0].values["livestock_entered"] == 20 and "onsite_checks" not in rows[0].values


async def test_spreadsheet_round_trip(emu: Emulator, ready: BotApp, sqlite_url: str) -> None:
    user = emu.user(id=LIAISON, first_name="L", language_code="en")
    await emu.send_text(user, "/report template")
    doc = await emu.wait_for_bot_message(LIAISON)
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    ws = wb.active
    assert ws is not None
    keys = {}
    for row in ws.iter_rows(min_row=7):
        keys[row[0].value] = row[0].row
        assert row[1].value  # a label on every row
    assert ws.cell(keys["industrial_filled"], 5).value == 883  # target shown
    values = {"industrial_filled": 120, "industrial_entered": "1,00", "livestock_filled": 30,
              "livestock_entered": 20, "domestic_filled": 10, "domestic_entered": 8,
              "centralized_filled": 5, "centralized_entered": 5, "mobile_filled": 12,
              "mobile_entered": 10}
    for key, value in values.items():
        ws.cell(keys[key], 7).value = value
    buf = io.BytesIO()
    wb.save(buf)
    await emu.send_document(user, "filled.xlsx", buf.getvalue())
    reply = await emu.wait_for_bot_message(LIAISON)
    assert "Industrial sources - forms entered: “1,00” is not a number" in _plain(reply)
    ws.cell(keys["industrial_entered"], 7).value = "一百"
    buf = io.BytesIO()
    wb.save(buf)
    await emu.send_document(user, "filled.xlsx", buf.getvalue())
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "Industrial sources - forms entered: 100" in _plain(summary)
    await _confirm(emu, user, summary)
    rows = await _reports(sqlite_url)
    assert rows[0].source == "xlsx" and rows[0].values["industrial_entered"] == 100
    await emu.send_document(user, "junk.xlsx", b"not a workbook")
    assert "not an Excel workbook" in _plain(await emu.wait_for_bot_message(LIAISON))
    other = Workbook()
    sheet = other.active
    assert sheet is not None
    sheet.append(["hello"])
    buf = io.BytesIO()
    other.save(buf)
    await emu.send_document(user, "other.xlsx", buf.getvalue())
    assert "not a report form" in _plain(await emu.wait_for_bot_message(LIAISON))


async def test_refusal_for_users_without_the_role(emu: Emulator, ready: BotApp,
                                                  sqlite_url: str) -> None:
    user = emu.user(id=STRANGER, first_name="X", language_code="zh-hans")
    for text in ("/report", "/report 工业 5", "/report template"):
        reply = await _quick(emu, user, text)
        assert "只有联络员或普查办主任" in _plain(reply)
    await emu.send_document(user, "r.xlsx", b"x")
    assert "只有联络员或普查办主任" in _plain(await emu.wait_for_bot_message(STRANGER))
    assert "仅限联络员、普查办主任和领导" in _plain(await _quick(emu, user, "/status"))
    assert await _reports(sqlite_url) == []


async def test_several_units_choose_by_button(emu: Emulator, ready: BotApp,
                                              sqlite_url: str) -> None:
    user = emu.user(id=TWO_UNITS, first_name="双", language_code="zh-hans")
    choose = await _quick(emu, user, "/report " + FULL)
    assert _buttons(choose)[:2] == ["rpq:410102:survey", "rpq:410103:survey"]
    await emu.click(user, choose, "rpq:410103:survey")
    summary = await emu.wait_for_bot_message(TWO_UNITS)
    assert "二七区" in _plain(summary)
    await _confirm(emu, user, summary)
    assert [r.unit_code for r in await _reports(sqlite_url)] == ["410103"]
    # a unit code in the message picks the unit directly
    summary = await _quick(emu, user, "/report 410102 " + FULL)
    assert "中原区" in _plain(summary)


async def test_status_and_export_match_the_submitted_numbers(
        emu: Emulator, ready: BotApp, clock: Clock) -> None:
    liaison = emu.user(id=LIAISON, first_name="L", language_code="zh-hans")
    await _confirm(emu, liaison, await _quick(emu, liaison, "/report " + FULL))
    two = emu.user(id=TWO_UNITS, first_name="双", language_code="zh-hans")
    clock.set(at("2018-10-08 19:00"))  # after the 18:00 deadline: late
    choose = await _quick(emu, two, "/report " + FULL.replace("工业 120", "工业 300"))
    await emu.click(two, choose, "rpq:410103:survey")
    await _confirm(emu, two, await emu.wait_for_bot_message(TWO_UNITS))

    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    status = _plain(await _quick(emu, head, "/status"))
    assert "按时 1 · ⏰ 迟报 1 · ❌ 未报 14" in status
    assert "工业源 已填报：420 / 12,616 (3.3%)" in status  # 120 + 300 against the city total
    assert "迟报：二七区" in status  # no space after full-width punctuation
    ranking = status.split("排名")[1]
    assert ranking.index("二七区") < ranking.index("中原区")  # 300/1011 ahead of 177/1114

    await emu.send_text(head, "/export")
    doc = await emu.wait_for_bot_message(HEAD)
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    ws = wb.worksheets[0]  # named after the table, in the reader's language
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    header = next(ws.iter_rows(min_row=2, max_row=2, values_only=True))
    col = next(i for i, h in enumerate(header) if str(h).startswith("工业源 已填报"))
    assert rows["410102"][2] == "已提交" and rows["410102"][col] == 120
    assert rows["410103"][2] == "迟报" and rows["410103"][col] == 300
    assert rows["410104"][2] == "未报" and rows["410104"][col] is None
    assert rows["410100"][1] == "合计" and rows["410100"][col] == 420
    assert len(rows) == 17  # 16 counties and the total
    tmpl = get_template("survey")
    assert len(header) == 5 + sum(1 for f in tmpl.fields if f.numeric) + 3  # rate, 新增, text

    # an earlier period by date: nobody had reported yet, so every unit is missing
    await emu.send_text(head, "/export 2018-10-01")
    doc = await emu.wait_for_bot_message(HEAD)
    assert doc["document"]["file_name"] == "progress_410100_2018-10-01.xlsx"
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    earlier = {r[0]: r for r in wb.worksheets[0].iter_rows(min_row=3, values_only=True)}
    assert earlier["410102"][2] == "未报" and earlier["410102"][col] is None
    assert earlier["410100"][col] in (0, None)
    bad = _plain(await _quick(emu, head, "/export 2018-13-01"))
    assert "2018-13-01 不是有效日期" in bad and "/export 2018-10-08" in bad


async def test_report_help_lists_field_names(emu: Emulator, ready: BotApp) -> None:
    user = emu.user(id=STRANGER, first_name="X", language_code="zh-hans")
    text = _plain(await _quick(emu, user, "/report help"))
    assert "工业源 已填报 *：工业、工业源" in text and "一千二百" in text
    assert "industrial" not in text  # English aliases are for English readers


async def test_cancel_discards_the_draft(emu: Emulator, ready: BotApp, sqlite_url: str) -> None:
    user = emu.user(id=LIAISON, first_name="L", language_code="zh-hans")
    summary = await _quick(emu, user, "/report " + FULL)
    await emu.click(user, summary, "rp:cancel")
    assert "已取消" in _plain(await emu.wait_for_bot_message(LIAISON))
    update = await emu.click(user, summary, "rp:confirm", strict=False)  # a stale button
    answer = await emu.wait_for_callback_answer(update["callback_query"]["id"])
    assert "不再处于打开状态" in answer.get("text", "")
    assert await _reports(sqlite_url) == []
