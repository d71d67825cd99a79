"""Verification lookups per second through the Bot API emulator, on a 40,000-staff
SYNTHETIC roster, side by side with a bare aiogram echo bot on the same emulator in the same run.

Each simulated citizen sends `/verify ID` messages (90% IDs on the roster, 10% unknown); the
clock starts when the messages are injected and stops when every reply has arrived. Rate limits
are raised for the run (the limit is still queried on every lookup). The roster is SYNTHETIC:
names, phones and IDs are generated, not real people.

    python bench/verify_lookups.py [--staff 40000] [--users 20] [--per-user 25]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message
from sqlalchemy import insert

from bot.config import Settings
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.staff import Staff
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp, build_dispatcher
from bot.telegram.factory import create_bot
from emulator import Emulator
from migrations import runner as migrate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
COUNTIES = ["410102", "410103", "410104", "410105", "410106", "410108", "410122", "410181",
            "410182", "410183", "410184", "410185", "410171", "410172", "410173", "410174"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


def synthetic_rows(n: int, now: datetime) -> list[dict[str, object]]:
    """SYNTHETIC staff rows: generated IDs, names and phones."""
    rng = random.Random(42)
    rows: list[dict[str, object]] = []
    for i in range(n):
        county = COUNTIES[i % len(COUNTIES)]
        rows.append({
            "staff_id": f"ZZ-{county}-{i:05d}",
            "name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2)),
            "role": "supervisor" if i % 6 == 0 else "enumerator",
            "unit_code": county,
            "phone": f"+86139{i:08d}",
            "org": None,
            "valid_to": date(2019, 6, 30),
            "status": "revoked" if i % 50 == 0 else "active",
            "created_at": now,
            "updated_at": now,
        })
    return rows


async def prepare(url: str, staff: int) -> None:
    """Migrate, load Zhengzhou and bulk-insert the synthetic roster."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        now = datetime.now(UTC)
        async with create_sessionmaker(engine)() as s:
            tree = org_service.read_tree(SHARED / "data" / "zhengzhou.yaml")
            await org_service.load_tree(s, tree, now=now)
            await s.commit()  # the bench is the unit-of-work owner
        rows = synthetic_rows(staff, now)
        async with engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(Staff), rows[start:start + 5000])
    finally:
        await engine.dispose()


def messages_for(users: int, per_user: int, staff: int) -> list[tuple[int, str]]:
    """(user id, text) pairs: 90% roster IDs, 10% unknown ones."""
    rng = random.Random(7)
    out = []
    for u in range(users):
        for _ in range(per_user):
            i = rng.randrange(staff)
            if rng.random() < 0.1:
                text = f"/verify ZZ-{COUNTIES[i % 16]}-9{i:05d}"
            else:
                text = f"/verify ZZ-{COUNTIES[i % 16]}-{i:05d}"
            out.append((100000 + u, text))
    return out


async def drive(emu: Emulator, msgs: list[tuple[int, str]]) -> float:
    """Inject every message, wait for one reply each; returns elapsed seconds."""
    chats = sorted({u for u, _ in msgs})
    for uid in chats:
        emu.user(id=uid, first_name="Bench", language_code="zh-hans")
    before = {uid: emu.bot_message_count(uid) for uid in chats}
    expected = len(msgs)
    started = time.perf_counter()
    for uid, text in msgs:
        await emu.send_text(uid, text)
    while True:
        got = sum(emu.bot_message_count(uid) - before[uid] for uid in chats)
        if got >= expected:
            return time.perf_counter() - started
        if time.perf_counter() - started > 600:
            raise TimeoutError(f"only {got}/{expected} replies after 600 s")
        await emu.wait_changed(1.0)


async def run_census_bot(emu: Emulator, url: str, msgs: list[tuple[int, str]]) -> float:
    """The real bot (inbox, middlewares, lookup service, audit) answering /verify."""
    values: dict[str, Any] = {
        "BOT_TOKEN": emu.token, "TELEGRAM_API_BASE": emu.base_url, "DATABASE_URL": url,
        "CENSUSBOT_SECRET": "bench-secret-0123456789abcdef-0123456789",
        "CENSUSBOT_POLLING_TIMEOUT": 1, "CENSUSBOT_SCHEDULER": False,
        "CENSUSBOT_LOOKUPS_PER_MINUTE": 10**9, "CENSUSBOT_LOOKUPS_PER_DAY": 10**9,
        "CENSUSBOT_LOOKUP_OFFICE_LIMIT": 10**9,
    }
    settings = Settings(**values)
    bot = create_bot(settings)
    app = BotApp(settings, bot, build_dispatcher(settings, components=False))
    await app.start()
    try:
        return await drive(emu, msgs)
    finally:
        await app.stop()


async def run_echo_bot(emu: Emulator, msgs: list[tuple[int, str]]) -> float:
    """Baseline: a bare aiogram echo bot polling the same emulator."""
    values: dict[str, Any] = {"BOT_TOKEN": emu.token, "TELEGRAM_API_BASE": emu.base_url}
    settings = Settings(**values)
    bot: Bot = create_bot(settings)
    dp = Dispatcher()
    router = Router()

    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    router.message.register(echo)
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    await asyncio.sleep(0.5)
    try:
        return await drive(emu, msgs)
    finally:
        await dp.stop_polling()
        await task
        await bot.session.close()


async def main() -> None:
    """Prepare the roster, run both bots, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--staff", type=int, default=40000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        t0 = time.perf_counter()
        await prepare(url, args.staff)
        print(f"SYNTHETIC roster: {args.staff} staff inserted in "
              f"{time.perf_counter() - t0:.1f} s (SQLite)")
        msgs = messages_for(args.users, args.per_user, args.staff)
        emu = Emulator(bot_username="census_bench_bot")
        await emu.start()
        try:
            echo_s = await run_echo_bot(emu, msgs)
            census_s = await run_census_bot(emu, url, msgs)
        finally:
            await emu.stop()
    n = len(msgs)
    echo_rate, census_rate = n / echo_s, n / census_s
    print(f"messages: {n} from {args.users} users")
    print(f"bare aiogram echo bot : {echo_rate:8.1f} msg/s ({echo_s:.2f} s)")
    print(f"census bot /verify    : {census_rate:8.1f} lookups/s ({census_s:.2f} s)")
    print(f"ratio (census / echo) : {census_rate / echo_rate:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
