"""Synchronous filters run inline (bot.telegram.routing) and route every update exactly as
aiogram's thread-run filters do."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Command
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message

import handlers
from bot import callbacks
from bot.config import Settings
from bot.services.access.principal import principal_from
from bot.telegram.app import build_dispatcher
from bot.telegram.routing import (
    SkippingDispatcher,
    gate_routers,
    inline_sync_filters,
    sync_filters,
)
from handlers.commands import CommandInfo

TOKEN = "42:TEST"
USER = {"id": 7, "is_bot": False, "first_name": "A"}
CHAT = {"id": 7, "type": "private"}


def _message(**fields: Any) -> Message:
    return Message.model_validate({"message_id": 1, "date": datetime(2026, 1, 1, tzinfo=UTC),
                                   "chat": CHAT, "from": USER, **fields})


def _messages() -> list[Message]:
    catalogue: list[CommandInfo] = handlers.command_catalogue()
    texts = [f"/{c.command}" for c in catalogue] + [f"/{c.command} ZZ-A-00001" for c in catalogue]
    texts += ["/nosuchcommand", "hello", "ZZ-A-00001", "如何填写报表？", "/", "", "   ",
              "工业源 12 家\n生活源 3 家", "/HELP", "/help@other_bot", "/verify@x ZZ-A-00001",
              "!help", "/cancel", "/cancel@x", " /help", "/help\nmore"]
    made = [_message(text=t) for t in texts]
    made += [_message(photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]),
             _message(document={"file_id": "d", "file_unique_id": "d", "file_name": "a.xlsx"}),
             _message(document={"file_id": "d", "file_unique_id": "d", "file_name": "a.txt"}),
             _message(location={"latitude": 1.0, "longitude": 2.0}),
             _message(contact={"phone_number": "1", "first_name": "B", "user_id": 7}),
             _message(text="yes", reply_to_message={
                 "message_id": 0, "date": datetime(2026, 1, 1, tzinfo=UTC), "chat": CHAT,
                 "from": {"id": 42, "is_bot": True, "first_name": "bot"}, "text": "?"}),
             _message(text="hi", chat={"id": -5, "type": "group", "title": "g"})]
    return made


def _callbacks() -> list[CallbackQuery]:
    heads = {cls.head() for cls in vars(callbacks).values()
             if isinstance(cls, type) and issubclass(cls, callbacks.Payload)}
    data = sorted(heads | {h + "1" for h in heads} | {h + "x:1" for h in heads}
                  | {"rpg:1", "rpq:1", "rpx:1", "rpn:1", "nothing", ""})
    return [CallbackQuery.model_validate({"id": str(i), "from": USER, "chat_instance": "c",
                                          "data": d, "message": {
                                              "message_id": 1, "chat": CHAT, "text": "m",
                                              "date": datetime(2026, 1, 1, tzinfo=UTC)}})
            for i, d in enumerate(data)]


def _states(dp: Dispatcher) -> list[str | None]:
    found: set[str] = set()
    for router in dp.chain_tail:
        for observer in router.observers.values():
            for handler in getattr(observer, "handlers", []):
                for f in handler.filters or ():
                    target = getattr(f.callback, "__wrapped__", f.callback)
                    if isinstance(target, State) and target.state:
                        found.add(target.state)
    return [None, *sorted(found)]


def _recording(dp: Dispatcher) -> list[str]:
    """Replace every handler by a recorder of its name; the list the recorders append to."""
    seen: list[str] = []
    for router in dp.chain_tail:
        for name, observer in router.observers.items():
            for handler in getattr(observer, "handlers", []):
                label = f"{router.name}.{name}.{getattr(handler.callback, '__name__', '?')}"

                async def record(*_: Any, _label: str = label, **__: Any) -> str:
                    seen.append(_label)
                    return _label

                handler.callback, handler.awaitable = record, True
    return seen


async def _routes(dp: Dispatcher, bot: Bot) -> list[str]:
    seen = _recording(dp)
    principals = [None, principal_from(7, "zh-hans", [])]
    out: list[str] = []
    events: list[tuple[str, Any]] = [("message", m) for m in _messages()]
    events += [("callback_query", c) for c in _callbacks()]
    for kind, event in events:
        for raw_state in _states(dp):
            for principal in principals:
                seen.clear()
                try:
                    result = await dp.propagate_event(
                        kind, event, bot=bot, raw_state=raw_state, principal=principal,
                        event_from_user=event.from_user, event_chat=CHAT, state=None,
                        i18n=None, session=None, settings=None)
                    outcome = "unhandled" if result is UNHANDLED else ",".join(seen)
                except Exception as exc:  # a filter that needs more than we give: same twice
                    outcome = f"raised {type(exc).__name__}"
                out.append(f"{kind} {getattr(event, 'text', None) or getattr(event, 'data', '')!r}"
                           f" {raw_state} {principal is not None}: {outcome}")
    return out


def _settings(tmp_path: Any) -> Settings:
    return Settings(BOT_TOKEN=TOKEN, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/r.db",
                    CENSUSBOT_SECRET="test-only")


def test_dispatcher_has_no_filter_left_for_a_thread(tmp_path: Any) -> None:
    """Every synchronous filter of the bot's routers is inlined when the dispatcher is built."""
    plain = Dispatcher()
    plain.include_routers(*handlers.routers())
    assert len(sync_filters(plain)) > 20  # magic filters and FSM states, as aiogram keeps them
    dp = build_dispatcher(_settings(tmp_path), components=False)
    assert sync_filters(dp) == []


@pytest.mark.parametrize("tuning", ["inlined", "gated", "skipping"])
async def test_the_bot_routes_every_update_as_aiogram_does(tuning: str) -> None:
    """With filters inlined, with the routers' message gates too, and with a dispatcher that
    passes over the routers its gates turn away (as the bot runs), the same messages,
    callbacks, states and principals reach the same handlers as with aiogram's plain
    routing."""
    bot = Bot(TOKEN)
    try:
        plain = Dispatcher()
        plain.include_routers(*handlers.routers())
        tuned = SkippingDispatcher() if tuning == "skipping" else Dispatcher()
        tuned.include_routers(*handlers.routers())
        if tuning != "inlined":
            assert gate_routers(tuned) >= 8  # the command- and state-only routers
            assert gate_routers(tuned) == 0  # once is enough: a gated router is left alone
        if isinstance(tuned, SkippingDispatcher):
            assert len(tuned.skip_gates) >= 8
        assert inline_sync_filters(tuned) > 20
        expected = await _routes(plain, bot)
        got = await _routes(tuned, bot)
    finally:
        await bot.session.close()
    assert got == expected
    handled = [line for line in expected if not line.endswith(("unhandled", "raised"))]
    assert len({line.rsplit(": ", 1)[1] for line in handled}) > 15  # many handlers reached


async def test_a_gate_skips_its_router_for_other_messages() -> None:
    """A router whose handlers all need its command or state is not asked about others."""
    asked: list[str] = []
    router = Router()

    async def on_report(message: Message) -> str:
        return "report"

    active = State("active")
    router.message(Command("report"))(on_report)
    router.message(active, F.text)(on_report)
    dp = Dispatcher()
    dp.include_router(router)
    assert gate_routers(dp) == 1
    command = router.message.handlers[0].filters[0]  # type: ignore[index]
    original = command.callback

    async def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append("command")
        return await original(*args, **kwargs)

    command.callback = counting  # the gate was built from the real filter; now count its use
    bot = Bot(TOKEN)
    try:
        for text, state, routed in (("hello", None, False), ("/help", None, False),
                                    ("/report x", None, True), ("12", active.state, True)):
            result = await dp.propagate_event("message", _message(text=text), bot=bot,
                                              raw_state=state)
            assert (result == "report") is routed, text
    finally:
        await bot.session.close()
    # only "/report x" and the message in the state reached the handlers' own filters (the
    # state's message is asked for the command first, as aiogram asks handlers in order)
    assert asked == ["command", "command"]


async def test_the_bot_does_not_enter_a_router_whose_gate_refuses() -> None:
    """The bot's dispatcher passes over a gated router for a message its gate refuses (the
    router is never entered), enters it for its command, and enters a router that has an
    outer middleware of its own every time."""
    entered: list[str] = []
    dp = SkippingDispatcher()
    gated, watched, rest = Router(name="gated"), Router(name="watched"), Router(name="rest")

    async def on_command(message: Message) -> str:
        return "command"

    async def on_text(message: Message) -> str:
        return "text"

    async def watch(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        entered.append("watched")
        return await handler(event, data)

    gated.message(Command("report"))(on_command)
    watched.message(Command("other"))(on_command)
    watched.message.outer_middleware(watch)
    rest.message(F.text)(on_text)
    dp.include_routers(gated, watched, rest)
    original = gated.propagate_event

    async def counting(*args: Any, **kwargs: Any) -> Any:
        entered.append("gated")
        return await original(*args, **kwargs)

    gated.propagate_event = counting  # type: ignore[method-assign]
    assert gate_routers(dp) == 2
    assert list(dp.skip_gates) == [gated]  # the watched router runs its middleware: entered
    bot = Bot(TOKEN)
    try:
        assert await dp.propagate_event("message", _message(text="hello"), bot=bot) == "text"
        assert entered == ["watched"]
        assert await dp.propagate_event("message", _message(text="/report"), bot=bot) == (
            "command")
        assert entered == ["watched", "gated"]
    finally:
        await bot.session.close()


async def test_inlined_filter_runs_on_the_loop_with_its_arguments() -> None:
    """A plain function filter gets the same arguments, inline, and its verdict counts."""
    calls: list[tuple[str, str]] = []

    def only_hello(message: Message, raw_state: str | None) -> bool:
        calls.append((message.text or "", threading.current_thread().name))
        return message.text == "hello"

    router = Router()
    router.message(only_hello, F.chat.type == "private")(_answer)
    dp = Dispatcher()
    dp.include_router(router)
    assert inline_sync_filters(dp) == 2 and inline_sync_filters(dp) == 0
    bot = Bot(TOKEN)
    try:
        for text in ("hello", "other"):
            result = await dp.propagate_event("message", _message(text=text), bot=bot,
                                              raw_state=None)
            assert (result == "answered") is (text == "hello")
    finally:
        await bot.session.close()
    assert calls == [("hello", threading.current_thread().name),
                     ("other", threading.current_thread().name)]
    assert asyncio.get_running_loop() is not None


async def _answer(message: Message) -> str:
    return "answered"
