"""The handler tier on the basics: /start, an unknown command, /verify and its button, stale
buttons, and the error handler (a domain error and an unexpected one)."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardMarkup

from bot.callbacks import VerifyReport
from handlers import verify as verify_handlers
from tests.handlers.conftest import HEAD, Chat1, Feed, MockedBot


async def test_start_greets_and_names_the_main_commands(feed: Feed, bot: MockedBot) -> None:
    await feed(Chat1(7001).message("/start"))
    [text] = bot.texts(7001)
    assert "u7001，您好" in text and "/verify" not in text.split("\n")[0]
    assert "/report" in text and "/help" in text


async def test_start_in_english(feed: Feed, bot: MockedBot) -> None:
    await feed(Chat1(7004, language="en").message("/start"))
    [text] = bot.texts(7004)
    assert text.startswith("Hello, u7004!") and "/report" in text
    assert "：" not in text


async def test_unknown_command_says_so_and_lists_what_works(feed: Feed, bot: MockedBot) -> None:
    await feed(Chat1(7002).message("/nosuchcommand"))
    [text] = bot.texts(7002)
    assert "不认识命令 /nosuchcommand" in text and "/verify" in text and "/report" not in text


async def test_verify_without_id_explains_with_an_example(feed: Feed, bot: MockedBot) -> None:
    await feed(Chat1(7003).message("/verify"))
    [text] = bot.texts(7003)
    assert "/verify ZZ-410102-0001" in text


async def test_verify_unregistered_warns_and_offers_the_report_button(
        feed: Feed, bot: MockedBot) -> None:
    user = Chat1(7005)
    await feed(user.message("/verify 41010219990101"))
    [sent] = [m for m in bot.sent() if isinstance(m, SendMessage)]
    assert "41010219990101 未登记" in sent.text and "不要让此人进门" in sent.text
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    [[button]] = sent.reply_markup.inline_keyboard
    payload = VerifyReport.parse(button.callback_data)  # a typed payload, ≤ 64 bytes
    # the button: the bot asks for a description of the person
    await feed(user.press(payload.pack()))
    requests = bot.sent()
    assert any(isinstance(m, AnswerCallbackQuery) for m in requests)
    asked = [m.text for m in requests if isinstance(m, SendMessage)]
    assert asked == ["请描述发生了什么：此人的样貌、说了什么或提出了什么要求，以及地点。"]


async def test_a_stale_button_is_answered_and_changes_nothing(feed: Feed, bot: MockedBot) -> None:
    await feed(Chat1(7006).press("vrep:not-a-number"))
    requests = bot.sent()
    assert [type(m) for m in requests] == [AnswerCallbackQuery]


@pytest.mark.usefixtures("zhengzhou")
async def test_error_handler_answers_a_domain_error_in_the_users_language(
        feed: Feed, bot: MockedBot) -> None:
    """A date that is none: the service raises a DomainError, the one error handler answers
    with the field and the rule, in Chinese or English as the user reads."""
    await feed(Chat1(HEAD).message("/export 2018-13-01"))
    [text] = bot.texts(HEAD)
    assert "2018-13-01 不是有效日期" in text and "/export 2018-10-08" in text
    await feed(Chat1(HEAD).message("/lang"))
    bot.sent()
    await feed(Chat1(HEAD).press("lang:en"))
    bot.sent()
    await feed(Chat1(HEAD).message("/export 2018-13-01"))
    [text] = bot.texts(HEAD)
    assert "2018-13-01 is not a date" in text and "YYYY-MM-DD" in text


async def test_error_handler_answers_an_unexpected_error_with_a_reference(
        feed: Feed, bot: MockedBot, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(verify_handlers.verification, "lookup", broken)
    user = Chat1(7009)
    update = user.message("/verify ZZ-410102-0001")
    await feed(update)
    [text] = bot.texts(7009)
    assert str(update.update_id) in text
