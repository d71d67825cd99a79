"""Update throughput: a bare aiogram echo bot vs censusbot answering /help, same emulator, one run.

Both bots poll the project's Bot API emulator over loopback HTTP. We inject N messages from U
users and time until every reply has arrived. censusbot does more per update: it stores the
update in the inbox before confirming it, resolves the user and their grants, renders a
template, and marks the update done. Run: `python bench/update_throughput.py [--messages N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.db.engine import create_engine
from emulator import Emulator
from emulator.harness import start_bot
from migrations import runner as migrate


async def _inject_and_wait(emu: Emulator, messages: int, users: int, text: str) -> float:
    people = [emu.user(id=700000 + i, first_name=f"U{i}", language_code="zh-hans")
              for i in range(users)]
    before = len(emu.sent_log)  # cheap to read: polling must not slow the bots down
    started = time.perf_counter()
    for i in range(messages):
        await emu.send_text(people[i % users], text)
    while len(emu.sent_log) - before < messages:
        await asyncio.sleep(0.01)
        if time.perf_counter() - started > 600:
            raise TimeoutError("replies did not all arrive within 10 minutes")
    return time.perf_counter() - started


async def bare_echo(messages: int, users: int) -> float:
    """Messages per second for aiogram's plain polling with an echo handler."""
    emu = Emulator()
    await emu.start()
    bot = Bot(emu.token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    router = Router()

    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    router.message.register(echo)
    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    await asyncio.sleep(0.5)
    try:
        elapsed = await _inject_and_wait(emu, messages, users, "/help")
    finally:
        await dp.stop_polling()
        await task
        await bot.session.close()
        await emu.stop()
    return messages / elapsed


async def censusbot_help(messages: int, users: int, database_url: str) -> float:
    """Messages per second for censusbot answering /help (durable inbox, DB, templates)."""
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    emu = Emulator()
    await emu.start()
    app = await start_bot(emu, database_url)
    try:
        elapsed = await _inject_and_wait(emu, messages, users, "/help")
    finally:
        await app.stop()
        await emu.stop()
    return messages / elapsed


async def main() -> None:
    """Run both and print rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--database-url", default=None,
                        help="censusbot's database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        base = await bare_echo(args.messages, args.users)
        ours = await censusbot_help(args.messages, args.users, url)
    db = url.split(":", 1)[0]
    print(f"updates: {args.messages} from {args.users} users, through the emulator over HTTP")
    print(f"baseline  bare aiogram echo bot : {base:8.1f} updates/s")
    print(f"censusbot /help ({db:>17}) : {ours:8.1f} updates/s")
    print(f"ratio censusbot / baseline      : {ours / base:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
