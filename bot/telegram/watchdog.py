"""systemd's watchdog: `WATCHDOG=1` is sent only while /healthz would answer 200.

Under a unit with `Type=notify` and `WatchdogSec=`, systemd passes NOTIFY_SOCKET and
WATCHDOG_USEC. The bot says READY=1 once it receives, then every half WatchdogSec runs the same
check as /healthz and pings only when it is healthy. A frozen event loop, a receiving loop that
is gone, or an outage lasting longer than WatchdogSec stops the pings, and systemd restarts the
bot. Without NOTIFY_SOCKET nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

from bot.telegram.health import HealthCheck
from bot.util.resilience import sleep_unless

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify messages to NOTIFY_SOCKET (a no-op when it is unset)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        mine = not pid or pid == str(os.getpid())
        self.interval = int(usec) / 1e6 / 2 if usec and usec.isdigit() and mine else None

    @property
    def enabled(self) -> bool:
        """Whether systemd listens."""
        return self.address is not None

    def send(self, message: str) -> bool:
        """Send one message; False when it could not be sent."""
        if self.address is None:
            return False
        address = self.address
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("could not notify systemd (%s)", exc)
            return False
        return True


async def run_watchdog(notifier: SystemdNotifier, check: HealthCheck,
                       stop: asyncio.Event) -> None:
    """READY=1, then WATCHDOG=1 every half WatchdogSec while healthy; STOPPING=1 at the end."""
    notifier.send("READY=1")
    healthy = True
    try:
        if notifier.interval is None:  # no WatchdogSec: only READY and STOPPING
            await stop.wait()
            return
        while not stop.is_set():
            status, body = await check.report()
            if status == 200:
                notifier.send("WATCHDOG=1")
                if not healthy:
                    log.warning("healthy again: watchdog pings resumed")
                healthy = True
            elif healthy:
                healthy = False
                log.error("unhealthy (%s): watchdog pings withheld; systemd restarts the bot "
                          "if this lasts", "; ".join(body.get("problems", [])))
            await sleep_unless(stop, notifier.interval)
    finally:
        notifier.send("STOPPING=1")
