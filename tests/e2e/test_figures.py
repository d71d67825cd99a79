"""Figures leadership can trust, and flows that always finish (through the emulator).

An above-target count saved with its newly found objects (新增) and rolled up; a target changed
in chat with its history; the dead end after a decrease; a correction that changes nothing;
unknown commands; /export times in +08:00; a liaison's own /status.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from bot.telegram.app import BotApp
from emulator import Emulator
from tests.e2e.test_report import (
    FULL,
    HEAD,
    LIAISON,
    STRANGER,
    _buttons,
    _confirm,
    _plain,
    _quick,
    _reports,
    ready,  # noqa: F401  (the fixture)
)


async def _say(emu: Emulator, user: dict[str, Any], text: str) -> str:
    return _plain(await _quick(emu, user, text))


async def test_above_target_saved_with_new_found_and_rolled_up(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:  # noqa: F811
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    liaison = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    # the office head lowers 中原区's industrial target in chat; the history says who and when
    changed = await _say(emu, head, "/target 410102 工业 800")
    assert "中原区 的目标" in changed and "工业源 已填报：800" in changed
    assert f"2018-10-08 10:00 工业源 已填报：883 → 800（修改人 {HEAD}）" in changed
    assert "只有" in await _say(emu, liaison, "/target 410102 工业 900")  # not for liaisons
    assert "没有任何变化" in await _say(emu, head, "/target 410102 工业 800")
    # the error names the field and the rule, and the user's text comes back escaped
    bad = await _say(emu, head, "/target 410102 <b>钢铁</b> 5")
    assert "目标：“<b>钢铁</b>”不是本表的源类型" in bad  # shown literally (HTML-escaped)

    summary = await _quick(emu, liaison, "/report " + FULL.replace("工业 120", "工业 900"))
    text = _plain(summary)
    assert "工业源 已填报：900 超过目标 800，多出 100。" in text
    assert "新增了多少个对象（至少 100 个）" in text
    assert "rp:confirm" not in _buttons(summary) and "rp:nf" in _buttons(summary)
    await emu.send_text(liaison, "99")  # fewer than the excess: refused, asked again
    again = await emu.wait_for_bot_message(LIAISON)
    assert "不能少于超出目标的 100 个" in _plain(again) and "rp:confirm" not in _buttons(again)
    await emu.send_text(liaison, "120")
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "新增（工业源 已填报）：120" in _plain(summary) and "rp:confirm" in _buttons(summary)
    saved = await _confirm(emu, liaison, summary)
    assert "已记录新增对象 120 个" in saved
    [row] = await _reports(sqlite_url)
    assert row.values["industrial_filled"] == 900 and row.new_found == {"industrial": 120}

    status = await _say(emu, head, "/status 410102")
    assert "工业源 已填报：900 / 800 (112.5%) （新增 120）" in status
    city = await _say(emu, head, "/status")
    assert "工业源 已填报：900 / 12,533" in city and "（新增 120）" in city


async def test_the_all_new_button_and_the_dead_end_after_a_decrease(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:  # noqa: F811
    liaison = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    summary = await _quick(emu, liaison, "/report " + FULL.replace("工业 120", "工业 900"))
    await emu.click(liaison, summary, "rp:nf")  # all 17 above the target are newly found
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "新增（工业源 已填报）：17" in _plain(summary)
    await _confirm(emu, liaison, summary)

    # the repro: a smaller quick form breaks a rule (boilers entered 8 > filled 5) and lowers
    # a cumulative figure; the reason typed first, then the fix, lead to the confirm button
    summary = await _quick(emu, liaison, "/report 工业 480 锅炉 5")
    text = _plain(summary)
    assert "不能大于" in text and "累计数不会减少" in text and "rp:confirm" not in _buttons(summary)
    assert "请在一条消息中发送更正后的数值" in text
    await emu.send_text(liaison, "锅炉核减了三台报废设备")
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "原因：锅炉核减了三台报废设备" in _plain(summary)
    assert "rp:confirm" not in _buttons(summary)  # the boilers rule still holds
    await emu.send_text(liaison, "锅炉录入 5")
    summary = await emu.wait_for_bot_message(LIAISON)
    assert "rp:confirm" in _buttons(summary), _plain(summary)
    assert "第 2 版" in await _confirm(emu, liaison, summary)
    rows = await _reports(sqlite_url)
    assert [r.version for r in rows] == [1, 2]
    assert rows[1].values["domestic_entered"] == 5 and rows[1].reason == "锅炉核减了三台报废设备"

    # /cancel works at any prompt, and outside a conversation says there is nothing to cancel
    await _quick(emu, liaison, "/report 工业 100")
    assert "已取消" in await _say(emu, liaison, "/cancel")
    assert "没有可取消的内容" in await _say(emu, liaison, "/cancel")


async def test_a_correction_that_changes_nothing_is_refused(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:  # noqa: F811
    liaison = emu.user(id=LIAISON, first_name="L", language_code="en")
    await _confirm(emu, liaison, await _quick(emu, liaison, "/report " + FULL))
    summary = await _quick(emu, liaison, "/report 工业 120")
    await emu.click(liaison, summary, "rp:confirm")
    refused = _plain(await emu.wait_for_bot_message(LIAISON))
    assert "Nothing changed: these figures are the same as version 1" in refused
    assert len(await _reports(sqlite_url)) == 1


async def test_unknown_commands_get_help(emu: Emulator, ready: BotApp) -> None:  # noqa: F811
    stranger = emu.user(id=STRANGER, first_name="X", language_code="zh-hans")
    reply = await _say(emu, stranger, "/foo bar")
    assert "不认识命令 /foo" in reply and "/help" in reply and "/verify 编号" in reply
    english = emu.user(id=STRANGER + 50, first_name="Y", language_code="en")
    reply = await _say(emu, english, "/cancel")
    assert "There is nothing to cancel" in reply and "/help" in reply
    # /help in Chinese names arguments in Chinese
    liaison = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    assert "/report [模板|帮助]" in await _say(emu, liaison, "/help")


async def test_export_times_in_beijing_time_and_liaison_status(
        emu: Emulator, ready: BotApp) -> None:  # noqa: F811
    liaison = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    await _confirm(emu, liaison, await _quick(emu, liaison, "/report " + FULL))  # 10:00 +08:00
    own = await _say(emu, liaison, "/status")
    assert "中原区" in own and "工业源 已填报：120 / 883" in own and "二七区" not in own
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    await emu.send_text(head, "/export")
    doc = await emu.wait_for_bot_message(HEAD)
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    ws = wb.worksheets[0]
    assert ws.title == "入户调查进度调度表"
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows["410102"][3] == "2018-10-08 10:00 +08:00"
    header = next(ws.iter_rows(min_row=2, max_row=2, values_only=True))
    assert not any(str(h).isascii() for h in header if h), header  # no English headers
