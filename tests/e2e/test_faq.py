"""The FAQ through the emulator: answers with feedback, alternatives, the Q&A desk round trip,
inline mode, and content changes picked up without a restart.

Notices to the desk and answers to the asker go through the outbox, delivered by the bot's own
sender; `wait_delivered` waits for it and tells which chats it sent to.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from markupsafe import escape
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.faq import DeskExchange, FaqFeedback, FaqQuestion
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from faq.content import DEFAULT_CONTENT_DIR
from faq.loader import FaqStore
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, start_bot, wait_delivered

CONFIDENT_Q = "怎么核实普查员的身份"
VAGUE_ZH = "普查员"  # a vague word alone: "did you mean", not a confident answer
VAGUE_EN = "enumerators"
TRADITIONAL_Q = "普查員上門要收錢嗎？"
ENGLISH_Q = "is there any charge for taking part in the census"
UNKNOWN_Q = "今天郑州天气怎么样"


async def _setup_org(db_url: str, clock: Clock, grants: list[tuple[int, str, str]]) -> None:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
            await s.commit()  # the test is the unit-of-work owner
        for user_id, role, unit in grants:
            async with create_sessionmaker(engine)() as s:
                await users_service.grant_role(s, now=clock(), user_id=user_id, role=role,
                                               unit_code=unit)
                await s.commit()  # the test is the unit-of-work owner
    finally:
        await engine.dispose()


async def _rows(db_url: str, model: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            return list((await s.scalars(select(model))).all())
    finally:
        await engine.dispose()


def _button(message: dict[str, Any], prefix: str, suffix: str = "") -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    for row in rows:
        for b in row:
            data = b.get("callback_data", "")
            if data.startswith(prefix) and data.endswith(suffix):
                return str(data)
    raise AssertionError(f"no button {prefix}…{suffix} in {rows}")


async def test_confident_answer_and_vote_is_stored(emu: Emulator, app: BotApp,
                                                   sqlite_url: str) -> None:
    store = FaqStore()
    expected = store.search(CONFIDENT_Q)
    assert expected.confident and expected.topic == "verify_enumerator"
    entry = store.index().by_id["verify_enumerator"]
    user = emu.user(id=5001, first_name="张三", language_code="zh-hans")
    await emu.send_text(user, CONFIDENT_Q)
    reply = await emu.wait_for_bot_message(5001)
    assert entry.question["zh"] in reply["text"]
    assert "有帮助吗" in reply["text"]
    upd = await emu.click(user, reply, _button(reply, "faq:v:", ":0:verify_enumerator"))
    answer = await emu.wait_for_callback_answer(upd["callback_query"]["id"])
    assert answer.get("text") == "感谢您的反馈！"
    offer = await emu.wait_for_bot_message(5001)  # after 👎: the way to a person
    assert "答疑" in offer["text"] and _button(offer, "faq:h:")
    votes = await _rows(sqlite_url, FaqFeedback)
    assert [(v.user_id, v.topic, v.helpful) for v in votes] == [(5001, "verify_enumerator",
                                                                  False)]
    questions = await _rows(sqlite_url, FaqQuestion)
    assert [(q.text, q.topic, q.confident) for q in questions] == [
        (CONFIDENT_Q, "verify_enumerator", True)]


async def test_english_user_gets_english_answer(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=5002, first_name="Anna", language_code="en")
    await emu.send_text(user, "/ask how can I check that an enumerator is genuine")
    reply = await emu.wait_for_bot_message(5002)
    entry = FaqStore().index().by_id["verify_enumerator"]
    assert entry.question["en"] in reply["text"] and "Was this helpful?" in reply["text"]


async def _did_you_mean_exchange(emu: Emulator, user_id: int, language: str, question: str,
                                 lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask a vague question; tap "yes" on the suggestion, then "see others" on it."""
    store = FaqStore()
    r = store.search(question)
    assert r.outcome == "did_you_mean" and r.suggestion and r.topic is None, r
    index = store.index()
    suggested = index.by_id[r.suggestion]
    user = emu.user(id=user_id, first_name="Q", language_code=language)
    await emu.send_text(user, question)
    offer = await emu.wait_for_bot_message(user_id)
    assert str(escape(suggested.question[lang])) in offer["text"]
    await emu.click(user, offer, _button(offer, "faq:a:", f":{suggested.id}"))  # "yes"
    shown = await emu.wait_for_bot_message(user_id)
    assert str(escape(suggested.question[lang])) in shown["text"]
    assert suggested.answer[lang] in shown["text"]
    assert _button(shown, "faq:v:", f":1:{suggested.id}")
    await emu.click(user, offer, _button(offer, "faq:o:"))  # "see others"
    others = await emu.wait_for_bot_message(user_id)
    rest = [t for t in r.alternatives if t != suggested.id]
    assert rest
    for topic in rest:
        assert str(escape(index.by_id[topic].question[lang])) in others["text"]
        assert _button(others, "faq:a:", f":{topic}")
    assert _button(others, "faq:h:")
    return offer, others


async def test_did_you_mean_in_chinese(emu: Emulator, app: BotApp, sqlite_url: str) -> None:
    offer, others = await _did_you_mean_exchange(emu, 5003, "zh-hans", VAGUE_ZH, "zh")
    assert "您是不是想问" in offer["text"]
    labels = [b["text"] for row in offer["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:2] == ["✅ 是的，看回答", "🔎 看看其他问题"] and "转人工答疑" in labels[2]
    assert "不太确定" in others["text"]
    questions = await _rows(sqlite_url, FaqQuestion)
    assert [(q.text, q.outcome, q.topic) for q in questions] == [(VAGUE_ZH, "unsure", None)]


async def test_did_you_mean_in_english(emu: Emulator, app: BotApp) -> None:
    offer, others = await _did_you_mean_exchange(emu, 5006, "en", VAGUE_EN, "en")
    assert "Did you mean" in offer["text"]
    labels = [b["text"] for row in offer["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:2] == ["✅ Yes, show the answer", "🔎 See other questions"]
    assert "not sure which" in others["text"]


async def test_traditional_characters_are_answered(emu: Emulator, app: BotApp) -> None:
    r = FaqStore().search(TRADITIONAL_Q)
    assert r.outcome == "answer" and r.topic == "census_fee"
    entry = FaqStore().index().by_id["census_fee"]
    user = emu.user(id=5007, first_name="陳", language_code="zh-hant")
    await emu.send_text(user, TRADITIONAL_Q)
    reply = await emu.wait_for_bot_message(5007)
    assert entry.question["zh"] in reply["text"] and "有帮助吗" in reply["text"]


async def test_casual_english_question_is_answered_in_english(emu: Emulator,
                                                              app: BotApp) -> None:
    r = FaqStore().search(ENGLISH_Q)
    assert r.outcome == "answer" and r.topic == "census_fee"
    entry = FaqStore().index().by_id["census_fee"]
    user = emu.user(id=5008, first_name="Mia", language_code="en")
    await emu.send_text(user, ENGLISH_Q)
    reply = await emu.wait_for_bot_message(5008)
    assert entry.question["en"] in reply["text"] and "Was this helpful?" in reply["text"]
    assert entry.answer["en"] in reply["text"]
    assert entry.question["zh"] not in reply["text"]


async def test_unknown_goes_to_the_county_desk_and_the_answer_comes_back(
    emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock
) -> None:
    clock.set(at("2018-10-08 10:00"))
    # An English-speaking enumerator in Zhongyuan (410102); the county desk speaks Chinese;
    # the city desk must not get the question.
    await _setup_org(sqlite_url, clock, [(6001, "enumerator", "410102"),
                                          (6101, "qa_desk", "410102"),
                                          (6102, "qa_desk", "410100"),
                                          (6103, "qa_desk", "410103")])
    asker = emu.user(id=6001, first_name="Tom", language_code="en")
    desk = emu.user(id=6101, first_name="王老师", language_code="zh-hans")
    other_desk = emu.user(id=6103, first_name="赵老师", language_code="zh-hans")
    emu.user(id=6102, first_name="City", language_code="zh-hans")
    r = FaqStore().search(UNKNOWN_Q)
    assert r.topic is None and not r.alternatives
    await emu.send_text(asker, UNKNOWN_Q)
    reply = await emu.wait_for_bot_message(6001)
    assert "could not find an answer" in reply["text"]
    await emu.click(asker, reply, _button(reply, "faq:h:"))
    sent_note = await emu.wait_for_bot_message(6001)
    assert "help desk of Zhongyuan" in sent_note["text"]
    assert [r.chat_id for r in await wait_delivered(app)] == [6101]
    forwarded = await emu.wait_for_bot_message(6101)
    assert UNKNOWN_Q in forwarded["text"] and "Tom" in forwarded["text"]
    # A desk member of another county may not answer it.
    upd = await emu.click(other_desk, forwarded["message_id"], _button(forwarded, "desk:ans:"),
                          chat=6101, strict=False)
    refusal = await emu.wait_for_callback_answer(upd["callback_query"]["id"])
    assert "只有" in refusal["text"]
    await emu.click(desk, forwarded, _button(forwarded, "desk:ans:"))
    prompt = await emu.wait_for_bot_message(6101)
    assert UNKNOWN_Q in prompt["text"]
    await emu.send_text(desk, "天气请看气象台；普查不受天气影响，照常入户。")
    done = await emu.wait_for_bot_message(6101)
    assert "正在发送给提问人" in done["text"]
    assert [r.chat_id for r in await wait_delivered(app)] == [6001]
    delivered = await emu.wait_for_bot_message(6001)
    assert delivered["text"].startswith("<b>Answer from the help desk of Zhongyuan</b>")
    assert "照常入户" in delivered["text"] and UNKNOWN_Q in delivered["text"]
    exchanges = await _rows(sqlite_url, DeskExchange)
    assert [(x.unit_code, x.status, x.answered_by) for x in exchanges] == [
        ("410102", "answered", 6101)]


async def test_public_question_goes_to_city_desk_and_reply_answers_it(
    emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock
) -> None:
    await _setup_org(sqlite_url, clock, [(6202, "qa_desk", "410100")])
    asker = emu.user(id=6201, first_name="路人", language_code="zh-hans")
    desk = emu.user(id=6202, first_name="市答疑", language_code="zh-hans")
    await emu.send_text(asker, UNKNOWN_Q)
    reply = await emu.wait_for_bot_message(6201)
    await emu.click(asker, reply, _button(reply, "faq:h:"))
    note = await emu.wait_for_bot_message(6201)
    assert "郑州市答疑组" in note["text"]
    assert [r.chat_id for r in await wait_delivered(app)] == [6202]
    forwarded = await emu.wait_for_bot_message(6202)
    upd = await emu.click(desk, forwarded, _button(forwarded, "desk:cand:"))
    marked = await emu.wait_for_callback_answer(upd["callback_query"]["id"])
    assert marked["text"] == "已标记为常见问题候选条目。"
    await emu.send_text(desk, "请关注市普查办公众号通知。", reply_to=forwarded["message_id"])
    assert "正在发送给提问人" in (await emu.wait_for_bot_message(6202))["text"]
    assert [r.chat_id for r in await wait_delivered(app)] == [6201]
    delivered = await emu.wait_for_bot_message(6201)
    assert "郑州市答疑组的回复" in delivered["text"] and "公众号" in delivered["text"]


async def test_inline_mode_lists_matching_entries(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=5004, first_name="Ann", language_code="en")
    upd = await emu.inline_query(user, "verify enumerator identity")
    qid = upd["inline_query"]["id"]
    for _ in range(100):
        if qid in emu.inline_answers:
            break
        await asyncio.sleep(0.05)
    results = emu.inline_answers[qid]["results"]
    assert results and results[0]["type"] == "article"
    assert "verify_enumerator" in [r["id"] for r in results[:3]]
    top = next(r for r in results if r["id"] == "verify_enumerator")
    entry = FaqStore().index().by_id["verify_enumerator"]
    assert entry.question["en"] in top["input_message_content"]["message_text"]


NEW_ENTRY = """
entries:
  - id: local_mascot
    category: local
    question:
      zh: 本市普查吉祥物叫什么名字？
      en: What is the name of the city's census mascot?
    answer:
      zh: 本市普查吉祥物叫<b>小普</b>。
      en: The city's census mascot is called <b>Xiaopu</b>.
    phrasings:
      zh: [普查吉祥物叫什么, 吉祥物是谁]
      en: [census mascot name]
    keywords: [吉祥物, mascot]
"""


async def test_content_change_is_picked_up_without_restart(
    emu: Emulator, sqlite_url: str, tmp_path: Path
) -> None:
    content = tmp_path / "faq"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    app = await start_bot(emu, sqlite_url, clock=Clock(), CENSUSBOT_FAQ_DIR=str(content),
                          CENSUSBOT_FAQ_RELOAD_SECONDS=0)
    try:
        user = emu.user(id=5005, first_name="周", language_code="zh-hans")
        await emu.send_text(user, "本市普查吉祥物叫什么名字")
        before = await emu.wait_for_bot_message(5005)
        assert "小普" not in before["text"]
        (content / "local.yaml").write_text(NEW_ENTRY, encoding="utf-8")
        await emu.send_text(user, "本市普查吉祥物叫什么名字")
        after = await emu.wait_for_bot_message(5005)
        assert "小普" in after["text"] and "有帮助吗" in after["text"]
    finally:
        await app.stop()
