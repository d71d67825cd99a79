"""Bulletin approval round trip through the emulator: /bulletin new, draft to the approver,
Add note, Publish, delivery to every leadership chat, /bulletin and /bulletin N.

The bot's own outbox sender delivers; `wait_delivered` waits for it and returns the rows it sent.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.bulletins import Bulletin
from bot.db.models.org import Unit
from bot.services.access import users as users_service
from bot.services.bulletins import config as series_cfg
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, wait_delivered

HEAD, LEADER, COUNTY_HEAD, GROUP = 7001, 7002, 7003, -1001234567
SERIES = series_cfg.SeriesConfig(
    id="zz", title_zh="关于全市入户调查情况的通报", title_en="the city-wide household survey",
    root_code="410100", phase="survey", start=None,
    chats=(series_cfg.ChatTarget(GROUP, "zh_CN"),))


async def _setup(db_url: str, clock: Clock) -> None:
    engine = create_engine(db_url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
            await s.commit()  # the test is the unit-of-work owner
        async with sm() as s:
            await series_cfg.sync_series(s, [SERIES], now=clock())
            await s.commit()  # the test is the unit-of-work owner
        for uid, role, unit in ((HEAD, "office_head", "410100"), (LEADER, "leader", "410100"),
                                (COUNTY_HEAD, "office_head", "410105")):
            async with sm() as s:
                await users_service.grant_role(s, now=clock(), user_id=uid, role=role,
                                               unit_code=unit)
                await s.commit()  # the test is the unit-of-work owner
    finally:
        await engine.dispose()


async def _late_report(db_url: str) -> None:
    """二七区 hands in its report for 2018-10-14 late (a day after), changing the figures."""
    from bot.services.access.principal import Grant, Principal
    from bot.services.reports import submission as reports_service

    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            unit = await s.get(Unit, "410103")
            assert unit is not None
            await reports_service.submit(
                s, principal=Principal(0, "zh_CN", (Grant("liaison", unit.code, unit.path),)),
                unit_code="410103", phase="survey", source="quick", locale="zh_CN",
                now=at("2018-10-14 19:00"),
                values={"industrial_filled": 50, "industrial_entered": 40, "livestock_filled": 5,
                        "livestock_entered": 5, "domestic_filled": 2, "domestic_entered": 2,
                        "centralized_filled": 1, "centralized_entered": 1, "mobile_filled": 3,
                        "mobile_entered": 3})
            await s.commit()  # the test is the unit-of-work owner
    finally:
        await engine.dispose()


def _texts(emu: Emulator, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in emu.bot_messages(chat_id)]


async def test_draft_note_publish_and_delivery(emu: Emulator, app: BotApp, sqlite_url: str,
                                               clock: Clock) -> None:
    clock.set(at("2018-10-15 09:30"))
    await _setup(sqlite_url, clock)
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    leader = emu.user(id=LEADER, first_name="Vice Mayor", language_code="en")
    emu.user(id=COUNTY_HEAD, first_name="金水", language_code="zh-hans")
    emu.group(GROUP, "郑州市普查领导小组")
    outsider = emu.user(id=7009, first_name="路人", language_code="zh-hans")
    await emu.send_text(leader, "/start")  # the bot learns the leader reads English
    await emu.wait_for_bot_message(LEADER)

    await emu.send_text(outsider, "/bulletin new")
    assert "只有" in (await emu.wait_for_bot_message(7009))["text"]

    await emu.send_text(head, "/bulletin new")
    reply = await emu.wait_for_bot_message(HEAD, timeout=60)  # first chart: matplotlib loads
    assert "2018-10-08 至 2018-10-14" in reply["text"] and "1 位普查办主任" in reply["text"]
    drafts = await wait_delivered(app)
    assert {r.chat_id for r in drafts} == {HEAD}  # only the approver sees the draft
    draft_msg = await emu.wait_for_bot_message(HEAD, lambda m: "reply_markup" in m)
    assert "草稿" in draft_msg["text"] and "第1期" not in draft_msg["text"]
    bid = int(draft_msg["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[2])
    kinds = [("photo" in m, "document" in m) for m in emu.bot_messages(HEAD)]
    assert (True, False) in kinds and (False, True) in kinds

    await emu.click(head, draft_msg, f"bl:note:{bid}")
    await emu.wait_for_bot_message(HEAD, lambda m: "下一步工作" in (m.get("text") or ""))
    await emu.send_text(head, "1. 中牟县、二七区10月20日前补报。\n2. 约谈进度滞后单位负责人。")
    await emu.wait_for_bot_message(HEAD, lambda m: "说明已保存" in (m.get("text") or ""))
    updated = await emu.wait_for_bot_message(HEAD, lambda m: "reply_markup" in m)
    assert "约谈进度滞后单位负责人" in updated["text"]

    await emu.click(head, updated, f"bl:pub:{bid}")
    # The confirmation (four chats' charts are rendered first). The bulletin's own copy to this
    # chat leaves through the outbox once the publication is committed, and may come first.
    confirm = await emu.wait_for_bot_message(HEAD, lambda m: "领导会话" in (m.get("text") or ""),
                                             timeout=30)
    assert "第1期" in confirm["text"] and "4 个领导会话" in confirm["text"]
    delivered = await wait_delivered(app)
    assert {r.chat_id for r in delivered} == {HEAD, LEADER, COUNTY_HEAD, GROUP}
    assert len({r.dedup_key for r in delivered}) == len(delivered)

    for chat, title in ((HEAD, "关于全市入户调查情况的通报（第1期）"),
                        (COUNTY_HEAD, "关于全市入户调查情况的通报（第1期）"),
                        (GROUP, "关于全市入户调查情况的通报（第1期）"),
                        (LEADER, "Bulletin No. 1 on the city-wide household survey")):
        texts = _texts(emu, chat)
        assert any(title in t for t in texts), (chat, texts)
        assert any("约谈进度滞后单位负责人" in t for t in texts)
        msgs = emu.bot_messages(chat)
        doc = next(m for m in msgs if "document" in m and "no-1" in m["document"]["file_name"])
        html = emu.file_bytes(doc["document"]["file_id"]).decode("utf-8")
        assert title in html and "<table>" in html
        photo = next(m for m in msgs if "photo" in m)
        assert emu.file_bytes(photo["photo"][-1]["file_id"]).startswith(b"\x89PNG")

    # pressing Publish again (a stale button) changes nothing and says what already happened
    upd = await emu.click(head, updated, f"bl:pub:{bid}", strict=False)
    again = await emu.wait_for_callback_answer(upd["callback_query"]["id"])
    assert "已作为第1期发布" in again["text"]
    assert await wait_delivered(app) == []

    # the leader lists and rereads it, in English
    await emu.send_text(leader, "/bulletin")
    listing = await emu.wait_for_bot_message(LEADER)
    assert "No. 1" in listing["text"] and "2018-10-08" in listing["text"]
    before = len(emu.bot_messages(LEADER))
    await emu.send_text(leader, "/bulletin 1")
    await emu.wait_for_bot_message(LEADER, lambda m: "document" in m)
    resent = emu.bot_messages(LEADER)[before:]
    assert any("Bulletin No. 1 on" in (m.get("text") or "") for m in resent)
    assert any("photo" in m for m in resent)
    await emu.send_text(leader, "/bulletin 9")
    missing = await emu.wait_for_bot_message(LEADER, lambda m: "text" in m)
    assert missing["text"] == "There is no published bulletin No. 9."

    # a correction identical to No. 1 is refused; once a report changed, it is drafted
    await emu.send_text(head, "/bulletin correct 1 二七区数据报错")
    assert "数据没有变化" in (await emu.wait_for_bot_message(HEAD))["text"]
    await _late_report(sqlite_url)
    # published is immutable: a correction is a new bulletin, numbered 2
    await emu.send_text(head, "/bulletin correct 1 二七区数据报错")
    assert "已生成" in (await emu.wait_for_bot_message(HEAD))["text"]
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        rows = (await s.scalars(select(Bulletin).order_by(Bulletin.id))).all()
        assert [(b.number, b.state, b.corrects_number) for b in rows] == [
            (1, "published", None), (None, "draft", 1)]
    await engine.dispose()
