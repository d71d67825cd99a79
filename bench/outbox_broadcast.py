"""Broadcast N messages through the emulator with a share of sends answered 429.

Figures: sustained delivered rate vs the configured limit (wall time, and excluding the
pause-all time that 429s impose), the busiest one-second window (never above the limit),
lost and duplicated messages (from the emulator's sent_log).

    python bench/outbox_broadcast.py --messages 20000 --rate 200 --chats 20000
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.db import migrate
from bot.db.engine import create_engine, create_sessionmaker
from bot.delivery.sender import OutboxSender, SenderConfig
from bot.delivery.telegram import TelegramTransport
from bot.emulator import Emulator
from bot.emulator.faults import FloodLimits
from bot.services.outbox import enqueue
from bot.util.clock import utc_now


def busiest_second(times: list[float]) -> int:
    """The most sends in any half-open one-second window."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


async def main(args: argparse.Namespace) -> None:
    """Run the broadcast and print the figures."""
    emu = Emulator(enforce_limits=True, limits=FloodLimits(global_per_second=args.rate * 1.2))
    await emu.start()
    tmp = tempfile.mkdtemp()
    url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    sm = create_sessionmaker(engine)
    for uid in range(1, args.chats + 1):
        emu.user(1_000_000 + uid)
    now = utc_now()
    t0 = time.perf_counter()
    async with sm() as s:
        for i in range(args.messages):
            await enqueue(s, now=now, chat_id=1_000_000 + 1 + i % args.chats, kind="broadcast",
                          text=f"bulletin #{i}", dedup_key=f"bench:{i}",
                          respect_quiet_hours=False)
        await s.commit()
    print(f"queued {args.messages} rows in {time.perf_counter() - t0:.1f}s ({url.split(':')[0]})")
    emu.fault_rate("sendMessage", kind="429", probability=args.fault, retry_after=args.retry_after,
                   seed=7)
    settings = Settings(BOT_TOKEN=emu.token, TELEGRAM_API_BASE=emu.base_url, DATABASE_URL=url)
    config = SenderConfig(rate_per_second=args.rate, per_chat_interval=1.0, quiet_start=None,
                          concurrency=args.concurrency, batch=500)
    sender = OutboxSender(sm, TelegramTransport.from_settings(settings), config)
    start = time.monotonic()
    try:
        await sender.drain(max_seconds=args.max_seconds)
    finally:
        await sender.stop()
    elapsed = time.monotonic() - start
    counts = collections.Counter(r.text for r in emu.sent_log)
    lost = sum(1 for i in range(args.messages) if counts[f"bulletin #{i}"] == 0)
    dup = sum(n - 1 for n in counts.values() if n > 1)
    calls = [r.at for r in emu.request_log if r.method == "sendMessage"]
    refused = sum(1 for r in emu.request_log if r.status == 429)
    paused = sender.limiter.paused_total
    delivered = len(emu.sent_log)
    print(f"configured limit        {args.rate:.0f}/s, concurrency {args.concurrency}, "
          f"{args.chats} chats, 429 on {args.fault:.0%} of sends (retry_after {args.retry_after}s)")
    print(f"delivered               {delivered} in {elapsed:.1f}s")
    print(f"API calls               {len(calls)} ({refused} answered 429)")
    print(f"rate over wall time     {delivered / elapsed:.1f}/s delivered, "
          f"{len(calls) / elapsed:.1f}/s calls ({len(calls) / elapsed / args.rate:.1%} of limit)")
    active = max(1e-9, elapsed - paused)
    print(f"rate outside 429 pauses {len(calls) / active:.1f}/s calls "
          f"({len(calls) / active / args.rate:.1%} of limit); paused {paused:.1f}s in total")
    print(f"busiest second          {busiest_second(calls)} calls (limit {args.rate:.0f})")
    print(f"lost {lost}, duplicated {dup}")
    await engine.dispose()
    await emu.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--chats", type=int, default=20_000)
    p.add_argument("--rate", type=float, default=25.0, help="configured sends per second")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--fault", type=float, default=0.05, help="share of sends answered 429")
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--db", default=None, help="DATABASE_URL (default: a temporary SQLite file)")
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(p.parse_args()))
