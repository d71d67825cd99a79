"""Leases: only one process sends (or schedules) at a time; a dead holder's lease expires.

The lease lives in the database (table `leases`), or in Redis when REDIS_URL is set. Its
holder renews it well before it runs out (every third of its ttl, in the sender and the
scheduler), so a busy process keeps it; a dead one's lease expires after ttl and another
process takes it on its next try. Each change of hands is logged once ("lease X taken by H",
"lease X lost by H"), which is how an operator (and tests/e2e/test_scaleout.py) can check that
exactly one process is active.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.scheduling import Lease
from bot.db.upsert import insert_ignore
from bot.util.clock import utc_now

log = logging.getLogger(__name__)


def _note(lease: Any, name: str, got: bool) -> None:
    """Log when this holder takes or loses the lease (not every renewal)."""
    if got != lease._held:
        lease._held = got
        if got:
            log.info("lease %s taken by %s", name, lease.holder)
        else:
            log.warning("lease %s lost by %s", name, lease.holder)


def holder_id() -> str:
    """A name for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLock(Protocol):
    """A renewable lease."""

    holder: str

    async def acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        ...

    async def release(self) -> None:
        """Give the lease up."""
        ...


class _Heartbeat:
    """With `heartbeat` on, a held lease is renewed by a background task every quarter of its
    ttl: the owner's loop may be busy for a while (a scheduler activating, a long outbox pass
    on a loaded machine) without the lease lapsing, so no other process takes it while this
    one still believes it holds it. The beat stops when the lease is lost or released."""

    name: str
    holder: str
    heartbeat = False
    _held = False
    _beat: asyncio.Task[None] | None = None
    _renewed = 0.0

    @property
    def ttl_seconds(self) -> float:
        """The lease's duration in seconds."""
        raise NotImplementedError

    async def _take(self) -> bool:
        raise NotImplementedError

    async def acquire(self) -> bool:
        """Take the lease if free, expired or already ours, and extend it (atomically)."""
        got = await self._take()
        _note(self, self.name, got)
        if got:
            self._renewed = time.monotonic()
            if self.heartbeat and (self._beat is None or self._beat.done()):
                self._beat = asyncio.create_task(self._heartbeat(), name=f"lease-{self.name}")
        return got

    async def _heartbeat(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl_seconds / 4)
            try:
                if await self._take():
                    self._renewed = time.monotonic()
                else:
                    _note(self, self.name, False)
            except Exception as exc:  # Redis or the database away: retried at the next beat
                log.warning("renewing lease %s failed: %s", self.name, type(exc).__name__)
                if time.monotonic() - self._renewed > self.ttl_seconds:
                    _note(self, self.name, False)

    async def _stop_beat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None and beat is not asyncio.current_task():
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat


class DbLease(_Heartbeat):
    """A lease row: taken when free or expired, renewed by its holder, released on stop."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], name: str, *,
                 ttl: float = 30.0, holder: str | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        """Lease `name` for `ttl` seconds at a time."""
        self.sessionmaker = sessionmaker
        self.name = name
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.clock = clock
        self._held = False

    @property
    def ttl_seconds(self) -> float:
        """The lease's duration in seconds."""
        return self.ttl

    async def _take(self) -> bool:
        now = self.clock()
        expires = now + timedelta(seconds=self.ttl)
        async with self.sessionmaker() as session:
            result = await session.execute(
                update(Lease)
                .where(Lease.name == self.name,
                       (Lease.holder == self.holder) | (Lease.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
                .execution_options(synchronize_session=False)
            )
            got = bool(getattr(result, "rowcount", 0))
            if not got:
                row = {"name": self.name, "holder": self.holder, "expires_at": expires}
                got = await insert_ignore(session, Lease, [row], ["name"]) > 0
            await session.commit()
        return got

    async def release(self) -> None:
        """Delete the lease row if it is ours."""
        await self._stop_beat()
        async with self.sessionmaker() as session:
            await session.execute(delete(Lease).where(Lease.name == self.name,
                                                      Lease.holder == self.holder))
            await session.commit()
        if self._held:
            self._held = False
            log.info("lease %s released by %s", self.name, self.holder)


class RedisLease(_Heartbeat):
    """The same lease in Redis: one key holding the holder's name, with a millisecond TTL.

    Every operation is one atomic script on a connection of its own (opened and closed per
    call), so a stand-by process that never releases leaves no connection behind.
    """

    # Take the key if absent, extend it if ours; 1 when we hold it afterwards.
    _ACQUIRE = ("local v = redis.call('get', KEYS[1]) "
                "if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
                "if v == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end "
                "return 0")
    _RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
                "return redis.call('del', KEYS[1]) else return 0 end")

    def __init__(self, url: str, name: str, *, ttl: float = 30.0,
                 holder: str | None = None) -> None:
        """Lease `censusbot:lease:<name>` in the Redis at `url`."""
        self.url = url
        self.key = f"censusbot:lease:{name}"
        self.name = name
        self.ttl_ms = max(1, round(ttl * 1000))
        self.holder = holder or holder_id()
        self._held = False

    async def _eval(self, script: str, *args: str | int) -> int:
        from redis.asyncio import Redis

        client: Any = Redis.from_url(self.url)
        try:
            return int(await client.eval(script, 1, self.key, *args))
        finally:
            await client.aclose()

    @property
    def ttl_seconds(self) -> float:
        """The lease's duration in seconds."""
        return self.ttl_ms / 1000

    async def _take(self) -> bool:
        return bool(await self._eval(self._ACQUIRE, self.holder, self.ttl_ms))

    async def release(self) -> None:
        """Delete the key if it is ours."""
        await self._stop_beat()
        await self._eval(self._RELEASE, self.holder)
        if self._held:
            self._held = False
            log.info("lease %s released by %s", self.name, self.holder)


def make_lease(sessionmaker: async_sessionmaker[AsyncSession], name: str, *,
               redis_url: str | None, ttl: float, clock: Callable[[], datetime] = utc_now,
               ) -> DbLease | RedisLease:
    """A Redis lease when REDIS_URL is set, else a database one; kept alive by a heartbeat."""
    lease: DbLease | RedisLease = (RedisLease(redis_url, name, ttl=ttl) if redis_url
                                   else DbLease(sessionmaker, name, ttl=ttl, clock=clock))
    lease.heartbeat = True
    return lease
