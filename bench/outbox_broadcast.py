"""Broadcast N messages through the emulator with a share of sends answered 429.

Figures: sustained rate vs the configured limit, over wall time and over wall time minus the
pause-all time that 429s impose, for API calls (what the limit is enforced on: a call answered
429 counts) and for delivered messages; the busiest one-second window of the emulator's own
clock readings -- when it received each call, when it answered it, when it stored each delivered
message -- never above the limit; lost and duplicated messages (from the emulator's sent_log);
database commits per message.

BASELINE, in the same run on its own emulator and database: the textbook outbox loop -- one
row at a time, oldest first, calls started 1/rate apart, a 429 answered by sleeping its
retry_after and trying the same row again, each state change committed (two commits a message).

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
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.outbox import OUTBOX_PENDING, OUTBOX_SENDING, OUTBOX_SENT, OutboxMessage
from bot.delivery.sender import OutboxSender, SenderConfig
from bot.delivery.telegram import TelegramTransport
from bot.delivery.transport import RetryAfter
from bot.services.shared.outbox import enqueue
from bot.util.clock import utc_now
from emulator import Emulator
from emulator.faults import FloodLimits
from migrations import runner as migrate


def busiest_second(times: list[float]) -> int:
    """The most sends in any half-open one-second window."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def report(title: str, args: argparse.Namespace, emu: Emulator, *, paused: float, limit: float,
           elapsed: float, drained: bool, commits: int) -> None:
    """Print the figures of one run."""
    counts = collections.Counter(r.text for r in emu.sent_log)
    lost = sum(1 for i in range(args.messages) if counts[f"bulletin #{i}"] == 0)
    dup = sum(n - 1 for n in counts.values() if n > 1)
    calls = [r for r in emu.request_log if r.method == "sendMessage"]
    refused = sum(1 for r in calls if r.status == 429)
    delivered = len(emu.sent_log)
    active = max(1e-9, elapsed - paused)

    def rate(n: int, seconds: float) -> str:
        return f"{n / seconds:.1f}/s ({n / seconds / limit:.1%})"

    print(f"== {title}")
    print(f"configured limit        {args.rate:g}/s, concurrency "
          f"{1 if title.startswith('BASELINE') else args.concurrency}, "
          f"{args.chats} chats, 429 on {args.fault:.0%} of sends (retry_after {args.retry_after}s)")
    print(f"delivered               {delivered} in {elapsed:.1f}s"
          + ("" if drained else " (TIMED OUT)") + f"; 429 pauses {paused:.1f}s in total")
    print(f"API calls               {len(calls)} ({refused} answered 429)")
    print(f"rate over wall time     calls {rate(len(calls), elapsed)}, "
          f"delivered {rate(delivered, elapsed)}  [% of the limit]")
    print(f"rate outside 429 pauses calls {rate(len(calls), active)}, "
          f"delivered {rate(delivered, active)}")
    if paused >= 1.0:
        print("  (a pause of a window or more empties the window, so the first second after it "
              "may carry a full window: over 100 % here is not over the limit)")
    print(f"busiest 1 s window      calls received {busiest_second([r.received for r in calls])}, "
          f"answered {busiest_second([r.at for r in calls])}, delivered "
          f"{busiest_second([r.at for r in emu.sent_log])} (limit {limit:g}; emulator's clock)")
    print(f"database commits        {commits} ({commits / max(1, delivered):.2f} per message)")
    print(f"lost {lost}, duplicated {dup}")


async def naive_send_all(sm: Any, transport: TelegramTransport, rate: float) -> float:
    """BASELINE sender: one row at a time, fixed spacing, sleep out 429s; returns pause time."""
    interval, next_start, paused = 1.0 / rate, time.monotonic(), 0.0
    while True:
        async with sm() as s:
            row = await s.scalar(select(OutboxMessage)
                                 .where(OutboxMessage.state == OUTBOX_PENDING)
                                 .order_by(OutboxMessage.id).limit(1))
            if row is None:
                return paused
            row.state = OUTBOX_SENDING
            await s.commit()
            delay = next_start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_start = max(next_start, time.monotonic()) + interval
            try:
                await transport.send(row.method, row.chat_id, dict(row.payload))
                row.state = OUTBOX_SENT
            except RetryAfter as exc:
                row.state = OUTBOX_PENDING
                await asyncio.sleep(exc.retry_after)
                paused += exc.retry_after
            await s.commit()


async def run(args: argparse.Namespace, baseline: bool) -> None:
    """Queue the broadcast on a fresh emulator and database, deliver it, print the figures."""
    emu = Emulator(enforce_limits=True, limits=FloodLimits(global_per_second=args.rate * 1.2))
    await emu.start()
    tmp = tempfile.mkdtemp()
    url = (args.baseline_db if baseline else args.db) or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
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
    transport = TelegramTransport.from_settings(settings)
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _count(_conn: Any) -> None:
        commits[0] += 1

    start = time.monotonic()
    if baseline:
        paused = await naive_send_all(sm, transport, args.rate)
        await transport.close()
        elapsed = time.monotonic() - start
        report("BASELINE: one row at a time, fixed spacing, two commits a message", args, emu,
               paused=paused, limit=args.rate, elapsed=elapsed, drained=True,
               commits=commits[0])
    else:
        config = SenderConfig(rate_per_second=args.rate, per_chat_interval=1.0,
                              quiet_start=None, concurrency=args.concurrency, batch=500)
        sender = OutboxSender(sm, transport, config)
        try:
            drained = await sender.drain(max_seconds=args.max_seconds)
        finally:
            await sender.stop()
        elapsed = time.monotonic() - start
        report("censusbot OutboxSender", args, emu, paused=sender.limiter.paused_total,
               limit=sender.limiter.capacity / sender.limiter.window, elapsed=elapsed,
               drained=drained, commits=commits[0])
    await engine.dispose()
    await emu.stop()


async def main(args: argparse.Namespace) -> None:
    """The sender, then (unless --no-baseline) the baseline, in one run."""
    await run(args, baseline=False)
    if not args.no_baseline:
        await run(args, baseline=True)


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
    p.add_argument("--baseline-db", default=None, help="DATABASE_URL for the baseline run")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline run")
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(p.parse_args()))
