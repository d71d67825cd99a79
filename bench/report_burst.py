"""Burst of progress reports: 120 county liaisons submit by quick form within one minute.

SYNTHETIC data: the Guangdong file lists the province and its 21 cities only; this script adds
120 synthetic county-level units under them (codes <city>S<n>, names "合成县n", each with
synthetic survey targets) and one liaison per county. Every liaison sends `/report ...`
through the Bot API emulator, waits for the summary, presses Confirm and waits for the saved
message; latency = message sent → saved confirmation received (including the click).

Three runs side by side, each on a fresh SQLite database:
- "spread": send times uniform over the window (default 60 s), on a quiet bot;
- "deadline": the same, in the minute before 18:00 while the deadline jobs run in the bot's
  process for the same units: the 30-minute reminder run and the start-up catch-up of the
  escalation ladder as of 18:00, each over every unit that has not reported yet, then both
  again (the idempotent reruns); their notices go out through the outbox meanwhile;
- "at once": all 120 within one second (the worst case).
Figures: per reply (message → summary, click → "submitted"), and the whole submission.

With --pg the same two runs are repeated on PostgreSQL (CENSUSBOT_TEST_PG, as the tests).

Usage: python bench/report_burst.py [--window 60] [--liaisons 120] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bench.common import GUANGDONG, at, pg_database
from bot.config import Settings
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.reports import Report
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from emulator import Emulator
from emulator.harness import Clock, start_bot
from migrations import runner as migrate

TEXT = ("/report 工业 {i} 工业录入 {e} 农业 30 农业录入 20 锅炉 一十 锅炉录入 8 集中式 5 "
        "集中式录入 5 移动源 十二 移动源录入 10 培训 2 采集率 85%")


def synthetic_tree(n: int) -> tuple[dict[str, Any], list[str]]:
    """Guangdong with `n` SYNTHETIC counties spread over its 21 cities."""
    tree = org_service.read_tree(GUANGDONG)
    tree["report_depth"] = 2
    cities = tree["children"]
    codes: list[str] = []
    for k in range(n):
        city = cities[k % len(cities)]
        code = f"{city['code']}S{k // len(cities) + 1}"
        city.setdefault("children", []).append({
            "code": code, "name": f"合成县{k + 1}", "name_en": f"Synthetic county {k + 1}",
            "level": "county", "synthetic": True,
            "targets": {"survey": {"industrial": 1000, "livestock": 100, "domestic": 50,
                                   "centralized": 10, "mobile": 40}},
        })
        codes.append(code)
    return tree, codes


async def prepare(url: str, n: int, clock: Clock) -> list[str]:
    """Migrate, load the synthetic organisation and grant one liaison per county."""
    engine = create_engine(url)
    await migrate.upgrade(engine)
    sm = create_sessionmaker(engine)
    tree, codes = synthetic_tree(n)
    async with sm() as s:
        await org_service.load_tree(s, tree, now=clock())
        await s.commit()  # the bench is the unit-of-work owner
    for i, code in enumerate(codes):
        async with sm() as s:
            await users_service.grant_role(s, now=clock(), user_id=900_000 + i, role="liaison",
                                           unit_code=code)
            await s.commit()  # the bench is the unit-of-work owner
    await engine.dispose()
    return codes


async def one(emu: Emulator, i: int, delay: float) -> tuple[float, float]:
    """One liaison: quick form, summary, confirm, saved. (total, summary) latencies in s."""
    await asyncio.sleep(delay)
    user = emu.user(id=900_000 + i, first_name=f"联络员{i}", language_code="zh-hans")
    t0 = time.perf_counter()
    await emu.send_text(user, TEXT.format(i=100 + i % 50, e=90 + i % 10))
    summary = await emu.wait_for_bot_message(  # reminders may arrive in between
        user["id"], lambda m: "rp:confirm" in _buttons(m), timeout=120)
    t1 = time.perf_counter()
    if "rp:confirm" not in _buttons(summary):
        raise RuntimeError(f"liaison {i}: no confirm button: {summary['text'][:200]}")
    await emu.click(user, summary, "rp:confirm")
    t2 = time.perf_counter()
    await emu.wait_for_bot_message(user["id"], lambda m: "已提交" in m["text"], timeout=120)
    t3 = time.perf_counter()
    return t3 - t0, t1 - t0, t3 - t2


def _buttons(message: dict[str, Any]) -> list[str]:
    return [b.get("callback_data", "") for row in (message.get("reply_markup") or {})
            .get("inline_keyboard", []) for b in row]


async def deadline_jobs(app: Any, window: float) -> list[tuple[str, float]]:
    """The deadline jobs, in the bot's process and event loop, during the burst: (name, s)."""
    from scheduling.jobs import JobContext, all_jobs

    jobs = all_jobs()
    settings: Settings = app.settings
    ctx = JobContext(app.dp["sessionmaker"], settings)
    plan = [(0.1, "reminders", "2018-10-08 17:30"), (0.4, "escalations", "2018-10-08 18:00"),
            (0.6, "reminders", "2018-10-08 17:30"), (0.8, "escalations", "2018-10-08 18:00")]
    out: list[tuple[str, float]] = []
    started = time.perf_counter()
    for share, name, as_of in plan:
        await asyncio.sleep(max(0.0, started + share * window - time.perf_counter()))
        t0 = time.perf_counter()
        await jobs[name].run(ctx, at(as_of))
        out.append((name, time.perf_counter() - t0))
    return out


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def scenario(name: str, url: str, n: int, window: float,
                   jobs: bool = False) -> dict[str, Any]:
    """Run one burst on a fresh database and return its figures."""
    clock = Clock(at("2018-10-08 17:59") if jobs else at("2018-10-08 10:00"))
    await prepare(url, n, clock)
    emu = Emulator(bot_username="bench_bot")
    await emu.start()
    app = await start_bot(emu, url, clock=clock)
    rng = random.Random(7)
    delays = sorted(rng.uniform(0, window) for _ in range(n))
    started = time.perf_counter()
    job_times: list[tuple[str, float]] = []
    try:
        runs = [one(emu, i, d) for i, d in enumerate(delays)]
        if jobs:
            *results, job_times = await asyncio.gather(*runs, deadline_jobs(app, window))
        else:
            results = await asyncio.gather(*runs)
    finally:
        elapsed = time.perf_counter() - started
        await app.stop()
        await emu.stop()
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        stored = await s.scalar(select(func.count(func.distinct(Report.unit_code))))
    await engine.dispose()
    total = [r[0] * 1000 for r in results]
    replies = [r[k] * 1000 for r in results for k in (1, 2)]
    return {"name": name, "n": n, "window": window, "elapsed": elapsed, "stored": stored,
            "p50": statistics.median(total), "p99": pct(total, 99), "max": max(total),
            "reply_p50": statistics.median(replies), "reply_p99": pct(replies, 99),
            "reply_max": max(replies), "jobs": job_times}


async def main() -> None:
    """Both scenarios, printed side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--liaisons", type=int, default=120)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--scenarios", nargs="*", default=["spread", "deadline", "at once"],
                        choices=["spread", "deadline", "at once"])
    args = parser.parse_args()
    every = {"spread": (args.window, False), "deadline": (args.window, True),
             "at once": (1.0, False)}
    plan = [(name, *every[name]) for name in args.scenarios]
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, window, jobs in plan:
            url = f"sqlite+aiosqlite:///{tmp}/{name.replace(' ', '_')}.sqlite3"
            rows.append(await scenario(name, url, args.liaisons, window, jobs))
            rows[-1]["db"] = "SQLite"
    if args.pg:
        for name, window, jobs in plan:
            async with pg_database(f"censusbot_bench_{name.replace(' ', '_')}") as url:
                rows.append(await scenario(name, url, args.liaisons, window, jobs))
                rows[-1]["db"] = "PostgreSQL"
    print(f"report burst: {args.liaisons} SYNTHETIC county liaisons (Guangdong's 21 cities), "
          "quick form + confirm, emulator over HTTP")
    print("reply = one message or click to the bot's answer to it; submission = quick form to "
          "'submitted', including the liaison's click")
    print(f"{'database':<11}{'scenario':<10}{'window s':>9}{'stored':>7}{'reply p50':>10}"
          f"{'reply p99':>10}{'reply max':>10}{'subm. p50':>10}{'subm. p99':>10}{'subm. max':>10}"
          "  ms; jobs during the burst (s)")
    for r in rows:
        jobs = ", ".join(f"{n} {t:.2f}" for n, t in r["jobs"]) or "-"
        print(f"{r['db']:<11}{r['name']:<10}{r['window']:>9.0f}{r['stored']:>7}"
              f"{r['reply_p50']:>10.0f}{r['reply_p99']:>10.0f}{r['reply_max']:>10.0f}"
              f"{r['p50']:>10.0f}{r['p99']:>10.0f}{r['max']:>10.0f}  {jobs}")
        if r["stored"] != r["n"]:
            print(f"  !! only {r['stored']} of {r['n']} reports stored")


if __name__ == "__main__":
    asyncio.run(main())
