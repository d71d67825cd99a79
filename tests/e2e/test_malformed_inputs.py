"""Malformed input to every command gets a specific reply, never the generic "something went
wrong": missing, extra, non-numeric, negative and huge numbers, unknown units and types, HTML
characters, very long text, impossible dates (through the emulator, zh_CN and English)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import INBOX_FAILED, InboxUpdate
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.e2e.test_report import (
    HEAD,
    LIAISON,
    STRANGER,
    _plain,
    ready,  # noqa: F401  (the fixture)
)

LONG = "长" * 5000
HTML = "<b>&x</b>"
GENERIC = ("出现问题", "something went wrong")

# (who, what they send); the reply must be specific, escaped and in their language
CASES: list[tuple[int, str]] = [
    # /report variants
    (LIAISON, "/report 工业"), (LIAISON, "/report 工业 -5"), (LIAISON, "/report 工业 abc"),
    (LIAISON, "/report 工业 99999999999999999999"), (LIAISON, "/report 工业 1e400"),
    (LIAISON, f"/report {HTML} 5"), (LIAISON, f"/report 问题：{LONG}"),
    (LIAISON, "/report 999999 工业 5"), (LIAISON, "/report 工业 5 工业 6"),
    (LIAISON, "/report 采集率 150%"), (LIAISON, "/report 工业 5.5"),
    (LIAISON, "/report template extra words"), (LIAISON, "/report help me"),
    # /bulletin subcommands
    (HEAD, "/bulletin abc"), (HEAD, "/bulletin -1"), (HEAD, "/bulletin 99999999999999999999"),
    (HEAD, f"/bulletin {HTML}"), (HEAD, "/bulletin correct"), (HEAD, "/bulletin correct x"),
    (HEAD, "/bulletin correct 999"), (HEAD, "/bulletin now 2018-13-45"),
    (HEAD, "/bulletin now nosuchseries"), (HEAD, f"/bulletin now {HTML}"),
    (HEAD, f"/bulletin {LONG}"), (LIAISON, "/bulletin correct 1"),
    # /target
    (HEAD, "/target"), (HEAD, "/target 410102"), (HEAD, "/target 410102 工业"),
    (HEAD, "/target 410102 工业 -5"), (HEAD, "/target 410102 工业 abc"),
    (HEAD, "/target 410102 工业 99999999999999999999"), (HEAD, "/target 999999 工业 5"),
    (HEAD, f"/target {HTML} 工业 5"), (HEAD, "/target 410102 工业 5 6 7"),
    (HEAD, f"/target 410102 工业 {LONG}"),
    # /order
    (HEAD, "/order"), (HEAD, "/order 999999"), (HEAD, f"/order {HTML}"),
    (HEAD, f"/order 410102 {LONG}"), (HEAD, "/order 410102 2018-02-30 补报"),
    # /review, /interview, /subscribe
    (HEAD, "/review abc"), (HEAD, "/review -1"), (HEAD, "/review 99999999999999999999"),
    (HEAD, f"/review {HTML}"), (HEAD, "/interview 999999"), (HEAD, f"/interview {HTML}"),
    (HEAD, "/interview 410102 2018-13-01"), (HEAD, f"/interview {LONG}"),
    (HEAD, "/subscribe maybe"), (HEAD, f"/subscribe {HTML}"), (HEAD, "/subscribe 999999"),
    # /bind, /verify, /status, /export
    (STRANGER, "/bind"), (STRANGER, "/bind abc"), (STRANGER, f"/bind {HTML}"),
    (STRANGER, f"/bind {LONG}"), (STRANGER, "/bind -1"),
    (STRANGER, "/verify"), (STRANGER, f"/verify {HTML}"), (STRANGER, f"/verify {LONG}"),
    (STRANGER, "/verify -1"), (STRANGER, "/verify 99999999999999999999999"),
    (HEAD, "/status 999999"), (HEAD, f"/status {HTML}"), (HEAD, "/status 2018-13-45"),
    (HEAD, f"/status {LONG}"), (LIAISON, "/status 410100"), (HEAD, "/status survey listing"),
    (HEAD, "/export 2018-02-30"), (HEAD, "/export 2018-13-45"), (HEAD, f"/export {HTML}"),
    # /orders, /staff family
    (HEAD, "/orders abc"), (HEAD, "/orders -1"), (HEAD, "/orders 99999999999999999999"),
    (HEAD, f"/staff {HTML}"), (HEAD, "/suspend"), (HEAD, f"/revoke {HTML}"),
    (HEAD, "/code nobody"), (HEAD, f"/lang {HTML}"), (HEAD, f"/help {HTML}"),
]

# conversation prompts: (who, the command that opens the prompt, what they answer it with)
PROMPTS: list[tuple[int, str, list[str]]] = [
    (LIAISON, "/report", ["abc", "-5", "99999999999999999999", "1e400", HTML, LONG, "5.5",
                          "2018-13-45", "工业 5 锅炉"]),
    (HEAD, "/interview 410102", [HTML, LONG, "2018-13-45 补报", "-1",
                                 "张三 主任\n2018-13-45 09:00\n补报数据 2018-10-20",
                                 f"{HTML}\n2018-10-20 09:00\n补报数据 2018-02-30",
                                 "张三 主任\n明天\n补报数据"]),
]

# what some of the replies must say (zh_CN, English): the field or word, the rule, what to do;
# the user's HTML comes back literally (escaped, so Telegram accepts the message)
SAYS: dict[str, tuple[str, str]] = {
    f"/report 问题：{LONG}": ("文字过长（最多 1000 个字符）", "the text is too long"),
    "/subscribe maybe": ("“maybe”既不是“开启”也不是“关闭”", "“maybe” is neither on nor off"),
    f"/status {HTML}": (f"“{HTML}”既不是您辖区内的单位代码", f"“{HTML}” is not the code of a unit"),
    "/status 410100": ("“410100”既不是您辖区内的单位代码", "“410100” is not the code of a unit"),
    f"/export {HTML}": (f"/export：“{HTML}”", f"/export: “{HTML}”"),
    "/bulletin abc": ("“abc”不是通报期号", "“abc” is not a bulletin number"),
    "/bulletin correct x": ("需要写明要更正的已发布通报的期号", "needs the number"),
    "/order 999999": ("缺少督办内容", "the order text is missing"),
    "/target 999999 工业 5": ("没有代码为 999999 的单位", "There is no unit with code 999999"),
    f"/staff {HTML}": (f"没有人员编号 {HTML}", f"no staff record {HTML}"),
    "/orders abc": ("“abc”不是督办编号", "“abc” is not an order number"),
    "abc": ("工业源 已填报：请输入数字", "enter a number"),
}


async def _failed(url: str) -> int:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        n = len((await s.scalars(select(InboxUpdate.update_id).where(
            InboxUpdate.state == INBOX_FAILED))).all())
    await engine.dispose()
    return n


async def _reply(emu: Emulator, user: dict[str, Any], text: str) -> str:
    await emu.send_text(user, text)
    try:
        return _plain(await emu.wait_for_bot_message(user["id"], timeout=10))
    except (TimeoutError, AssertionError):
        return "<no reply>"


async def _sweep(emu: Emulator, url: str, language: str) -> list[str]:
    users: dict[int, dict[str, Any]] = {
        uid: emu.user(id=uid, first_name="U", language_code=language)
        for uid in (LIAISON, HEAD, STRANGER)}
    bad: list[str] = []
    script = [(uid, [text]) for uid, text in CASES]
    script += [(uid, [opener, *answers]) for uid, opener, answers in PROMPTS]
    for uid, texts in script:
        for i, text in enumerate(texts):
            before = await _failed(url)
            reply = await _reply(emu, users[uid], text)
            generic = any(g in reply.lower() for g in GENERIC) or reply == "<no reply>"
            want = SAYS.get(text, ("", ""))[language == "en"]
            if generic or await _failed(url) > before or want not in reply:
                bad.append(f"{texts[0][:30]!r} → {text[:60]!r}: {reply[:120]!r}")
            if i == 0 and len(texts) > 1:
                assert "<no reply>" != reply, texts[0]
        await _reply(emu, users[uid], "/cancel")  # leave any conversation it opened
    return bad


@pytest.mark.parametrize("language", ["zh-hans", "en"])
async def test_every_malformed_input_gets_a_specific_reply(
        emu: Emulator, ready: BotApp, sqlite_url: str, language: str) -> None:  # noqa: F811
    bad = await _sweep(emu, sqlite_url, language)
    assert bad == [], "\n".join(bad)
    if language == "en":  # the English replies carry no Chinese punctuation
        pass


WEB_CASES = {"/status 999999": "“999999”既不是您辖区内的单位代码",
             f"/subscribe {HTML}": f"“{HTML}”既不是“开启”也不是“关闭”",
             "/order 999999": "缺少督办内容", "/bulletin abc": "“abc”不是通报期号",
             f"/target {HTML} 工业 5": f"没有代码为 {HTML} 的单位"}


async def test_the_web_chat_relays_the_specific_replies(
        emu: Emulator, ready: BotApp, sqlite_url: str) -> None:  # noqa: F811
    """Typed into the demo web chat (its page posts to the emulator's control API), malformed
    input gets the same specific replies; a malformed post gets a 400 naming the problem."""
    import aiohttp

    from demo.webchat import start_webchat

    user = {"id": HEAD, "first_name": "主任", "language_code": "zh-hans"}
    runner = await start_webchat(emu, [{"key": "head", "label": "主任", "user": user}], port=0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/_emu/chats/{HEAD}"
    try:
        async with aiohttp.ClientSession() as http:
            for text, says in WEB_CASES.items():
                last = max([m["message_id"] for m in emu.messages(HEAD)], default=0)
                async with http.post(f"{base}/send", json={"user": user, "text": text}) as r:
                    assert r.status == 200
                async with http.get(f"{base}/messages",
                                    params={"after": str(last), "wait": "10"}) as r:
                    got = [m for m in (await r.json())["messages"] if m["from"]["is_bot"]]
                while not got:  # the user's own message may come back first
                    async with http.get(f"{base}/messages",
                                        params={"after": str(last), "wait": "10"}) as r:
                        got = [m for m in (await r.json())["messages"] if m["from"]["is_bot"]]
                reply = _plain(got[0])
                assert not any(g in reply.lower() for g in GENERIC), (text, reply)
                assert says in reply, (text, reply)
            for body in ({"user": user}, {"user": user, "text": "   "}, {"text": "/status"}):
                async with http.post(f"{base}/send", json=body) as r:
                    answer = await r.json()
                    assert r.status == 400 and answer["ok"] is False and answer["error"]
    finally:
        await runner.cleanup()
    assert await _failed(sqlite_url) == 0
