"""CPU milliseconds per update of the bot process: the textbook peer's /verify and censusbot's
/verify, /help and report submission, in one run (the load-independent figure behind
bench/hot_paths.py, whose rates move with the machine's load).

The same bots, updates and emulator as bench/hot_paths.py; each bot process's user + system
CPU time (/proc/PID/stat) is read before and after each path, so other processes on the
machine change the figures little. The database server's own CPU (PostgreSQL) is not counted.
With --spy DIR, py-spy records the censusbot process during each path (DIR/<db>-<path>.txt,
raw format; summarise with a folded-stack tool).

    python bench/hot_paths_cpu.py [--pg] [--paths verify help report] [--messages 600]
        [--reports 120] [--spy DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import pg_database
from bench.hot_paths import (
    HERE,
    PYTHON,
    _env,
    drive,
    drive_reports,
    help_messages,
    launch,
    prepare_censusbot,
    stop,
    verify_messages,
    write_roster_csv,
)
from emulator import Emulator

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def measured(pid: int, run: Awaitable[Any], spy: Path | None) -> tuple[float, Any]:
    """(CPU seconds the process used while `run` ran, its result); py-spy meanwhile if asked."""
    recorder = None
    if spy is not None:
        recorder = subprocess.Popen(  # noqa: ASYNC220
            [str(Path(PYTHON).parent / "py-spy"), "record", "-p", str(pid), "-r", "200", "-f",
             "raw", "-o", str(spy), "--nonblocking", "-d", "600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = cpu_seconds(pid)
    result = await run
    used = cpu_seconds(pid) - before
    if recorder is not None:
        recorder.send_signal(2)  # SIGINT: py-spy writes what it has
        recorder.wait(30)
    return used, result


async def one_database(db: str, census_url: str, peer_url: str, tmp: Path,
                       args: argparse.Namespace) -> list[tuple[str, str, int, float, float]]:
    """Peer /verify, then censusbot's paths: (db, who/path, updates, CPU ms/update, rate)."""
    rows = []
    verify = verify_messages(args.messages, args.users, args.staff)
    roster = tmp / "roster.csv"
    write_roster_csv(roster, args.staff)
    async with Emulator(bot_username="bench_peer_bot") as emu:
        env = _env(emu, PEER_ROSTER=str(roster), PEER_DB=str(tmp / "peer.sqlite3"))
        if peer_url:
            env["PEER_DB_URL"] = peer_url
        proc = await launch(emu, [PYTHON, str(HERE / "baselines" / "peer_bot.py")], env,
                            tmp / "peer.log")
        try:
            used, (took, got) = await measured(proc.pid, drive(emu, verify), None)
            rows.append((db, "peer verify", got, 1000 * used / max(1, got), got / took))
        finally:
            await stop(proc)
    await prepare_censusbot(census_url, args.staff, args.reports)
    async with Emulator(bot_username="bench_census_bot") as emu:
        proc = await launch(emu, [PYTHON, str(HERE / "hot_paths.py"), "--child", census_url],
                            _env(emu, CENSUSBOT_SECRET="bench-only"), tmp / "censusbot.log")
        try:
            for path in args.paths:
                spy = Path(args.spy) / f"{db}-{path}.txt" if args.spy else None
                if path == "report":
                    used, took = await measured(proc.pid, drive_reports(emu, args.reports), spy)
                    got = 2 * args.reports
                else:
                    msgs = verify if path == "verify" else help_messages(args.messages,
                                                                          args.users)
                    used, (took, got) = await measured(proc.pid, drive(emu, msgs), spy)
                rows.append((db, f"censusbot {path}", got, 1000 * used / max(1, got),
                             got / took))
        finally:
            await stop(proc)
    return rows


async def main() -> None:
    """Every database; print CPU ms per update."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--paths", nargs="*", default=["verify", "help", "report"],
                        choices=["verify", "help", "report"])
    parser.add_argument("--messages", type=int, default=600, help="/verify and /help updates")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--reports", type=int, default=120, help="liaisons submitting")
    parser.add_argument("--staff", type=int, default=5000, help="SYNTHETIC roster size")
    parser.add_argument("--spy", metavar="DIR", help="py-spy the censusbot process per path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await one_database("SQLite", f"sqlite+aiosqlite:///{tmp}/census.sqlite3", "",
                                   Path(tmp), args)
    if args.pg:
        with tempfile.TemporaryDirectory() as tmp2:
            async with pg_database("censusbot_bench_cpu") as census, \
                    pg_database("censusbot_bench_cpu_peer") as peer:
                rows += await one_database("PostgreSQL", census, peer, Path(tmp2), args)
    print("CPU ms per update of the bot process (user + system), and updates answered per "
          "second in the same run; the peer's /verify is the textbook durable handler.")
    print(f"{'database':<11}{'bot and path':<19}{'updates':>8}{'CPU ms':>8}{'/s':>8}"
          f"{'peer CPU ÷ this':>17}")
    peer = {db: ms for db, who, _, ms, _ in rows if who == "peer verify"}
    for db, who, n, ms, rate in rows:
        print(f"{db:<11}{who:<19}{n:>8}{ms:>8.2f}{rate:>8.1f}{peer[db] / ms:>17.2f}")


if __name__ == "__main__":
    asyncio.run(main())
