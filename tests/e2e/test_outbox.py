"""The outbox sender against the Bot API emulator: limits, 429, 403, 5xx, order, kill -9.

The "killed" tests run the sender in a child process (`python -m tests.e2e.test_outbox`)
against the emulator in this process, on a file SQLite database, and SIGKILL it mid-broadcast.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.lease import DbLease, RedisLease
from bot.db.models.outbox import OUTBOX_FAILED, OUTBOX_SENDING, OUTBOX_SENT, OutboxMessage
from bot.db.models.users import ChatUser
from bot.delivery.sender import LEASE_NAME, OutboxSender, SenderConfig
from bot.delivery.telegram import TelegramTransport
from bot.services.access import users as users_service
from bot.services.roster.org import load_tree, read_tree
from bot.services.shared.outbox import enqueue
from bot.util.clock import utc_now
from emulator import Emulator
from emulator.errors import ApiError
from tests.conftest import ZHENGZHOU

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CENSUSBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _settings(emu: Emulator, url: str) -> Settings:
    return Settings(BOT_TOKEN=emu.token, TELEGRAM_API_BASE=emu.base_url, DATABASE_URL=url,
                    CENSUSBOT_SCHEDULER=False)


@pytest.fixture
async def sm(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a fresh file SQLite database."""
    engine = create_engine(sqlite_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def _sender(emu: Emulator, sm: async_sessionmaker[AsyncSession], url: str,
            **cfg: Any) -> OutboxSender:
    config = SenderConfig(**{"rate_per_second": 200.0, "per_chat_interval": 0.05,
                             "backoff_base": 0.05, "quiet_start": None, **cfg})
    return OutboxSender(sm, TelegramTransport.from_settings(_settings(emu, url)), config)


async def _queue(sm: async_sessionmaker[AsyncSession], items: list[tuple[int, str]],
                 **kw: Any) -> None:
    async with sm() as session:
        for chat_id, text in items:
            await enqueue(session, now=utc_now(), chat_id=chat_id, kind="notice", text=text, **kw)
        await session.commit()


async def _drain_all(sender: OutboxSender, sm: async_sessionmaker[AsyncSession],
                     max_seconds: float = 30.0) -> None:
    """Drain until no row waits any more (retries are scheduled a little later, so one drain,
    which stops when nothing is due *now*, may return before a backed-off retry)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    while True:
        assert await sender.drain(max_seconds=max_seconds)
        states = await _states(sm)
        if not states.get("pending") and not states.get("sending"):
            return
        assert loop.time() < deadline, f"rows still waiting: {states}"
        await asyncio.sleep(0.05)


async def _states(sm: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sm() as session:
        rows = (await session.execute(select(OutboxMessage.state, func.count())
                                      .group_by(OutboxMessage.state))).all()
    return {s: int(n) for s, n in rows}


async def test_delivers_everything_once_in_order_per_chat(emu: Emulator, sm: Any,
                                                          sqlite_url: str) -> None:
    for uid in range(1001, 1011):
        emu.user(uid)
    await _queue(sm, [(uid, f"{uid}-{n}") for n in range(3) for uid in range(1001, 1011)])
    sender = _sender(emu, sm, sqlite_url)
    try:
        assert await sender.drain(max_seconds=30)
    finally:
        await sender.stop()
    texts = [r.text for r in emu.sent_log]
    assert sorted(texts) == sorted(f"{u}-{n}" for n in range(3) for u in range(1001, 1011))
    for uid in range(1001, 1011):
        assert [r.text for r in emu.sent_log if r.chat_id == uid] == [f"{uid}-{n}" for n in
                                                                      range(3)]
    assert await _states(sm) == {OUTBOX_SENT: 30}


async def test_long_message_arrives_as_ordered_parts(emu: Emulator, sm: Any,
                                                     sqlite_url: str) -> None:
    emu.user(2001)
    lines = "\n".join(f"<b>第{i}行</b> " + "进度" * 40 for i in range(120))  # ~10,000 chars
    await _queue(sm, [(2001, lines)], dedup_key="long-1")
    await _queue(sm, [(2001, lines)], dedup_key="long-1")  # a rerun adds nothing
    sender = _sender(emu, sm, sqlite_url)
    try:
        assert await sender.drain(max_seconds=30)
    finally:
        await sender.stop()
    got = emu.bot_messages(2001)
    assert len(got) == 3 and all(len(m["text"]) <= 4096 for m in got)
    assert got[0]["text"].startswith("<b>第0行") and got[-1]["text"].endswith("进度")
    assert "第119行" in got[-1]["text"]


async def test_429_pauses_all_sending_then_delivers(emu: Emulator, sm: Any,
                                                    sqlite_url: str) -> None:
    for uid in range(3001, 3021):
        emu.user(uid)
    await _queue(sm, [(uid, f"m{uid}") for uid in range(3001, 3021)])
    emu.fail_next("sendMessage", kind="429", retry_after=1, count=1)
    sender = _sender(emu, sm, sqlite_url, concurrency=1)
    try:
        assert await sender.drain(max_seconds=30)
    finally:
        await sender.stop()
    assert sorted(r.text for r in emu.sent_log) == sorted(f"m{u}" for u in range(3001, 3021))
    refused = [r for r in emu.request_log if r.status == 429]
    assert len(refused) == 1 and sender.stats.rate_limited == 1
    after = [r.at for r in emu.request_log if r.method == "sendMessage" and r.at > refused[0].at]
    assert min(after) - refused[0].at >= 0.95  # nothing at all was sent during retry_after


async def test_403_marks_unreachable_and_tells_the_office_once(emu: Emulator, sm: Any,
                                                              sqlite_url: str) -> None:
    now = utc_now()
    async with sm() as session:
        await load_tree(session, read_tree(ZHENGZHOU), now=now)
        await session.commit()
    liaison, head = 4001, 4002
    emu.user(liaison, "Li")
    emu.user(head, "Wang")
    async with sm() as session:
        session.add(ChatUser(id=liaison, first_name="Li", created_at=now))
        await session.commit()
    async with sm() as session:
        await users_service.grant_role(session, now=now, user_id=liaison, role="liaison",
                                       unit_code="410102")
        await users_service.grant_role(session, now=now, user_id=head, role="office_head",
                                       unit_code="410102")
        await session.commit()  # the test is the unit-of-work owner
    emu.block(liaison)
    await _queue(sm, [(liaison, "first"), (liaison, "second")], respect_quiet_hours=False)
    sender = _sender(emu, sm, sqlite_url)
    try:
        assert await sender.drain(max_seconds=30)
        await _queue(sm, [(liaison, "third")], respect_quiet_hours=False)
        assert await sender.drain(max_seconds=30)
    finally:
        await sender.stop()
    async with sm() as session:
        user = await session.get(ChatUser, liaison)
        assert user is not None and user.unreachable
        failed = (await session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.chat_id == liaison, OutboxMessage.state == OUTBOX_FAILED))).all()
    assert len(failed) == 3
    to_head = emu.bot_messages(head)
    assert len(to_head) == 1  # deduplicated per user and day
    assert "Li" in to_head[0]["text"] and str(liaison) in to_head[0]["text"]
    sends_to_liaison = [r for r in emu.request_log if r.chat_id == liaison]
    assert len(sends_to_liaison) == 2  # 'second' was not attempted after the first 403


async def test_5xx_and_dropped_connections_retried_then_bounded(emu: Emulator, sm: Any,
                                                               sqlite_url: str) -> None:
    emu.user(5001)
    emu.user(5002)
    emu.fail_next("sendMessage", kind="500", count=2, chat_id=5001)
    emu.fail_next("sendMessage", kind="drop", count=1, chat_id=5001)
    emu.fail_next("sendMessage", kind="502", count=10, chat_id=5002)
    await _queue(sm, [(5001, "a1"), (5001, "a2"), (5002, "b1")])
    sender = _sender(emu, sm, sqlite_url, max_attempts=4)
    try:
        await _drain_all(sender, sm)
    finally:
        await sender.stop()
    assert [m["text"] for m in emu.bot_messages(5001)] == ["a1", "a2"]  # order kept
    assert emu.bot_messages(5002) == []
    async with sm() as session:
        row = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.chat_id == 5002))).one()
    assert row.state == OUTBOX_FAILED and row.attempts == 4
    assert "Bad Gateway" in (row.last_error or "")


async def test_limits_respected_against_an_enforcing_emulator(sqlite_url: str) -> None:
    emu = Emulator(enforce_limits=True)
    await emu.start()
    engine = create_engine(sqlite_url)
    sm = create_sessionmaker(engine)
    try:
        for uid in range(6001, 6041):
            emu.user(uid)
        emu.group(-1006001, "office group")
        items = [(uid, f"{uid}-{n}") for uid in range(6001, 6006) for n in range(4)]
        items += [(uid, f"{uid}-0") for uid in range(6006, 6041)]
        items += [(-1006001, f"g{n}") for n in range(3)]
        await _queue(sm, items)
        sender = _sender(emu, sm, sqlite_url, rate_per_second=25.0, per_chat_interval=1.0)
        try:
            assert await sender.drain(max_seconds=60)
        finally:
            await sender.stop()
        assert [r.status for r in emu.request_log if r.status != 200] == []
        assert len(emu.sent_log) == len(items)
        times = sorted(r.at for r in emu.sent_log)
        assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 25
        for uid in range(6001, 6006):
            sent = [r.at for r in emu.sent_log if r.chat_id == uid]
            assert all(b - a >= 0.95 for a, b in itertools.pairwise(sent))
    finally:
        await engine.dispose()
        await emu.stop()


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_second_sender_stands_by_while_the_first_holds_the_lease(
        emu: Emulator, sm: Any, sqlite_url: str, store: str) -> None:
    emu.user(7001)
    await _queue(sm, [(7001, "only once")])
    name = LEASE_NAME if store == "database" else f"{LEASE_NAME}-test-{uuid.uuid4().hex}"

    def lease() -> DbLease | RedisLease:
        if store == "database":
            return DbLease(sm, name, ttl=30)
        return RedisLease(REDIS_URL, name, ttl=30)

    first = OutboxSender(sm, TelegramTransport.from_settings(_settings(emu, sqlite_url)),
                         SenderConfig(quiet_start=None), lease=lease())
    second = OutboxSender(sm, TelegramTransport.from_settings(_settings(emu, sqlite_url)),
                          SenderConfig(quiet_start=None), lease=lease())
    try:
        assert await first.lease.acquire()  # type: ignore[union-attr]
        assert not await second.drain(max_seconds=1)
        assert emu.sent_log == []
        assert await first.drain(max_seconds=10)
    finally:
        await first.stop()
        await second.stop()
    assert [r.text for r in emu.sent_log] == ["only once"]


# ------------------------------------------------------------------------- kill -9 mid-broadcast
CHILD_ENV = "CENSUSBOT_TEST_CHILD_CONCURRENCY"


def _spawn(emu: Emulator, url: str, concurrency: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BOT_TOKEN=emu.token, TELEGRAM_API_BASE=emu.base_url,
               DATABASE_URL=url, **{CHILD_ENV: str(concurrency)})
    return subprocess.Popen([sys.executable, "-m", "tests.e2e.test_outbox"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.poll() is None:
        if loop.time() > deadline:
            proc.kill()
            raise AssertionError("child sender did not finish")
        await asyncio.sleep(0.2)
    return int(proc.returncode)


async def _broadcast(sm: async_sessionmaker[AsyncSession], emu: Emulator, total: int,
                     chats: int) -> None:
    for uid in range(100_000, 100_000 + chats):
        emu.user(uid)
    now = utc_now()
    async with sm() as session:
        for i in range(total):
            await enqueue(session, now=now, chat_id=100_000 + i % chats, kind="broadcast",
                          text=f"broadcast #{i}", dedup_key=f"bc:{i}",
                          respect_quiet_hours=False)
        await session.commit()


@pytest.mark.parametrize("mode", ["kill-on-arrival", "kill-any-time"])
async def test_killed_mid_broadcast_and_restarted(emu: Emulator, sm: Any, sqlite_url: str,
                                                  mode: str) -> None:
    total, chats = 5000, 1000
    await _broadcast(sm, emu, total, chats)
    kill_at = 2500
    child: dict[str, subprocess.Popen[bytes]] = {}
    killed = asyncio.Event()
    if mode == "kill-on-arrival":
        # Sequential sender: SIGKILL it the moment its 2,500th send arrives, before the emulator
        # acts on it. Every earlier send had its answer and its `sent` commit.
        real_send = emu.bot_send

        def killing_send(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if not killed.is_set() and len(emu.sent_log) == kill_at - 1:
                os.kill(child["p"].pid, signal.SIGKILL)
                killed.set()
                raise ApiError(500, "killed")
            return real_send(*args, **kwargs)

        emu.bot_send = killing_send  # type: ignore[method-assign]
        child["p"] = _spawn(emu, sqlite_url, concurrency=1)
        await asyncio.wait_for(killed.wait(), timeout=120)
    else:
        child["p"] = _spawn(emu, sqlite_url, concurrency=8)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while len(emu.sent_log) < kill_at and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        os.kill(child["p"].pid, signal.SIGKILL)
    child["p"].wait()
    delivered_before = len(emu.sent_log)
    assert 0 < delivered_before < total
    async with sm() as session:
        in_doubt = set((await session.scalars(select(OutboxMessage.payload["text"].as_string())
                                               .where(OutboxMessage.state == OUTBOX_SENDING)
                                               )).all())
    restarted = _spawn(emu, sqlite_url, concurrency=8)
    code = await _wait_exit(restarted, timeout=180)
    assert code == 0
    counts = collections.Counter(r.text for r in emu.sent_log)
    lost = [i for i in range(total) if counts[f"broadcast #{i}"] == 0]
    doubled = {t for t, n in counts.items() if n > 1}
    assert lost == []
    assert doubled <= in_doubt and len(in_doubt) <= 8
    if mode == "kill-on-arrival":
        assert doubled == set() and len(emu.sent_log) == total  # exactly once
    for uid in (100_000, 100_999):  # order kept per recipient across the restart
        seen = [int(r.text.split("#")[1]) for r in emu.sent_log if r.chat_id == uid]
        assert seen == sorted(set(seen), key=seen.index) and seen == sorted(seen)
    assert await _states(sm) == {OUTBOX_SENT: total}


async def _child_main() -> int:
    settings = Settings()
    engine = create_engine(settings.database_url)
    sm = create_sessionmaker(engine)
    config = SenderConfig(rate_per_second=2000.0, per_chat_interval=0.0, quiet_start=None,
                          concurrency=int(os.environ.get(CHILD_ENV, "8")), lease_ttl=2.0)
    lease = DbLease(sm, LEASE_NAME, ttl=config.lease_ttl)
    sender = OutboxSender(sm, TelegramTransport.from_settings(settings), config, lease=lease)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 170
        while not await sender.drain(max_seconds=5):
            if loop.time() > deadline:
                return 1
            await asyncio.sleep(0.5)  # the killed holder's lease must expire first
        return 0
    finally:
        await sender.stop()
        await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_child_main()))
