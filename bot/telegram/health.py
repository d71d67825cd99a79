"""`GET /healthz`: is the bot receiving updates and reaching its database?

200 with a JSON body when it is, 503 (same body, with `problems`) when it is not: receiving
(getUpdates, storing updates, or registering the webhook) has been failing for longer than
CENSUSBOT_HEALTH_THRESHOLD seconds, or the database does not answer a probe within
CENSUSBOT_HEALTH_DB_TIMEOUT seconds. Served on the webhook server, and in polling mode on
CENSUSBOT_HEALTH_HOST:CENSUSBOT_HEALTH_PORT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.db.engine import is_sqlite
from bot.db.models.outbox import OUTBOX_PENDING, OUTBOX_SENDING, OutboxMessage
from bot.util.resilience import ReceiveState, describe

log = logging.getLogger(__name__)


class DatabaseProbe:
    """A short, separate connection to the database: can it be written, how deep is the outbox.

    On SQLite the probe takes the write lock (BEGIN IMMEDIATE, then rolls back): a database
    locked by another writer refuses the bot's updates, so it counts as unreachable.
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self._engine: AsyncEngine | None = None

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            if is_sqlite(self.url):
                engine = create_async_engine(self.url, poolclass=NullPool,
                                             connect_args={"timeout": self.timeout})
                from sqlalchemy import event

                @event.listens_for(engine.sync_engine, "connect")
                def _autocommit(dbapi_conn: Any, _record: Any) -> None:
                    dbapi_conn.isolation_level = None

            else:
                engine = create_async_engine(
                    self.url, poolclass=NullPool,
                    connect_args={"timeout": self.timeout, "command_timeout": self.timeout})
            self._engine = engine
        return self._engine

    async def check(self) -> tuple[bool, int | None, str | None]:
        """(reachable, outbox depth or None, error or None)."""
        engine = self._get_engine()
        try:
            async with asyncio.timeout(self.timeout + 3):
                async with engine.connect() as conn:
                    if is_sqlite(self.url):
                        await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    await conn.exec_driver_sql("SELECT 1")
                    depth = await conn.scalar(
                        select(func.count(OutboxMessage.id))
                        .where(OutboxMessage.state.in_((OUTBOX_PENDING, OUTBOX_SENDING))))
                    if is_sqlite(self.url):
                        await conn.exec_driver_sql("ROLLBACK")
            return True, int(depth or 0), None
        except Exception as exc:  # any failure means: not reachable now
            return False, None, describe(exc)[:200]

    async def close(self) -> None:
        """Dispose of the probe's engine."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _alive(worker: object | None) -> bool | None:
    """Ask an FAQ worker whether it is alive: an `alive()` method, or a callable."""
    if worker is None:
        return None
    try:
        check = getattr(worker, "alive", worker)
        return bool(check() if callable(check) else check)
    except Exception:
        return False


class HealthCheck:
    """Answers /healthz from the receive state, a database probe and the FAQ worker."""

    def __init__(self, state: ReceiveState, probe: DatabaseProbe, *, threshold: float = 60.0,
                 polling_timeout: float = 25.0,
                 faq_worker: Callable[[], object | None] | None = None) -> None:
        self.state = state
        self.probe = probe
        self.threshold = threshold
        self.polling_timeout = polling_timeout
        self.faq_worker = faq_worker or (lambda: None)

    def receiving_problems(self) -> list[str]:
        """Why the bot is not receiving (empty when it is)."""
        s, now = self.state, time.monotonic()
        problems = []
        for stage, failing in s.failing.items():
            if now - failing.since > self.threshold:
                problems.append(f"{stage} failing for {now - failing.since:.0f} s: "
                                f"{failing.error}")
        if s.store_stuck_for() > self.threshold:
            problems.append(f"storing updates has taken {s.store_stuck_for():.0f} s")
        if s.mode == "polling" and "fetch" not in s.failing:
            quiet = now - (s.last_get_updates or s.started)
            if quiet > self.threshold + self.polling_timeout + 10:
                problems.append(f"no getUpdates answer for {quiet:.0f} s")
        if s.loop_alive is not None and not s.loop_alive():
            problems.append("the receiving loop is not running")
        return problems

    async def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body)."""
        s = self.state
        problems = self.receiving_problems()
        receiving = not problems
        reachable, depth, db_error = await self.probe.check()
        if not reachable:
            problems.append(f"database unreachable: {db_error}")
        now = time.monotonic()
        body: dict[str, Any] = {
            "status": "ok" if not problems else "unhealthy",
            "mode": s.mode,
            "receiving": receiving,
            "database_reachable": reachable,
            "last_update_at": _iso(s.last_update_at),
            "last_get_updates_at": _iso(s.last_get_updates_at),
            "updates_received": s.updates_received,
            "outbox_depth": depth,
            "faq_worker_alive": _alive(self.faq_worker()),
            "failing": {stage: {"kind": f.kind, "error": f.error, "since": _iso(f.since_at),
                                "seconds": round(now - f.since, 1)}
                        for stage, f in s.failing.items()},
            "errors": dict(sorted(s.counters.items())),
            "problems": problems,
            "uptime_seconds": round(now - s.started, 1),
        }
        if s.webhook_info:
            body["webhook"] = dict(s.webhook_info)
        return (200 if not problems else 503), body


def add_health_route(app: web.Application, check: HealthCheck) -> None:
    """Add `GET /healthz` to an aiohttp app."""

    async def healthz(request: web.Request) -> web.Response:
        status, body = await check.report()
        return web.json_response(body, status=status)

    app.router.add_get("/healthz", healthz)


class HealthServer:
    """A small aiohttp server with only /healthz (polling mode)."""

    def __init__(self, check: HealthCheck, host: str, port: int) -> None:
        self.check = check
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen; return the /healthz URL."""
        app = web.Application()
        add_health_route(app, self.check)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}/healthz"
        log.info("health endpoint on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
