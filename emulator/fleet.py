"""Several real `censusbot run --webhook` processes behind a round-robin "load balancer".

Used by tests/e2e/test_scaleout.py and bench/scaleout.py. The Bot API emulator runs in the
caller's process and only receives the workers' API calls (sendMessage...); updates are posted
to the workers' webhooks by `Fleet.deliver`, which, like Telegram behind a load balancer, tries
the next worker when one refuses or is down, until one answers 200.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
SECRET = "scaleout-webhook-secret-0123456789"
PATH = "/telegram/webhook"


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """One worker process; `start` may be called again after `kill`."""

    index: int
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Its webhook URL."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Launch `censusbot run --webhook` on this worker's port."""
        env = {**self.env, "WEBHOOK_PORT": str(self.port)}
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli.main", "run", "--webhook"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.pids.append(self.proc.pid)

    def kill(self) -> float:
        """kill -9; returns the time it died."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return time.time()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class Fleet:
    """N workers sharing one database and one Redis, and the poster in front of them."""

    def __init__(self, n: int, *, api_base: str, token: str, database_url: str,
                 redis_url: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        """Prepare (not start) `n` workers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CENSUSBOT_", "WEBHOOK_"))}
        env.update({
            "BOT_TOKEN": token, "TELEGRAM_API_BASE": api_base, "DATABASE_URL": database_url,
            "REDIS_URL": redis_url, "CENSUSBOT_SECRET": "scaleout-secret-do-not-use-0123456789ab",
            "WEBHOOK_SECRET": SECRET, "WEBHOOK_HOST": "127.0.0.1", "WEBHOOK_PATH": PATH,
            # The load balancer's address: the same registration for every worker.
            "WEBHOOK_URL": f"https://bot.example.org{PATH}",
            "CENSUSBOT_QUIET_START": "00:00", "CENSUSBOT_QUIET_END": "00:00",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra_env or {})
        log_dir.mkdir(parents=True, exist_ok=True)
        self.workers = [Worker(i, free_port(), env, log_dir / f"worker{i}.log")
                        for i in range(n)]
        self._next = itertools.count()
        self.retries = 0
        self._http: aiohttp.ClientSession | None = None

    async def start(self, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        """Start every worker and wait until each answers /healthz."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        for w in self.workers:
            w.start()
        for w in self.workers:
            await self.wait_healthy(w, timeout)

    async def wait_healthy(self, worker: Worker, timeout: float = 120.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the worker's /healthz answers; its JSON."""
        assert self._http is not None
        deadline = time.monotonic() + timeout
        while True:
            if not worker.alive:
                raise AssertionError(f"worker {worker.index} exited; see {worker.log_path}")
            try:
                async with self._http.get(f"http://127.0.0.1:{worker.port}/healthz") as r:
                    body: dict[str, Any] = await r.json(content_type=None)
                    return body
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {worker.index} not up after {timeout}s")
            await asyncio.sleep(0.2)

    async def deliver(self, update: dict[str, Any], timeout: float = 300.0) -> int:  # noqa: ASYNC109
        """POST the update round-robin until a worker answers 200; the worker's index."""
        assert self._http is not None
        deadline = time.monotonic() + timeout
        start = next(self._next)
        for attempt in itertools.count():
            w = self.workers[(start + attempt) % len(self.workers)]
            try:
                async with self._http.post(w.url, json=update,
                                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                           ) as r:
                    await r.read()
                    if r.status == 200:
                        return w.index
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"update {update['update_id']} not accepted in {timeout}s")
            await asyncio.sleep(0.05 if attempt % len(self.workers) else 0.5)
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """SIGTERM every worker still running; close the poster."""
        for w in self.workers:
            w.terminate()
        if self._http is not None:
            await self._http.close()


def message_update(update_id: int, user: dict[str, Any], text: str) -> dict[str, Any]:
    """A private-chat text message update, as Telegram would post it."""
    entities = ([{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
                if text.startswith("/") else [])
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text, "entities": entities,
        "from": user, "chat": {"id": user["id"], "type": "private",
                               "first_name": user["first_name"]}}}


def lease_events(log_paths: list[Path]) -> list[tuple[float, str, str, str]]:
    """(time, lease, taken|lost|released, holder) from the workers' logs, in time order."""
    events = []
    for path in log_paths:
        for line in path.read_text(errors="replace").splitlines():
            if " lease " not in line:
                continue
            words = line.split()
            try:
                at = datetime.strptime(f"{words[0]} {words[1]}", "%Y-%m-%d %H:%M:%S,%f")
                i = words.index("lease")
                name, what, holder = words[i + 1], words[i + 2], words[i + 4]
            except (ValueError, IndexError):
                continue
            if what in {"taken", "lost", "released"}:
                events.append((at.timestamp(), name, what, holder))
    return sorted(events)


def holder_pid(holder: str) -> int:
    """The process id inside a lease holder's name (host:pid:nonce)."""
    return int(holder.split(":")[1])
