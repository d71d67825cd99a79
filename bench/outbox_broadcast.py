"""Broadcast N messages through the emulator with a share of sends answered 429.

Figures: sustained rate vs the configured limit, over wall time and over wall time minus the
pause-all time that 429s impose, for API calls (what the limit is enforced on: a call answered
429 counts) and for delivered messages; the busiest one-second window of the emulator's own
clock readings -- when it received each call, when it answered it, when it stored each delivered
message -- never above the limit; lost and duplicated messages (from the emulator's sent_log);
database commits per message.

    python bench/outbox_broadcast.py --messages 20000 --chats 20000 --rate 60 --retry-after 0
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, select

from bot.config import Settings
from bot.db import migrate
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.outbox import OutboxMessage
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


def report(args: argparse.Namespace, emu: Emulator, sender: OutboxSender, elapsed: float,
           drained: bool, commits: int) -> None:
    """Print the figures."""
    counts = collections.Counter(r.text for r in emu.sent_log)
    lost = sum(1 for i in range(args.messages) if counts[f"bulletin #{i}"] == 0)
    dup = sum(n - 1 for n in counts.values() if n > 1)
    calls = [r for r in emu.request_log if r.method == "sendMessage"]
    refused = sum(1 for r in calls if r.status == 429)
    delivered = len(emu.sent_log)
    paused = sender.limiter.paused_total
    active = max(1e-9, elapsed - paused)
    limit = sender.limiter.capacity / sender.limiter.window

    def rate(n: int, seconds: float) -> str:
        return f"{n / seconds:.1f}/s ({n / seconds / limit:.1%})"

    print(f"configured limit        {args.rate:g}/s, concurrency {args.concurrency}, "
          f"{args.chats} chats, 429 on {args.fault:.0%} of sends (retry_after {args.retry_after}s)")
    print(f"delivered               {delivered} in {elapsed:.1f}s"
          + ("" if drained else " (TIMED OUT)") + f"; 429 pauses {paused:.1f}s in total")
    print(f"API calls               {len(calls)} ({refused} answered 429)")
    print(f"rate over wall time     calls {rate(len(calls), elapsed)}, "
          f"delivered {rate(delivered, elapsed)}  [% of the limit]")
    print(f"rate outside 429 pauses calls {rate(len(calls), active)}, "
          f"delivered {rate(delivered, active)}")
    if paused >= sender.limiter.window:
        print("  (a pause of a window or more empties the window, so the first second after it "
              "may carry a full window: over 100 % here is not over the limit)")
    print(f"busiest 1 s window      calls received {busiest_second([r.received for r in calls])}, "
          f"answered {busiest_second([r.at for r in calls])}, delivered "
          f"{busiest_second([r.at for r in emu.sent_log])} (limit {limit:g}; emulator's clock)")
    print(f"database commits        {commits} ({commits / max(1, delivered):.2f} per message)")
    print(f"lost {lost}, duplicated {dup}")


async def main(args: argparse.Namespace) -> None:
    """Run the broadcast and print the figures."""
    emu = Emulator(enforce_limits=True, limits=FloodLimits(global_per_second=args.rate * 1.2))
    await emu.start()
    tmp = tempfile.mkdtemp()
    url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    sm = create_sessionmaker(engine)
    async with sm() as s:
        if await s.scalar(select(func.count(OutboxMessage.id))):
            await engine.dispose()
            await emu.stop()
            raise SystemExit(f"{url}: the outbox is not empty; give the bench a fresh database")
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
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _count(_conn: Any) -> None:
        commits[0] += 1

    start = time.monotonic()
    try:
        drained = await sender.drain(max_seconds=args.max_seconds)
    finally:
        await sender.stop()
    elapsed = time.monotonic() - start
    report(args, emu, sender, elapsed, drained, commits[0])
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
