"""Leases: one holder at a time, renewed by its holder, taken over once expired, released only
by its holder; in the database (SQLite and PostgreSQL) and in the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.lease import DbLease, RedisLease, make_lease
from bot.db.models.scheduling import Lease
from tests.conftest import at

REDIS_URL = os.environ.get("CENSUSBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")
T0 = at("2018-10-08 09:00")


class Clock:
    """A clock the test moves."""

    def __init__(self, value: datetime) -> None:
        """Start at `value`."""
        self.value = value

    def __call__(self) -> datetime:
        """The current test time."""
        return self.value

    def set(self, value: datetime) -> None:
        """Move the clock."""
        self.value = value


# ----------------------------------------------------------------------------- database
async def _row(sm: async_sessionmaker[AsyncSession], name: str) -> Lease | None:
    async with sm() as s:
        return await s.scalar(select(Lease).where(Lease.name == name))


async def test_db_lease_one_holder_renewal_expiry_and_release(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(T0)
    a = DbLease(sessionmaker, "sender", ttl=30, holder="A", clock=clock)
    b = DbLease(sessionmaker, "sender", ttl=30, holder="B", clock=clock)
    assert await a.acquire()
    assert not await b.acquire()  # held by A
    row = await _row(sessionmaker, "sender")
    assert row is not None and (row.holder, row.expires_at) == ("A", T0 + timedelta(seconds=30))

    clock.set(T0 + timedelta(seconds=20))
    assert await a.acquire()  # renewal: A's lease now runs to 0:50
    row = await _row(sessionmaker, "sender")
    assert row is not None and row.expires_at == T0 + timedelta(seconds=50)
    clock.set(T0 + timedelta(seconds=45))  # past A's first term, within the renewed one
    assert not await b.acquire()

    clock.set(T0 + timedelta(seconds=51))  # A stopped renewing (died): B takes over
    assert await b.acquire()
    assert not await a.acquire()  # and A, back, finds it taken
    row = await _row(sessionmaker, "sender")
    assert row is not None and row.holder == "B"

    await a.release()  # not A's: nothing happens
    row = await _row(sessionmaker, "sender")
    assert row is not None and row.holder == "B"
    assert not await a.acquire()
    await b.release()
    assert await _row(sessionmaker, "sender") is None
    assert await a.acquire()  # free again, long before B's term would have ended


async def test_db_leases_of_different_names_are_independent(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(T0)
    assert await DbLease(sessionmaker, "outbox-sender", holder="A", clock=clock).acquire()
    assert await DbLease(sessionmaker, "scheduler", holder="B", clock=clock).acquire()
    assert not await DbLease(sessionmaker, "scheduler", holder="A", clock=clock).acquire()


@pytest.mark.parametrize("state", ["free", "expired"])
async def test_db_lease_race_has_one_winner(sessionmaker: async_sessionmaker[AsyncSession],
                                            state: str) -> None:
    clock = Clock(T0)
    if state == "expired":
        assert await DbLease(sessionmaker, "sender", ttl=30, holder="dead", clock=clock).acquire()
        clock.set(T0 + timedelta(minutes=5))
    leases = [DbLease(sessionmaker, "sender", ttl=30, holder=f"P{i}", clock=clock)
              for i in range(8)]
    got = await asyncio.gather(*(lease.acquire() for lease in leases))
    assert sum(got) == 1
    row = await _row(sessionmaker, "sender")
    assert row is not None and row.holder == leases[got.index(True)].holder


# ----------------------------------------------------------------------------- Redis
@pytest.fixture
async def redis_name() -> AsyncIterator[str]:
    """A lease name (so a key prefix) of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"censusbot:lease:{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _redis_holder(key: str) -> tuple[str | None, int]:
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        value = await client.get(key)
        text = value.decode() if isinstance(value, bytes) else value
        return text, int(await client.pttl(key))
    finally:
        await client.aclose()


async def test_redis_lease_one_holder_renewal_and_release(redis_name: str) -> None:
    a = RedisLease(REDIS_URL, redis_name, ttl=30, holder="A")
    b = RedisLease(REDIS_URL, redis_name, ttl=30, holder="B")
    assert await a.acquire()
    assert not await b.acquire()
    holder, pttl = await _redis_holder(a.key)
    assert holder == "A" and 29_000 < pttl <= 30_000

    other = RedisLease(REDIS_URL, f"{redis_name}-other", ttl=30, holder="B")
    assert await other.acquire()  # another name is another lease

    await b.release()  # not B's: the key stays A's
    assert (await _redis_holder(a.key))[0] == "A"
    await a.release()
    assert await _redis_holder(a.key) == (None, -2)  # gone
    assert await b.acquire()
    assert not await a.acquire()


async def test_redis_lease_renewal_keeps_it_and_expiry_hands_it_over(redis_name: str) -> None:
    ttl = 0.3
    a = RedisLease(REDIS_URL, redis_name, ttl=ttl, holder="A")
    b = RedisLease(REDIS_URL, redis_name, ttl=ttl, holder="B")
    loop = asyncio.get_running_loop()
    assert await a.acquire()
    start = loop.time()
    while loop.time() - start < 3 * ttl:  # A renews every ttl/3: B never gets it
        await asyncio.sleep(ttl / 3)
        assert await a.acquire()
        assert not await b.acquire()
    # A stops renewing (dies): B takes over once A's last term ends, not before.
    last_renewal = loop.time()
    deadline = last_renewal + 5
    while not await b.acquire():
        assert loop.time() < deadline, "the expired lease was never taken over"
        await asyncio.sleep(0.02)
    assert loop.time() - last_renewal >= ttl * 0.8
    assert not await a.acquire()
    assert (await _redis_holder(a.key))[0] == "B"


async def test_redis_lease_race_has_one_winner(redis_name: str) -> None:
    leases = [RedisLease(REDIS_URL, redis_name, ttl=30, holder=f"P{i}") for i in range(8)]
    got = await asyncio.gather(*(lease.acquire() for lease in leases))
    assert sum(got) == 1
    assert (await _redis_holder(leases[0].key))[0] == leases[got.index(True)].holder


async def test_make_lease_picks_redis_when_configured(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    redis_lease = make_lease(sessionmaker, "x", redis_url=REDIS_URL, ttl=5)
    db_lease = make_lease(sessionmaker, "x", redis_url=None, ttl=5)
    assert isinstance(redis_lease, RedisLease) and redis_lease.ttl_ms == 5000
    assert isinstance(db_lease, DbLease) and db_lease.ttl == 5
