"""The handler tier on /report (quick form, summary, Confirm) and /status."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, SendMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.callbacks import ReportAction, ReportUnit
from bot.db.engine import create_sessionmaker
from bot.db.models.reports import Report
from tests.handlers.conftest import (
    HEAD,
    LIAISON,
    TWO_UNITS,
    Chat1,
    Clock,
    Feed,
    MockedBot,
    plain,
)

FULL = ("工业 120 工业录入 100 农业 30 农业录入 20 锅炉 10 锅炉录入 8 集中式 5 集中式录入 5 "
        "移动源 12 移动源录入 10")
pytestmark = pytest.mark.usefixtures("zhengzhou")


def _buttons(message: SendMessage) -> list[str]:
    markup = message.reply_markup
    rows = getattr(markup, "inline_keyboard", None) or []
    return [str(b.callback_data) for row in rows for b in row]


async def _reports(db: AsyncEngine) -> list[Report]:
    async with create_sessionmaker(db)() as s:
        return list((await s.scalars(select(Report).order_by(Report.id))).all())


async def _send(feed: Feed, bot: MockedBot, user: Chat1, text: str) -> list[SendMessage]:
    await feed(user.message(text))
    return [m for m in bot.sent() if isinstance(m, SendMessage)]


async def test_quick_form_summary_then_confirm_saves_version_1(
        feed: Feed, bot: MockedBot, db: AsyncEngine) -> None:
    user = Chat1(LIAISON)
    [summary] = await _send(feed, bot, user, "/report " + FULL + " 问题：缺平板")
    assert "中原区" in plain(summary.text) and "工业源 已填报：120" in plain(summary.text)
    assert "缺平板" in plain(summary.text)
    assert ReportAction("confirm").pack() in _buttons(summary)
    assert await _reports(db) == []  # nothing saved before Confirm

    await feed(user.press(ReportAction("confirm").pack()))
    requests = bot.sent()
    assert AnswerCallbackQuery in [type(m) for m in requests]
    assert EditMessageReplyMarkup in [type(m) for m in requests]  # Confirm is gone
    [saved] = [plain(m.text) for m in requests if isinstance(m, SendMessage)]
    assert "已提交" in saved
    [row] = await _reports(db)
    assert row.version == 1 and row.source == "quick" and row.submitted_by == LIAISON
    assert row.values["industrial_filled"] == 120 and row.values["problems"] == "缺平板"

    # the same figures again: the rule is named in a message under the summary
    await _send(feed, bot, user, "/report " + FULL + " 问题：缺平板")
    await feed(user.press(ReportAction("confirm").pack()))
    [refused] = [plain(m.text) for m in bot.sent() if isinstance(m, SendMessage)]
    assert "没有任何变化" in refused and "第 1 版" in refused
    assert len(await _reports(db)) == 1


async def test_quick_form_with_a_broken_rule_names_the_field(feed: Feed, bot: MockedBot,
                                                            db: AsyncEngine) -> None:
    [reply] = await _send(feed, bot, Chat1(LIAISON), "/report 工业 abc")
    assert "工业" in plain(reply.text)
    assert await _reports(db) == []


async def test_unit_buttons_for_a_two_unit_liaison(feed: Feed, bot: MockedBot,
                                                   db: AsyncEngine) -> None:
    user = Chat1(TWO_UNITS)
    [choose] = await _send(feed, bot, user, "/report " + FULL)
    choice = ReportUnit("q", "410103", "survey").pack()
    assert choice in _buttons(choose)
    await feed(user.press(choice))
    [summary] = [m for m in bot.sent() if isinstance(m, SendMessage)]
    assert "二七区" in plain(summary.text) and ReportAction("confirm").pack() in _buttons(summary)


async def test_status_counts_and_ranks_after_a_report(feed: Feed, bot: MockedBot,
                                                      clock: Clock) -> None:
    liaison = Chat1(LIAISON)
    await _send(feed, bot, liaison, "/report " + FULL)
    await feed(liaison.press(ReportAction("confirm").pack()))
    bot.sent()
    [status] = await _send(feed, bot, Chat1(HEAD), "/status")
    assert "按时 1 · ⏰ 迟报 0 · ❌ 未报 0 · ⏳ 未到期 15（共 16）" in plain(status.text)
    assert "排名" in plain(status.text)
    ranking = plain(status.text).split("排名")[1]
    assert ranking.index("中原区") < ranking.index("二七区")  # the one with a rate first


async def test_status_refuses_a_stranger(feed: Feed, bot: MockedBot) -> None:
    [reply] = await _send(feed, bot, Chat1(5999), "/status")
    assert "/status" in plain(reply.text)


async def test_confirm_saves_and_closes_the_conversation_before_the_first_reply(
        feed: Feed, bot: MockedBot, db: AsyncEngine) -> None:
    """One transaction per update: when the first Bot API call of Confirm leaves (removing
    the keyboard commits, the call stored with the update's mark), the report is stored AND
    the conversation state cleared; the button is answered right after it."""
    import sqlite3

    user = Chat1(LIAISON)
    await _send(feed, bot, user, "/report " + FULL)
    seen: list[tuple[str, list[str | None], int]] = []
    record = bot.recording.make_request

    async def look_first(b: object, method: object,
                         timeout: int | None = None) -> object:  # noqa: ASYNC109
        # what another connection sees (committed rows only), outside the bot's engine
        with sqlite3.connect(str(db.url.database)) as conn:
            states = [r[0] for r in conn.execute("SELECT state FROM fsm_state")]
            reports = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        seen.append((type(method).__name__, states, reports))
        return await record(b, method, timeout)  # type: ignore[arg-type]

    bot.recording.make_request = look_first  # type: ignore[method-assign]
    await feed(user.press(ReportAction("confirm").pack()))
    assert seen[0] == ("EditMessageReplyMarkup", [None], 1)
    assert seen[1][0] == "AnswerCallbackQuery"
    assert all(states == [None] and n == 1 for _m, states, n in seen)
