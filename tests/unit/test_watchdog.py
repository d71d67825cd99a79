"""The systemd watchdog pings only while the bot is healthy."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

from bot.telegram.watchdog import SystemdNotifier, run_watchdog


class FakeCheck:
    """Answers /healthz from a list of statuses, then the last one forever."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.answered: list[int] = []

    async def report(self) -> tuple[int, dict[str, Any]]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.answered.append(status)
        return status, {"problems": [] if status == 200 else ["getUpdates failing"]}


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(1024).decode())
        except BlockingIOError:
            return out


async def test_pings_only_while_healthy(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setblocking(False)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000",
                                    "WATCHDOG_PID": str(os.getpid())})
        assert notifier.enabled and notifier.interval == 0.05
        stop = asyncio.Event()
        check = FakeCheck([200, 200, 503, 503, 503, 200])
        task = asyncio.create_task(run_watchdog(notifier, check, stop))  # type: ignore[arg-type]
        await asyncio.sleep(0.42)
        stop.set()
        await task
        messages = received(sock)
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"
    pings = messages[1:-1]
    assert set(pings) == {"WATCHDOG=1"}
    assert check.answered[:6] == [200, 200, 503, 503, 503, 200]
    assert len(pings) == check.answered.count(200)  # none while unhealthy


def test_silent_without_systemd() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and not notifier.send("READY=1")
    other = SystemdNotifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                             "WATCHDOG_PID": "1"})
    assert other.interval is None  # the watchdog is meant for another process
