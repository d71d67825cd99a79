"""Cold start: time from launching `censusbot run` (a new process, an empty database, an EMPTY
FAQ embedding cache) to its first reply (`/start`, sent at launch), whether a FAQ question is
answered before the embeddings are ready, and the time until they are. Baseline, same run: a
second launch with the cache the first one built (a warm machine); and the floor: how long
importing the bot's Telegram stack takes in a fresh process. Besides wall-clock times, which
follow the machine's load, it prints the CPU seconds the bot process had used by its first
reply (from /proc; a load-independent figure on Linux).

The bot talks to the project's Bot API emulator in this process; nothing reaches Telegram.
Usage: python bench/cold_start.py [--max-wait SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
READY_LINE = "FAQ embeddings ready"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _watch(stream: asyncio.StreamReader, seen: dict[str, float], t0: float,
                 echo: list[str], ready: asyncio.Event) -> None:
    """Note when the bot logs that its FAQ is loaded and its embeddings are ready."""
    while True:
        line = (await stream.readline()).decode(errors="replace")
        if not line:
            return
        echo.append(line)
        if READY_LINE in line and READY_LINE not in seen:
            seen[READY_LINE] = time.monotonic() - t0
            ready.set()


async def launch(emu: Emulator, db: Path, cache: Path, max_wait: float, user_id: int
                 ) -> dict[str, Any]:
    """One launch: time to the first reply, a FAQ answer before embeddings, embeddings ready."""
    env = {**os.environ, "BOT_TOKEN": emu.token, "TELEGRAM_API_BASE": emu.base_url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "CENSUSBOT_FAQ_CACHE": str(cache),
           "CENSUSBOT_SECRET": "bench-secret-not-for-production-use-0123456789"}
    user = emu.user(id=user_id, first_name="访客", language_code="zh-hans")
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "run", cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    seen: dict[str, float] = {}
    log: list[str] = []
    assert proc.stderr is not None
    ready = asyncio.Event()
    watcher = asyncio.create_task(_watch(proc.stderr, seen, t0, log, ready))
    out: dict[str, Any] = {}
    try:
        await emu.send_text(user, "/start")  # sent at launch: waits in the emulator's queue
        await emu.wait_for_bot_message(user_id, timeout=120)
        out["first_reply"] = time.monotonic() - t0
        out["first_reply_cpu"] = cpu_seconds(proc.pid)
        semantic_before = READY_LINE in seen
        t1 = time.monotonic()
        await emu.send_text(user, "普查员上门要收费吗")
        faq = await emu.wait_for_bot_message(user_id, timeout=120)
        out["faq_reply_ms"] = (time.monotonic() - t1) * 1000
        out["faq_before_embeddings"] = not semantic_before
        out["faq_text"] = str(faq.get("text", ""))[:40].replace("\n", " ")
        try:
            await asyncio.wait_for(ready.wait(), max_wait)
        except TimeoutError:
            pass
        out["embeddings_ready"] = seen.get(READY_LINE)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await watcher
    if "first_reply" not in out:
        sys.stderr.write("".join(log[-20:]))
    return out


def _fmt(label: str, r: dict[str, Any]) -> str:
    ready = r.get("embeddings_ready")
    cpu = r.get("first_reply_cpu")
    used = f" (bot process CPU {cpu:.2f} s by then)" if cpu is not None else ""
    return (f"{label}: first reply (/start) {r['first_reply']:.2f} s after launch{used}; a FAQ "
            "question "
            f"{'before' if r['faq_before_embeddings'] else 'after'} the embeddings were ready "
            f"answered in {r['faq_reply_ms']:.0f} ms ({r['faq_text']}…); embeddings ready "
            + (f"{ready:.1f} s after launch" if ready is not None else "NOT within the wait"))


async def main() -> None:
    """Cold launch with an empty cache, then a warm launch with the cache it built."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-wait", type=float, default=900.0,
                        help="seconds to wait for the background embedding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="censusbot-cold-") as tmp:
        cache = Path(tmp) / "faq-cache.npz"
        emu = Emulator(bot_username="census_bench_bot")
        await emu.start()
        try:
            t0 = time.monotonic()
            floor = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import bot.telegram.app", cwd=str(ROOT))
            await floor.wait()
            print(f"FLOOR (same run): importing the bot's Telegram stack (aiogram) alone takes "
                  f"{time.monotonic() - t0:.2f} s", flush=True)
            cold = await launch(emu, Path(tmp) / "cold.sqlite3", cache, args.max_wait, 6001)
            print(_fmt("COLD (empty database, empty FAQ cache)", cold), flush=True)
            warm = await launch(emu, Path(tmp) / "warm.sqlite3", cache, args.max_wait, 6002)
            print(_fmt("BASELINE warm (empty database, cache from the cold run)", warm))
        finally:
            await emu.stop()
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} (2 cores, shared machine)")


if __name__ == "__main__":
    asyncio.run(main())
