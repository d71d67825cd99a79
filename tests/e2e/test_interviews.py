"""Interviews (约谈) through the emulator: a repeat offender's office is offered an interview,
records who, when and the agreed actions; the actions reach the unit, become overdue and are
escalated like orders; /orders xlsx lists them (formula characters neutralised)."""

from __future__ import annotations

import io
from datetime import date, timedelta

from openpyxl import load_workbook

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.scheduling import LAG, LATE, LateMark
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import at
from tests.e2e.harness import Clock, wait_delivered
from tests.e2e.test_orders import buttons, find, has, plain, run_job, setup_org

CITY_HEAD, COUNTY_HEAD, LIAISON = 8301, 8302, 8303


async def _marks(url: str) -> None:
    """中牟县 late twice and behind plan once within the week (synthetic marks)."""
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        for day, kind in ((date(2018, 10, 12), LATE), (date(2018, 10, 14), LATE),
                          (date(2018, 10, 15), LAG)):
            s.add(LateMark(unit_code="410122", phase="survey", period_start=day,
                           period_end=day, deadline=at(f"{day.isoformat()} 18:00"), kind=kind,
                           marked_at=at(f"{(day + timedelta(days=1)).isoformat()} 08:00"),
                           details={}))
        await s.commit()
    await engine.dispose()


async def test_interview_offered_recorded_and_overdue_action_escalated(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(at("2018-10-16 09:00"))
    await setup_org(sqlite_url, clock, ((CITY_HEAD, "office_head", "410100"),
                                        (COUNTY_HEAD, "office_head", "410122"),
                                        (LIAISON, "liaison", "410122")))
    await _marks(sqlite_url)
    head = emu.user(id=CITY_HEAD, first_name="市普查办", language_code="zh-hans")
    liaison = emu.user(id=LIAISON, first_name="中牟联络员", language_code="zh-hans")
    emu.user(id=COUNTY_HEAD, first_name="中牟主任", language_code="zh-hans")

    res = await run_job(app, at("2018-10-16 09:00"))
    assert res.details["interviews_offered"] == ["410122"]
    assert (await run_job(app, at("2018-10-16 10:00"))).details["interviews_offered"] == []
    await wait_delivered(app)
    offer = find(emu, CITY_HEAD, "是否约谈")
    assert "中牟县 近期已 3 次迟报或进度落后" in plain(offer)
    assert buttons(offer) == ["sv:iv:410122"]

    await emu.click(head, offer, "sv:iv:410122")
    prompt = plain(await emu.wait_for_bot_message(CITY_HEAD, has("约谈中牟县")))
    assert "第2行" in prompt
    await emu.send_text(head, "张某某（中牟县普查办主任）\n明天上午")
    assert "至少三行" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(head, "张某某（中牟县普查办主任）\n2018-10-17 09:00\n补齐缺报数据")
    assert "第 3 行应为一项整改事项" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(head, "张某某（中牟县普查办主任）\n2018-10-17 09:00\n"
                              "补齐10月缺报的进度数据 2018-10-18\n=1+1 书面报告整改措施 2018-10-25")
    saved = plain(await emu.wait_for_bot_message(CITY_HEAD, has("已记录对中牟县的约谈")))
    assert "张某某（中牟县普查办主任），2018-10-17 09:00" in saved
    assert "期限 2018-10-18 18:00" in saved
    await wait_delivered(app)
    notice = find(emu, LIAISON, "约谈通知")
    assert "补齐10月缺报的进度数据" in plain(notice) and "书面报告整改措施" in plain(notice)
    first = [m for m in emu.bot_messages(LIAISON)  # the action itself, with its buttons
             if "补齐10月缺报的进度数据" in plain(m) and buttons(m)][-1]
    assert "约谈整改事项 #" in plain(first) and buttons(first)[0].startswith("sv:ack:")
    await emu.click(liaison, first, buttons(first)[0])
    await emu.wait_for_bot_message(CITY_HEAD, has("已签收"))

    # the first action's due date passes: the unit is reminded, the office hears it
    res = await run_job(app, at("2018-10-18 19:00"))
    assert len(res.details["overdue"]) == 1
    await wait_delivered(app)
    assert "督办答复已逾期" in plain(find(emu, LIAISON, "答复期限为 2018-10-18 18:00"))
    escalated = plain(find(emu, CITY_HEAD, "督办答复逾期"))
    assert "补齐10月缺报的进度数据" in escalated and "约谈整改事项" in escalated

    # the export lists both actions and the interview; a leading "=" is not a formula
    await emu.send_text(head, "/orders xlsx")
    doc = await emu.wait_for_bot_message(CITY_HEAD, lambda m: "document" in m)
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    orders_sheet, interviews_sheet = wb.worksheets
    texts = [row[11] for row in orders_sheet.iter_rows(min_row=2, values_only=True)]
    assert "补齐10月缺报的进度数据" in texts and "'=1+1 书面报告整改措施" in texts
    assert all(c.data_type != "f" for row in orders_sheet.iter_rows() for c in row)
    assert [r[2] for r in interviews_sheet.iter_rows(min_row=2, values_only=True)] == [
        "张某某（中牟县普查办主任）"]
