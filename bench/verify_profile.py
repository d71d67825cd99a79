"""Profile censusbot's /verify, /help and report update paths in one process: SQL statements
per update (by kind), driver trips per update (PostgreSQL: writes to the server's socket, each a
round trip, BEGIN and COMMIT included; SQLite: aiosqlite thread hops) and cProfile's top
entries. SYNTHETIC roster and county liaisons; the project's Bot API emulator. The report path
is measured in its two updates apart: the quick form (`/report 工业 ...`, answered with the
summary) and the Confirm button ("submitted").

    python bench/verify_profile.py [--messages 300] [--reports 60] [--pg] [--top 25]
        [--paths verify help report]
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events as selector_events
import collections
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosqlite.core
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.common import PG_DSN, pg_database
from bench.hot_paths import (
    LIAISON_BASE,
    NOW,
    REPORT_TEXT,
    drive,
    help_messages,
    prepare_censusbot,
    verify_messages,
)
from emulator import Emulator
from emulator.harness import start_bot

STATEMENTS: collections.Counter[str] = collections.Counter()
PG_PORT = int(PG_DSN.rsplit(":", 1)[1].split("/")[0]) if PG_DSN.count(":") > 1 else 5432
TRIPS: collections.Counter[str] = collections.Counter()
_TRANSPORT: Any = vars(selector_events)["_SelectorSocketTransport"]
_write = _TRANSPORT.write
_hop = aiosqlite.core.Connection._execute


def _counted_write(self: Any, data: Any) -> None:
    peer = self.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) > 1 and peer[1] == PG_PORT:
        TRIPS["postgresql"] += 1
    _write(self, data)


async def _counted_hop(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    TRIPS["sqlite"] += 1
    return await _hop(self, fn, *args, **kwargs)


_TRANSPORT.write = _counted_write
aiosqlite.core.Connection._execute = _counted_hop  # type: ignore[method-assign]


@event.listens_for(Engine, "before_cursor_execute")
def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    words = statement.split()
    head = " ".join(words[:3]) if words else "?"
    if words and words[0].upper() == "SELECT":
        head = "SELECT … " + next((w for i, w in enumerate(words) if words[i - 1].upper()
                                   == "FROM"), "?")
    STATEMENTS[head[:60]] += 1


def _print(name: str, got: int, took: float, prof: cProfile.Profile, top: int) -> None:
    per = sum(STATEMENTS.values()) / max(1, got)
    print(f"\n== {name}: {got} replies in {took:.1f} s ({got / max(took, 1e-9):.0f}/s), "
          f"{per:.1f} SQL statements per update, "
          f"{sum(TRIPS.values()) / max(1, got):.1f} driver trips per update")
    for head, k in STATEMENTS.most_common():
        print(f"  {k / max(1, got):6.2f}  {head}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print("\n".join(out.getvalue().splitlines()[6:6 + top + 3]))


async def _quick_forms(emu: Emulator, ids: range) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every liaison in `ids` sends the quick form at once; (user, summary message) each."""
    users = [emu.user(id=LIAISON_BASE + i, first_name=f"联络员{i}", language_code="zh-hans")
             for i in ids]
    for i, user in zip(ids, users, strict=True):
        await emu.send_text(user, REPORT_TEXT.format(i=100 + i % 50, e=90 + i % 10))
    return list(zip(users, await asyncio.gather(*(
        emu.wait_for_bot_message(u["id"], timeout=300) for u in users)), strict=True))


async def _confirms(emu: Emulator, shown: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Every liaison presses Confirm under their summary; wait for each "submitted"."""
    for user, summary in shown:
        await emu.click(user, summary, "rp:confirm")
    await asyncio.gather(*(emu.wait_for_bot_message(u["id"], lambda m: "已提交" in m["text"],
                                                    timeout=300) for u, _ in shown))


async def _profiled(name: str, run: Any, got: int, top: int) -> Any:
    STATEMENTS.clear()
    TRIPS.clear()
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    result = await run
    prof.disable()
    _print(name, got, time.perf_counter() - started, prof, top)
    return result


async def one(url: str, n: int, reports: int, top: int, paths: list[str]) -> None:
    """Prepare, then drive `n` /verify and `n` /help updates and `reports` submissions
    (after a few unprofiled ones to warm up), profiled; print the figures."""
    warm = 10
    await prepare_censusbot(url, 5000, warm + reports)
    async with Emulator(bot_username="bench_prof_bot") as emu:
        app = await start_bot(emu, url, clock=lambda: NOW, CENSUSBOT_LOOKUPS_PER_MINUTE=10**9,
                              CENSUSBOT_LOOKUPS_PER_DAY=10**9)
        try:
            await drive(emu, verify_messages(20, 20, 5000))  # warm up
            for name, msgs in (("verify", verify_messages(n, n // 3, 5000)),
                               ("help", help_messages(n, n // 3))):
                if name not in paths:
                    continue
                STATEMENTS.clear()
                TRIPS.clear()
                prof = cProfile.Profile()
                prof.enable()
                took, got = await drive(emu, msgs)
                prof.disable()
                _print(name, got, took, prof, top)
            if "report" in paths:
                await _confirms(emu, await _quick_forms(emu, range(warm)))  # warm up
                ids = range(warm, warm + reports)
                shown = await _profiled("report: quick form", _quick_forms(emu, ids),
                                        reports, top)
                await _profiled("report: confirm", _confirms(emu, shown), reports, top)
        finally:
            await app.stop()


async def main() -> None:
    """SQLite (and PostgreSQL with --pg)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--reports", type=int, default=60, help="liaisons submitting")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--paths", nargs="*", default=["verify", "help", "report"],
                        choices=["verify", "help", "report"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        await one(f"sqlite+aiosqlite:///{tmp}/prof.db", args.messages, args.reports, args.top,
                      args.paths)
    if args.pg:
        async with pg_database(f"censusbot_bench_prof_{os.getpid()}") as url:
            print("\nPostgreSQL")
            await one(url, args.messages, args.reports, args.top, args.paths)


if __name__ == "__main__":
    asyncio.run(main())
