"""Buttons that close after use, and bulletin series of any cadence (through the emulator).

Two approvers get a draft: once one publishes, the other's Publish / Add note / Discard say
what already happened and lose their buttons. A twice-weekly series (Monday and Thursday) is
numbered without gaps, a discarded draft costing no number. An answered desk question keeps
no Answer button.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.bulletins import Bulletin
from bot.services.bulletins import config as series_cfg
from bot.services.bulletins import series as svc
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import at
from tests.e2e.harness import Clock, wait_delivered
from tests.e2e.test_bulletin import COUNTY_HEAD, HEAD, LEADER, _setup
from tests.e2e.test_emulator import APP_JS
from tests.e2e.test_faq import UNKNOWN_Q, _button, _setup_org

HEAD2 = 7011


def _buttons(emu: Emulator, msg: dict[str, Any]) -> list[str]:
    stored = emu.find_message(int(msg["chat"]["id"]), int(msg["message_id"]))
    assert stored is not None
    rows = (stored.reply_markup or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def _settled(emu: Emulator, msg: dict[str, Any]) -> list[str]:
    """The message's buttons once the bot's edit has landed (it follows the pop-up answer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    before = _buttons(emu, msg)
    while loop.time() < deadline:
        stored = emu.find_message(int(msg["chat"]["id"]), int(msg["message_id"]))
        if stored is not None and stored.edits:
            return _buttons(emu, msg)
        await emu.wait_changed(deadline - loop.time())
    return before


async def _answer(emu: Emulator, user: dict[str, Any], msg: dict[str, Any], data: str) -> str:
    upd = await emu.click(user, msg, data, strict=False)
    return str((await emu.wait_for_callback_answer(upd["callback_query"]["id"]))["text"])


async def _draft_message(emu: Emulator, chat_id: int) -> dict[str, Any]:
    return await emu.wait_for_bot_message(chat_id, lambda m: "reply_markup" in m)


async def test_published_draft_buttons_say_what_happened(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(at("2018-10-15 09:30"))
    await _setup(sqlite_url, clock)
    await _setup_org(sqlite_url, clock, [(HEAD2, "office_head", "410100")])
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    other = emu.user(id=HEAD2, first_name="副主任", language_code="zh-hans")
    await emu.send_text(head, "/bulletin new")
    await emu.wait_for_bot_message(HEAD, timeout=60)
    assert {r.chat_id for r in await wait_delivered(app)} == {HEAD, HEAD2}
    mine, theirs = await _draft_message(emu, HEAD), await _draft_message(emu, HEAD2)
    bid = int(_buttons(emu, mine)[0].split(":")[2])

    assert "第1期" in await _answer(emu, head, mine, f"bl:pub:{bid}")
    await emu.wait_for_bot_message(HEAD, lambda m: "第1期" in (m.get("text") or ""))
    assert await _settled(emu, mine) == []  # the action closed its buttons

    # the other approver's copy is stale: every button says it is published, then closes
    assert "已作为第1期发布" in await _answer(emu, other, theirs, f"bl:note:{bid}")
    assert await _settled(emu, theirs) == []
    before = len(emu.bot_messages(HEAD2))
    assert "第1期通报已发布" in await _answer(emu, other, theirs, f"bl:del:{bid}")
    assert "已作为第1期发布" in await _answer(emu, other, theirs, f"bl:pub:{bid}")
    await emu.send_text(other, "一段说明")  # no note is being waited for: it goes to the FAQ
    await emu.wait_for_bot_message(HEAD2)
    assert not any("说明已保存" in (m.get("text") or "")
                   for m in emu.bot_messages(HEAD2)[before:])

    # a correction that would be identical to No. 1 is refused with the reason
    await emu.send_text(head, "/bulletin correct 1")
    # (the published No. 1 itself may still be reaching HEAD through the outbox meanwhile)
    refused = await emu.wait_for_bot_message(
        HEAD, lambda m: "/bulletin correct" not in (m.get("text") or "")
        and "数据没有变化" in (m.get("text") or ""))
    assert "/bulletin 更正 1" in refused["text"]


async def test_twice_weekly_series_is_numbered_without_gaps(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(at("2018-10-08 09:30"))  # a Monday
    await _setup(sqlite_url, clock)
    engine = create_engine(sqlite_url)
    twice = series_cfg.parse_series({"id": "zz-twice", "root": "410100", "phase": "survey",
                              "title": {"zh": "入户调查快报", "en": "the survey flash"},
                              "cadence": {"every": "weekly", "days": ["mon", "thu"]},
                              "start": "2018-10-01"})
    async with create_sessionmaker(engine)() as s:
        await series_cfg.sync_series(s, [twice], now=clock())
        await s.commit()  # the test is the unit-of-work owner
    await engine.dispose()
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    emu.user(id=LEADER, first_name="Leader", language_code="en")
    emu.user(id=COUNTY_HEAD, first_name="金水", language_code="zh-hans")

    async def issue(when: str, discard_first: bool = False) -> str:
        clock.set(at(when))
        await emu.send_text(head, "/bulletin new")
        reply = await emu.wait_for_bot_message(HEAD, timeout=60)
        await wait_delivered(app)
        draft = await _draft_message(emu, HEAD)
        bid = int(_buttons(emu, draft)[0].split(":")[2])
        if discard_first:
            assert "草稿已作废" in await _answer(emu, head, draft, f"bl:del:{bid}")
            await emu.send_text(head, "/bulletin new")
            await emu.wait_for_bot_message(HEAD, lambda m: "已生成" in (m.get("text") or ""))
            await wait_delivered(app)
            draft = await _draft_message(emu, HEAD)
            bid = int(_buttons(emu, draft)[0].split(":")[2])
        await _answer(emu, head, draft, f"bl:pub:{bid}")
        await wait_delivered(app)
        return str(reply["text"])

    # this head approves both series: keep only the twice-weekly one for /bulletin new
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        await s.delete(await s.get(svc.BulletinSeries, "zz"))
        await s.commit()
    await engine.dispose()

    assert "2018-10-04 至 2018-10-07" in await issue("2018-10-08 09:30")  # Mon: Thu-Sun
    assert "2018-10-08 至 2018-10-10" in await issue("2018-10-11 09:30", discard_first=True)
    assert "2018-10-11 至 2018-10-14" in await issue("2018-10-15 09:30")  # next Mon
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        rows = (await s.scalars(select(Bulletin).where(Bulletin.series_id == "zz-twice")
                                .order_by(Bulletin.id))).all()
    await engine.dispose()
    published = [(b.number, b.period_start.isoformat(), b.period_end.isoformat())
                 for b in rows if b.state == "published"]
    assert published == [(1, "2018-10-04", "2018-10-07"), (2, "2018-10-08", "2018-10-10"),
                         (3, "2018-10-11", "2018-10-14")]
    assert [b.state for b in rows].count("discarded") == 1  # cost no number


async def test_answered_desk_question_keeps_no_answer_button(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    await _setup_org(sqlite_url, clock, [(6202, "qa_desk", "410100")])
    asker = emu.user(id=6201, first_name="路人", language_code="zh-hans")
    desk = emu.user(id=6202, first_name="市答疑", language_code="zh-hans")
    await emu.send_text(asker, UNKNOWN_Q)
    reply = await emu.wait_for_bot_message(6201)
    await emu.click(asker, reply, _button(reply, "faq:h:"))
    await emu.wait_for_bot_message(6201)
    await wait_delivered(app)
    forwarded = await emu.wait_for_bot_message(6202)
    answer = _button(forwarded, "desk:ans:")
    await emu.click(desk, forwarded, answer)
    await emu.wait_for_bot_message(6202)
    await emu.send_text(desk, "请关注市普查办公众号通知。")
    assert "正在发送给提问人" in (await emu.wait_for_bot_message(6202))["text"]
    assert answer not in await _settled(emu, forwarded)  # Answer gone, FAQ candidate kept
    assert any(b.startswith("desk:cand:") for b in _buttons(emu, forwarded))
    assert "已经有人回答" in await _answer(emu, desk, forwarded, answer)  # a repeated click

    # the web chat reads the bot's pop-up answer to a click through the control API
    cand = next(b for b in _buttons(emu, forwarded) if b.startswith("desk:cand:"))
    payload = {"user": {"id": 6202, "first_name": "市答疑"},
               "callback": {"message_id": forwarded["message_id"], "data": cand}}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/_emu/chats/6202/send", json=payload) as r:
            query_id = (await r.json())["update"]["callback_query"]["id"]
        async with http.get(f"{emu.base_url}/_emu/callback_answers/{query_id}",
                            params={"wait": "5"}) as r:
            popup = (await r.json())["answer"]
    assert popup["text"] == "已标记为常见问题候选条目。"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
async def test_webchat_clock_times_are_beijing_time_in_any_browser_zone() -> None:
    js = (f"const {{clockTime}} = require({json.dumps(str(APP_JS))});"
          "process.stdout.write(JSON.stringify([clockTime(1539136800), clockTime(1539186000)]));")
    for zone in ("UTC", "America/New_York", "Asia/Shanghai"):
        proc = await asyncio.create_subprocess_exec(
            "node", "-e", js, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TZ": zone})
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        # 02:00 and 15:40 UTC on 2018-10-10 are 10:00 and 23:40 in Beijing
        assert json.loads(out) == ["10:00", "23:40"], zone
