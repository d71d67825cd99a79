"""Scale-out load test (issue #16): N webhook workers on one PostgreSQL and Redis.

For each N, a fresh database; CHATS chats × PER_CHAT `/verify` messages are posted round-robin
to the workers (a chat's next message after the previous one was accepted); one worker is
killed with kill -9 after a third of the burst and restarted. Prints updates/s (first post to
last reply), lost, duplicated and out-of-order chats per N.

Run: `python bench/scaleout.py [--workers 1 2 4] [--chats 200] [--per-chat 5]`
(needs PostgreSQL at CENSUSBOT_TEST_PG and Redis at CENSUSBOT_BENCH_REDIS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bot.db.engine import create_engine
from emulator import Emulator
from emulator.fleet import Fleet, holder_pid, message_update
from migrations import runner as migrate

PG_DSN = os.environ.get("CENSUSBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CENSUSBOT_BENCH_REDIS", "redis://127.0.0.1:6379/12")


async def _fresh_database(name: str) -> str:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{url}/{name}"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _clear_leases() -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.delete("censusbot:lease:outbox-sender", "censusbot:lease:scheduler")
        return 0
    finally:
        await client.aclose()


async def _holder_pid() -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        holder = await client.get("censusbot:lease:outbox-sender")
        return holder_pid(holder) if holder else 0
    finally:
        await client.aclose()


async def run_once(n: int, chats: int, per_chat: int, log_dir: Path) -> dict[str, float]:
    """One round with `n` workers; the figures."""
    await _clear_leases()  # clears the leases of a previous round
    name = f"scaleout_bench_{n}"
    url = await _fresh_database(name)
    emu = Emulator(bot_username="census_bench_bot")
    await emu.start()
    fleet = Fleet(n, api_base=emu.base_url, token=emu.token, database_url=url,
                  redis_url=REDIS_URL, log_dir=log_dir / f"n{n}", extra_env={
                      "CENSUSBOT_UPDATE_WORKERS": "8",
                      "CENSUSBOT_LOOKUPS_PER_MINUTE": "1000",
                      "CENSUSBOT_LOOKUP_SCAN_THRESHOLD": "100000",
                      "CENSUSBOT_LOOKUP_OFFICE_LIMIT": "100000",
                      "CENSUSBOT_OUTBOX_LEASE_TTL": "12"})
    users = [emu.user(id=6_000_000 + c, first_name=f"B{c}", language_code="en")
             for c in range(chats)]
    total = chats * per_chat
    try:
        await fleet.start()
        counter = iter(range(1, total + 1))
        accepted = 0
        third = asyncio.Event()

        async def chat(c: int) -> None:
            nonlocal accepted
            for k in range(1, per_chat + 1):
                text = f"/verify ZZ-{410000 + c:06d}-{k:04d}"
                await fleet.deliver(message_update(next(counter), users[c], text))
                accepted += 1
                if accepted >= total // 3:
                    third.set()

        started = time.perf_counter()
        burst = asyncio.gather(*(chat(c) for c in range(chats)))
        await third.wait()
        pid = await _holder_pid()
        victim = next((w for w in fleet.workers if w.proc and w.proc.pid == pid),
                      fleet.workers[0])
        victim.kill()
        await asyncio.sleep(1.0)
        victim.start()
        await burst
        deadline = time.monotonic() + 600
        while sum(1 for r in emu.sent_log if r.method == "sendMessage") < total:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(3.0)  # a duplicate would show now
        replies: dict[int, list[str]] = defaultdict(list)
        for r in emu.sent_log:
            if r.method == "sendMessage":
                replies[r.chat_id].append(r.text or "")
        lost = duplicated = out_of_order = 0
        for c, user in enumerate(users):
            asked = [f"ZZ-{410000 + c:06d}-{k:04d}" for k in range(1, per_chat + 1)]
            got = [next((a for a in asked if a in t), "?") for t in replies[user["id"]]]
            lost += sum(1 for a in asked if a not in got)
            duplicated += len(got) - len(set(got))
            out_of_order += [a for a in got if a in asked] != asked
        return {"workers": n, "rate": total / elapsed, "seconds": elapsed, "lost": lost,
                "duplicated": duplicated, "out_of_order": out_of_order,
                "retries": fleet.retries}
    finally:
        await fleet.stop()
        await emu.stop()
        await _drop_database(name)


async def main() -> None:
    """Run each worker count and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--per-chat", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [await run_once(n, args.chats, args.per_chat, Path(tmp))
                for n in args.workers]
    print(f"{args.chats} chats x {args.per_chat} /verify, round-robin, one worker kill -9'd "
          f"after a third and restarted; {os.cpu_count()} cores, load average at start "
          f"{load[0]:.1f}")
    print("workers  updates/s  seconds  lost  duplicated  out-of-order chats  re-posts")
    for r in rows:
        print(f"{r['workers']:7d}  {r['rate']:9.1f}  {r['seconds']:7.1f}  {r['lost']:4d}  "
              f"{r['duplicated']:10d}  {r['out_of_order']:18d}  {r['retries']:8d}")


if __name__ == "__main__":
    asyncio.run(main())
