"""Supervision orders through the emulator: issue, out-of-area refusal, repeat until
acknowledged, escalation, acknowledge (and a second recipient's stale press), answer with a
photo, return, answer again, close; the timeline in /orders N; quiet hours; the job replayed."""

from __future__ import annotations

import html
import re
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.supervision import OrderEvent, SupervisionOrder
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from scheduling.jobs import JobContext, JobResult, all_jobs
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, wait_delivered

CITY_HEAD, CITY_HEAD2, COUNTY_HEAD, LIAISON, JINSHUI_HEAD = 8101, 8102, 8103, 8104, 8105
ISSUED_AT = at("2018-10-17 09:00")


async def setup_org(url: str, clock: Clock, grants: tuple[tuple[int, str, str], ...]) -> None:
    """Load Zhengzhou and grant the roles."""
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
            await s.commit()  # the test is the unit-of-work owner
        for uid, role, unit in grants:
            async with sm() as s:
                await users_service.grant_role(s, now=clock(), user_id=uid, role=role,
                                               unit_code=unit)
                await s.commit()  # the test is the unit-of-work owner
    finally:
        await engine.dispose()


def plain(msg: dict[str, Any]) -> str:
    """The message as the user reads it."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(msg.get("text") or msg.get("caption")
                                                    or "")))


def buttons(msg: dict[str, Any]) -> list[str]:
    """The callback data of the message's inline buttons."""
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


def has(text: str) -> Any:
    """A predicate: the message contains `text`."""
    return lambda m: text in plain(m)


async def run_job(app: BotApp, now: datetime, **settings: Any) -> JobResult:
    """Run the `orders` job as `censusbot jobs run orders --now` does."""
    cfg = app.settings.model_copy(update=settings) if settings else app.settings
    return await all_jobs()["orders"].run(JobContext(app.dp["sessionmaker"], cfg), now)


def latest(emu: Emulator, chat: int) -> dict[str, Any]:
    """The bot's latest message in a chat, as stored now (edits included)."""
    return emu.bot_messages(chat)[-1]


def find(emu: Emulator, chat: int, text: str) -> dict[str, Any]:
    """The bot's latest message in a chat containing `text`, as stored now."""
    return [m for m in emu.bot_messages(chat) if text in plain(m)][-1]


async def test_order_round_trip(emu: Emulator, app: BotApp, sqlite_url: str,
                                clock: Clock) -> None:
    clock.set(ISSUED_AT)
    await setup_org(sqlite_url, clock, ((CITY_HEAD, "office_head", "410100"),
                                        (CITY_HEAD2, "office_head", "410100"),
                                        (COUNTY_HEAD, "office_head", "410122"),
                                        (LIAISON, "liaison", "410122"),
                                        (JINSHUI_HEAD, "office_head", "410105")))
    head = emu.user(id=CITY_HEAD, first_name="市普查办", language_code="zh-hans")
    deputy = emu.user(id=CITY_HEAD2, first_name="Deputy", language_code="en")
    county = emu.user(id=COUNTY_HEAD, first_name="中牟主任", language_code="zh-hans")
    liaison = emu.user(id=LIAISON, first_name="中牟联络员", language_code="zh-hans")
    jinshui = emu.user(id=JINSHUI_HEAD, first_name="金水主任", language_code="zh-hans")
    await emu.send_text(deputy, "/start")  # the bot learns the deputy reads English
    await emu.wait_for_bot_message(CITY_HEAD2)

    # out of area: a county head cannot order another county, nor the city its own unit
    await emu.send_text(jinshui, "/order 410122 请补报")
    refused = await emu.wait_for_bot_message(JINSHUI_HEAD)
    assert "中牟县 不在本办管辖范围内" in plain(refused)
    await emu.send_text(head, "/order 410100 自己给自己下督办")
    assert "不在本办管辖范围内" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(head, "/order 410122 2018-02-30 日期不对")
    assert "不是有效日期" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(head, "/order")
    assert "/order 单位代码 内容" in plain(await emu.wait_for_bot_message(CITY_HEAD))

    # issue
    await emu.send_text(head, "/order 410122 2018-10-20 请于10月20日前补报缺报数据并书面说明原因。")
    issued = plain(await emu.wait_for_bot_message(CITY_HEAD))
    assert "已向中牟县下达督办" in issued and "郑普办督〔2018〕1号" in issued
    assert "答复期限：2018-10-20 18:00" in issued and "2 位普查办主任和联络员" in issued
    sent = await wait_delivered(app)
    assert {r.chat_id for r in sent} == {COUNTY_HEAD, LIAISON}
    order_msg = await emu.wait_for_bot_message(LIAISON, has("郑普办督〔2018〕1号"))
    assert "受文单位：中牟县" in plain(order_msg) and "补报缺报数据" in plain(order_msg)
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        oid = (await s.scalars(select(SupervisionOrder.id))).one()
    assert buttons(order_msg) == [f"sv:ack:{oid}", f"sv:ans:{oid}"]

    # not acknowledged: nothing before 3 hours, a repeat at 3 hours, once
    assert (await run_job(app, ISSUED_AT + timedelta(hours=2, minutes=59))).enqueued == 0
    res = await run_job(app, ISSUED_AT + timedelta(hours=3))
    assert res.details["repeated"] == [oid] and res.enqueued == 2
    assert (await run_job(app, ISSUED_AT + timedelta(hours=3))).enqueued == 0  # replay
    assert {r.chat_id for r in await wait_delivered(app)} == {COUNTY_HEAD, LIAISON}
    repeat = latest(emu, COUNTY_HEAD)
    assert "提醒：你单位至今无人签收此督办" in plain(repeat) and f"sv:ack:{oid}" in buttons(repeat)

    # quiet hours: nothing is decided at 23:00, the run after them takes the step
    quiet = {"quiet_start": time(22, 0), "quiet_end": time(7, 30)}
    res = await run_job(app, at("2018-10-17 23:00"), **quiet)
    assert res.details["quiet_hours"] is True and res.enqueued == 0
    # escalated after 24 hours to the issuer and the parent office (and repeated)
    res = await run_job(app, ISSUED_AT + timedelta(hours=24), **quiet)
    assert res.details["escalated"] == [oid] and res.details["repeated"] == [oid]
    rows = await wait_delivered(app)
    assert {r.chat_id for r in rows} == {CITY_HEAD, CITY_HEAD2, COUNTY_HEAD, LIAISON}
    assert "中牟县 至今无人签收" in plain(latest(emu, CITY_HEAD))
    assert "Nobody in Zhongmu has acknowledged" in plain(latest(emu, CITY_HEAD2))

    # one acknowledgement covers the unit; the other recipient's press says so
    clock.set(ISSUED_AT + timedelta(hours=25))
    await emu.click(liaison, latest(emu, LIAISON), f"sv:ack:{oid}")
    assert await emu.wait_for_bot_message(CITY_HEAD, has("中牟县 已签收督办"))
    await wait_delivered(app)
    assert buttons(latest(emu, LIAISON)) == [f"sv:ans:{oid}"]  # the pressed message changed
    update = await emu.click(county, latest(emu, COUNTY_HEAD), f"sv:ack:{oid}")
    alert = await emu.wait_for_callback_answer(update["callback_query"]["id"])
    assert "你单位已于 2018-10-18 10:00 签收该督办" in alert["text"]
    assert (await run_job(app, ISSUED_AT + timedelta(hours=28))).enqueued == 0  # no repeats

    # answer with a photo
    await emu.click(liaison, latest(emu, LIAISON), f"sv:ans:{oid}")
    await emu.wait_for_bot_message(LIAISON, has("请用一条消息写明答复"))
    await emu.send_text(liaison, "已于10月18日补报全部缺报数据，原因是平板电脑故障。")
    await emu.wait_for_bot_message(LIAISON, has("佐证材料"))
    await emu.send_photo(liaison, b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    got = await emu.wait_for_bot_message(LIAISON, has("已收到第 1 个文件"))
    await emu.click(liaison, got, "sv:fdone")
    await emu.wait_for_bot_message(LIAISON, has("答复已发送给下达单位"))
    await wait_delivered(app)
    answer = find(emu, CITY_HEAD, "督办答复")
    assert "平板电脑故障" in plain(answer) and "附件：1 个" in plain(answer)
    assert buttons(answer) == [f"sv:cls:{oid}", f"sv:ret:{oid}"]
    assert "photo" in latest(emu, CITY_HEAD)

    # return with a reason; the unit answers again; then close
    await emu.click(head, answer, f"sv:ret:{oid}")
    await emu.wait_for_bot_message(CITY_HEAD, has("退回理由"))
    await emu.send_text(head, "请附补报后的进度表截图。")
    await emu.wait_for_bot_message(CITY_HEAD, has("已退回"))
    await wait_delivered(app)
    back = find(emu, LIAISON, "答复被退回")
    assert "理由：请附补报后的进度表截图。" in plain(back) and buttons(back) == [f"sv:ans:{oid}"]
    await emu.click(liaison, back, f"sv:ans:{oid}")
    await emu.wait_for_bot_message(LIAISON, has("请用一条消息写明答复"))
    await emu.send_text(liaison, "截图见附件。")
    prompt = await emu.wait_for_bot_message(LIAISON, has("佐证材料"))
    await emu.click(liaison, prompt, "sv:fdone")
    await emu.wait_for_bot_message(LIAISON, has("答复已发送给下达单位"))
    await wait_delivered(app)
    second = find(emu, CITY_HEAD, "截图见附件")
    await emu.click(head, second, f"sv:cls:{oid}")
    await emu.wait_for_bot_message(CITY_HEAD, has("已办结，并已通知中牟县"))
    await wait_delivered(app)
    assert "督办已办结" in plain(latest(emu, LIAISON))
    assert buttons(find(emu, CITY_HEAD, "截图见附件")) == []  # buttons taken off
    again = await emu.click(head, second["message_id"], f"sv:cls:{oid}", chat=None,
                            strict=False)
    alert = await emu.wait_for_callback_answer(again["callback_query"]["id"])
    assert "已于 2018-10-18 10:00 办结" in alert["text"]

    # the timeline and the list
    await emu.send_text(head, f"/orders {oid}")
    detail = plain(await emu.wait_for_bot_message(CITY_HEAD))
    for step in ("状态：已办结", "下达督办", "重发提醒（未签收）", "无人签收，已上报", "单位已签收",
                 "收到答复", "答复已退回：请附补报后的进度表截图。", "下达单位已办结"):
        assert step in detail, step
    await emu.send_text(head, "/orders")
    assert "本辖区没有未办结的督办" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    async with create_sessionmaker(engine)() as s:
        kinds = (await s.scalars(select(OrderEvent.kind).order_by(OrderEvent.id))).all()
    await engine.dispose()
    assert kinds == ["issued", "repeated", "escalated", "repeated", "acknowledged", "answered",
                     "returned", "answered", "closed"]


async def test_overdue_answer_is_escalated_and_the_replay_is_due_at_once(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(ISSUED_AT)
    await setup_org(sqlite_url, clock, ((CITY_HEAD, "office_head", "410100"),
                                        (LIAISON, "liaison", "410122")))
    head = emu.user(id=CITY_HEAD, first_name="市普查办", language_code="zh-hans")
    liaison = emu.user(id=LIAISON, first_name="中牟联络员", language_code="zh-hans")
    await emu.send_text(head, "/order 410122 2018-10-18 报送整改方案")
    assert "郑普办督〔2018〕1号" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await wait_delivered(app)
    order_msg = await emu.wait_for_bot_message(LIAISON, has("报送整改方案"))
    await emu.click(liaison, order_msg, buttons(order_msg)[0])
    await emu.wait_for_bot_message(CITY_HEAD, has("已签收"))
    # a second order gets the next number
    await emu.send_text(head, "/order 410122 第二件")
    assert "郑普办督〔2018〕2号" in plain(await emu.wait_for_bot_message(CITY_HEAD, has("2号")))
    await wait_delivered(app)
    # the job replayed for a later day while the bot's clock still reads the 17th: what it
    # decides is due at once and goes out now
    res = await run_job(app, at("2018-10-18 18:30"))
    assert res.details["overdue"] and res.enqueued >= 2
    rows = await wait_delivered(app)
    assert {r.chat_id for r in rows} >= {CITY_HEAD, LIAISON}
    assert "督办答复逾期" in plain(find(emu, CITY_HEAD, "督办答复逾期"))
    assert "已逾期" in plain(find(emu, LIAISON, "报送整改方案"))
