"""Hot paths side by side: the bare echo bot, the textbook peer and censusbot, one run.

For each database (SQLite, then PostgreSQL with --pg) three bots run, each in its own process
polling its own fresh Bot API emulator (the project's, over loopback HTTP), and each gets the
SAME updates: `/verify ID` (SYNTHETIC roster, 90 % known IDs), `/help`, a FAQ
question (the development questions of shared/faq, which the FAQ never saw when written) and a
report submission (SYNTHETIC county liaisons: quick form, wait for the summary, press Confirm,
wait for "submitted": two updates).

- echo: `bench/baselines/echo_bot.py` (the project's shared baseline) answers every update.
- peer: `bench/baselines/peer_bot.py` (the shared textbook aiogram + SQLAlchemy bot; this copy
  may also use PostgreSQL) implements /verify only: session per update, user upsert, staff
  lookup, audit row, commit, answer. Its /verify rate is the cost of the textbook *durable
  handler*, and every censusbot path is compared against it.
- censusbot: the real bot (durable inbox, one transaction per update, audit, exact limits,
  outbox sender running), its clock fixed inside the census (2018-10-08 10:00 Shanghai). Its
  lookup limits are raised so that every /verify is a lookup like the peer's (they are still
  counted on every lookup); one FAQ question is answered before timing starts (the FAQ index
  is built in the background after launch: start-up is bench/cold_start.py's measure).

Rates are updates answered per second (clock from the first update injected to the last reply).
The echo bot runs first, alone. Then the peer and censusbot run side by side (both started,
one measured at a time) for --rounds rounds: in each, every censusbot path is measured right
after a run of the peer's /verify, and its ratio is taken against that run. The machine is a
shared virtual one whose speed drifts (the same CPU loop took 0.5-1.0 s within minutes), so
the table gives medians over the rounds and the range of the paired ratios.

    python bench/hot_paths.py [--pg] [--rounds 3] [--messages 600] [--users 200] [--faq 200]
                              [--reports 120]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from sqlalchemy import insert

from bench.common import SHARED, ZHENGZHOU, at, pg_database
from bench.report_burst import TEXT as REPORT_TEXT
from bench.report_burst import synthetic_tree
from bench.verify_lookups import COUNTIES, synthetic_rows
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.staff import Staff
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from emulator import Emulator
from migrations import runner as migrate

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
NOW = at("2018-10-08 10:00")
LIAISON_BASE = 900_000
PEER_USERS = 500_000  # the peer's /verify users, a fresh thousand for each of its runs
PATHS = ("verify", "help", "faq", "report")


# ------------------------------------------------------------------------------ the updates
def verify_messages(n: int, users: int, staff: int, first: int = 100_000
                    ) -> list[tuple[int, str]]:
    """(user id, text): /verify with 90 % roster IDs, 10 % unknown ones; users from `first`."""
    rng = random.Random(7)
    out = []
    for k in range(n):
        i = rng.randrange(staff)
        known = rng.random() >= 0.1
        sid = f"ZZ-{COUNTIES[i % 16]}-{i:05d}" if known else f"ZZ-{COUNTIES[i % 16]}-9{i:05d}"
        out.append((first + k % users, f"/verify {sid}"))
    return out


def help_messages(n: int, users: int, first: int = 200_000) -> list[tuple[int, str]]:
    """(user id, "/help"); users from `first`."""
    return [(first + k % users, "/help") for k in range(n)]


def faq_messages(n: int, users: int, first: int = 300_000) -> list[tuple[int, str]]:
    """(user id, question): the shared development questions, in turn; users from `first`."""
    raw = yaml.safe_load((SHARED / "faq" / "dev_questions.yaml").read_text(encoding="utf-8"))
    questions = [q["text"] for q in raw["questions"] if q.get("topic")]
    return [(first + k % users, questions[k % len(questions)]) for k in range(n)]


# ------------------------------------------------------------------------------ the bots
def _env(emu: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEER_", "DATABASE_"))}
    env.update(BOT_TOKEN=emu.token, TELEGRAM_API_BASE=emu.base_url, **extra)
    return env


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:]


async def launch(emu: Emulator, argv: list[str], env: dict[str, str],
                 log: Path) -> subprocess.Popen[bytes]:
    """Start a bot process (its stderr to `log`) and wait until it polls the emulator."""
    seen = sum(1 for r in emu.request_log if r.method.lower() == "getupdates")
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                                stderr=err)
    started = time.perf_counter()
    while sum(1 for r in emu.request_log if r.method.lower() == "getupdates") <= seen:
        if proc.poll() is not None:
            tail = _tail(log)
            raise RuntimeError(f"{argv[-1]} exited with {proc.returncode}: {tail}")
        if time.perf_counter() - started > 300:
            raise TimeoutError(f"{argv[1]} did not start polling within 300 s")
        await asyncio.sleep(0.1)
    return proc


async def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait (SIGKILL after 30 s)."""
    proc.send_signal(signal.SIGTERM)
    for _ in range(300):
        if proc.poll() is not None:
            return
        await asyncio.sleep(0.1)
    proc.kill()
    proc.wait()


# ------------------------------------------------------------------------------ driving
def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def metered(proc: subprocess.Popen[bytes], run: Any) -> tuple[Any, float]:
    """Await `run`; (its result, CPU seconds the bot process used meanwhile)."""
    before = cpu_seconds(proc.pid)
    result = await run
    return result, cpu_seconds(proc.pid) - before


async def drive(emu: Emulator, msgs: list[tuple[int, str]], quiet: float = 15.0
                ) -> tuple[float, int]:
    """Inject every message at once and wait for one reply each, or until no reply came for
    `quiet` seconds (a bot that dropped updates); (seconds to the last reply, replies)."""
    chats = sorted({u for u, _ in msgs})
    for uid in chats:
        emu.user(id=uid, first_name="Bench", language_code="zh-hans")
    before = {uid: emu.bot_message_count(uid) for uid in chats}
    started = time.perf_counter()
    for uid, text in msgs:
        await emu.send_text(uid, text)
    got, last = 0, time.perf_counter()
    while got < len(msgs) and time.perf_counter() - last < quiet:
        await emu.wait_changed(0.5)
        now_got = sum(emu.bot_message_count(uid) - before[uid] for uid in chats)
        if now_got != got:
            got, last = now_got, time.perf_counter()
    return last - started, got


async def _liaison(emu: Emulator, i: int, echo: bool) -> None:
    """Liaison `i` (LIAISON_BASE + i) submits the quick form and confirms it."""
    user = emu.user(id=LIAISON_BASE + i, first_name=f"联络员{i}", language_code="zh-hans")
    text = REPORT_TEXT.format(i=100 + i % 50, e=90 + i % 10)
    await emu.send_text(user, text)
    summary = await emu.wait_for_bot_message(user["id"], timeout=300)
    if echo:  # the echo bot answers no buttons: the second update is the same text again
        await emu.send_text(user, text)
        await emu.wait_for_bot_message(user["id"], timeout=300)
        return
    await emu.click(user, summary, "rp:confirm")
    await emu.wait_for_bot_message(user["id"], lambda m: "已提交" in m["text"], timeout=300)


async def drive_reports(emu: Emulator, n: int, echo: bool = False, first: int = 0) -> float:
    """Liaisons `first`..`first + n - 1` submit at once (two updates each); elapsed seconds."""
    started = time.perf_counter()
    await asyncio.gather(*(_liaison(emu, first + i, echo) for i in range(n)))
    return time.perf_counter() - started


# ------------------------------------------------------------------------------ data
async def prepare_censusbot(url: str, staff: int, reports: int) -> None:
    """Migrate; Zhengzhou with the SYNTHETIC roster; SYNTHETIC Guangdong counties + liaisons."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        sm = create_sessionmaker(engine)
        async with sm() as s:
            await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
            await s.commit()  # the bench is the unit-of-work owner
        tree, codes = synthetic_tree(reports)
        async with sm() as s:
            await org_service.load_tree(s, tree, now=NOW)
            await s.commit()  # the bench is the unit-of-work owner
        rows = synthetic_rows(staff, NOW)
        async with engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(Staff), rows[start:start + 5000])
        for i, code in enumerate(codes):
            async with sm() as s:
                await users_service.grant_role(s, now=NOW, user_id=LIAISON_BASE + i,
                                               role="liaison", unit_code=code)
                await s.commit()  # the bench is the unit-of-work owner
    finally:
        await engine.dispose()


def write_roster_csv(path: Path, staff: int) -> None:
    """The same SYNTHETIC roster as the peer's PEER_ROSTER CSV."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["staff_id", "name", "unit_code", "status"])
        for r in synthetic_rows(staff, NOW):
            w.writerow([r["staff_id"], r["name"], r["unit_code"], r["status"]])


# ------------------------------------------------------------------------------ one database
def round_messages(args: argparse.Namespace, r: int) -> dict[str, list[tuple[int, str]]]:
    """The updates of round `r`: the same texts every round, from the round's own users (a
    user's lookups, limits and FAQ questions never carry over from one round to the next)."""
    off = 1000 * r
    return {
        "verify": verify_messages(args.messages, args.users, args.staff, 100_000 + off),
        "help": help_messages(args.messages, args.users, 200_000 + off),
        "faq": faq_messages(args.faq, max(1, args.users // 4), 300_000 + off),  # a few each
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def one_database(db: str, census_url: str, peer_url: str, tmp: Path,
                       args: argparse.Namespace) -> list[dict[str, Any]]:
    """Echo once; then the peer and censusbot, both running, measured in turn path by path
    (the peer's /verify right before each censusbot path) for `args.rounds` rounds; per
    path the medians, and the median and range of the paired ratios."""
    first = round_messages(args, 0)
    updates = {**{k: len(v) for k, v in first.items()}, "report": 2 * args.reports}
    echo: dict[str, float] = {}
    lost: dict[tuple[str, str], int] = {}

    def _rate(path: str, who: str, sent: int, result: tuple[float, int]) -> float:
        elapsed, answered = result
        lost[(path, who)] = max(lost.get((path, who), 0), sent - answered)
        return answered / elapsed

    async with Emulator(bot_username="bench_echo_bot") as emu:  # ---- echo
        proc = await launch(emu, [PYTHON, str(HERE / "baselines" / "echo_bot.py")], _env(emu),
                            tmp / "echo.log")
        try:
            for path in ("verify", "help", "faq"):
                echo[path] = _rate(path, "echo", len(first[path]),
                                   await drive(emu, first[path]))
            echo["report"] = updates["report"] / await drive_reports(emu, args.reports,
                                                                     echo=True)
        finally:
            await stop(proc)

    roster = tmp / "roster.csv"
    write_roster_csv(roster, args.staff)
    await prepare_censusbot(census_url, args.staff, args.reports * args.rounds)
    # (peer /s, censusbot /s, peer CPU ms, censusbot CPU ms) per path and round
    samples: dict[str, list[tuple[float, float, float, float]]] = {p: [] for p in PATHS}
    async with Emulator(bot_username="bench_peer_bot") as pemu, \
            Emulator(bot_username="bench_census_bot") as cemu:
        env = _env(pemu, PEER_ROSTER=str(roster), PEER_DB=str(tmp / "peer.sqlite3"))
        if peer_url:
            env["PEER_DB_URL"] = peer_url
        peer = await launch(pemu, [PYTHON, str(HERE / "baselines" / "peer_bot.py")], env,
                            tmp / "peer.log")
        prof = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        census: subprocess.Popen[bytes] | None = None
        try:
            census = await launch(cemu, [PYTHON, *prof, __file__, "--child", census_url],
                                  _env(cemu, CENSUSBOT_SECRET="bench-only"),
                                  tmp / "censusbot.log")
            # Warm up before timing: one FAQ question, answered once the FAQ index (built in
            # the background after start-up, see bench/cold_start.py) is ready, and a few
            # lookups of the peer's, so that both are measured in their steady state.
            await drive(cemu, [(399_999, "普查要收费吗")])
            await drive(pemu, verify_messages(20, 20, args.staff, 99_000))
            for r in range(args.rounds):
                msgs = round_messages(args, r)
                for i, path in enumerate(PATHS):
                    # the peer's run, like censusbot's, from users it has not seen before
                    verify = verify_messages(args.messages, args.users, args.staff,
                                             PEER_USERS + 1000 * (r * len(PATHS) + i))
                    result, used = await metered(peer, drive(pemu, verify))
                    peer_rate = _rate("verify", "peer", len(verify), result)
                    peer_ms = 1000 * used / max(1, result[1])
                    if path == "report":
                        took, used = await metered(census, drive_reports(
                            cemu, args.reports, first=r * args.reports))
                        rate, ms = updates[path] / took, 1000 * used / updates[path]
                    else:
                        result, used = await metered(census, drive(cemu, msgs[path]))
                        rate = _rate(path, "censusbot", len(msgs[path]), result)
                        ms = 1000 * used / max(1, result[1])
                    samples[path].append((peer_rate, rate, peer_ms, ms))
        finally:
            if census is not None:
                await stop(census)
            await stop(peer)
    rows = []
    for p in PATHS:
        got = samples[p]
        ratios = [c / q for q, c, _, _ in got]
        rows.append({
            "db": db, "path": p, "updates": updates[p], "echo": echo[p],
            "peer": _median([q for q, _, _, _ in got]),
            "censusbot": _median([c for _, c, _, _ in got]),
            "ratio": _median(ratios), "low": min(ratios), "high": max(ratios),
            "cpu": {"peer": _median([m for _, _, m, _ in got]),
                    "censusbot": _median([m for _, _, _, m in got])},
            "lost": {w: n for (q, w), n in lost.items() if n and (q == p or w == "peer")},
        })
    return rows


# ------------------------------------------------------------------------------ the child
async def child(url: str) -> None:
    """censusbot in this process, its clock fixed at NOW, until SIGTERM."""
    from bot.config import Settings
    from bot.telegram.app import BotApp, build_dispatcher
    from bot.telegram.factory import create_bot

    settings = Settings(
        BOT_TOKEN=os.environ["BOT_TOKEN"], TELEGRAM_API_BASE=os.environ["TELEGRAM_API_BASE"],
        DATABASE_URL=url, CENSUSBOT_SECRET="bench-only", CENSUSBOT_POLLING_TIMEOUT=1,
        CENSUSBOT_SCHEDULER=False, CENSUSBOT_LOOKUPS_PER_MINUTE=10**9,
        CENSUSBOT_LOOKUPS_PER_DAY=10**9, CENSUSBOT_LOOKUP_OFFICE_LIMIT=10**9,
        # the limits are still counted on every lookup; raised so that every /verify is a
        # lookup, as the peer's are (600 lookups of 16 offices' IDs would trip the office limit)
    )
    bot = create_bot(settings)
    app = BotApp(settings, bot, build_dispatcher(settings, clock=lambda: NOW))
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await app.start()
    await done.wait()
    await app.stop()


async def main() -> None:
    """Run every bot on every database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--messages", type=int, default=600, help="/verify and /help updates")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--faq", type=int, default=200, help="FAQ questions")
    parser.add_argument("--reports", type=int, default=120, help="liaisons submitting")
    parser.add_argument("--staff", type=int, default=5000, help="SYNTHETIC roster size")
    parser.add_argument("--rounds", type=int, default=3,
                        help="peer and censusbot measured in turn this many times")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the censusbot process")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        await child(args.child)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await one_database("SQLite", f"sqlite+aiosqlite:///{tmp}/census.sqlite3", "",
                                   Path(tmp), args)
        if args.pg:
            with tempfile.TemporaryDirectory() as tmp2:
                async with pg_database(f"censusbot_bench_hot_{os.getpid()}") as census, \
                        pg_database(f"censusbot_bench_peer_{os.getpid()}") as peer:
                    rows += await one_database("PostgreSQL", census, peer, Path(tmp2), args)
    print(f"hot paths: {args.messages} /verify and /help from {args.users} users, {args.faq} FAQ "
          f"questions from {max(1, args.users // 4)}; {args.reports} report submissions "
          "(2 updates each); "
          f"SYNTHETIC roster of {args.staff}. Updates answered per second.")
    print("peer = the textbook bot's /verify (session per update, upsert, lookup, audit, "
          "commit): the textbook durable-handler cost every path is compared with.")
    print("A bot that dropped updates is rated on those it answered (to its last answer); "
          "'unanswered' says how many it never answered.")
    print("CPU ms/upd = CPU time of the bot process (user + system) per update answered: "
          "the peer's on /verify, censusbot's on the path (load-independent).")
    print(f"{args.rounds} rounds: the peer's /verify measured right before each censusbot "
          "path, each round with its own users; rates and CPU are medians over the rounds, "
          "÷peer the median of the paired ratios (their range after it).")
    print(f"{'database':<11}{'path':<8}{'updates':>8}{'echo/s':>9}{'peer/s':>9}"
          f"{'censusbot/s':>12}{'÷echo':>8}{'÷peer':>8}{'range':>12}{'peer CPU ms':>12}"
          f"{'bot CPU ms':>11}  unanswered")
    for r in rows:
        lost = ", ".join(f"{w} {n}" for w, n in r["lost"].items()) or "none"
        print(f"{r['db']:<11}{r['path']:<8}{r['updates']:>8}{r['echo']:>9.1f}{r['peer']:>9.1f}"
              f"{r['censusbot']:>12.1f}{r['censusbot'] / r['echo']:>8.2f}"
              f"{r['ratio']:>8.2f}{r['low']:>6.2f}-{r['high']:<5.2f}{r['cpu']['peer']:>12.1f}"
              f"{r['cpu']['censusbot']:>11.1f}  {lost}")

if __name__ == "__main__":
    asyncio.run(main())
