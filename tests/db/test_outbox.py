"""Outbox queue and sender logic with a fake transport and injected clocks (no sleeping)."""

from __future__ import annotations

import collections
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.outbox import OUTBOX_PENDING, OUTBOX_SENDING, OUTBOX_SENT, OutboxMessage
from bot.delivery.sender import OutboxSender, SenderConfig
from bot.delivery.transport import Sent
from bot.services.shared import outbox
from tests.conftest import at

SH = ZoneInfo("Asia/Shanghai")


class FakeTransport:
    """Records sends; never fails."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send(self, method: str, chat_id: int, payload: dict[str, Any]) -> Sent:
        self.sent.append((chat_id, payload["text"]))
        return Sent(len(self.sent))

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self, value: datetime) -> None:
        self.value = value
        self.mono = 0.0

    def __call__(self) -> datetime:
        return self.value

    async def sleep(self, seconds: float) -> None:  # time passes instantly
        self.mono += seconds
        self.value += timedelta(seconds=seconds)


def _sender(sm: async_sessionmaker[AsyncSession], clock: Clock,
            transport: FakeTransport) -> OutboxSender:
    cfg = SenderConfig(quiet_start=time(22), quiet_end=time(7, 30), tz=SH)
    return OutboxSender(sm, transport, cfg, clock=clock, mono=lambda: clock.mono,
                        sleep=clock.sleep)


async def test_quiet_hours_defer_until_morning(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(at("2018-10-08 23:10"))
    async with sessionmaker() as s:
        await outbox.enqueue(s, now=clock(), chat_id=1, kind="reminder", text="night notice")
        await outbox.enqueue(s, now=clock(), chat_id=2, kind="alert", text="urgent",
                             respect_quiet_hours=False)
        await s.commit()
    transport = FakeTransport()
    sender = _sender(sessionmaker, clock, transport)
    assert await sender.drain()
    assert transport.sent == [(2, "urgent")]  # only the one that may wake people
    async with sessionmaker() as s:
        row = (await s.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == 1))).one()
    assert row.state == OUTBOX_PENDING and row.not_before == at("2018-10-09 07:30")
    clock.value = at("2018-10-09 07:29")
    assert await sender.drain()
    assert len(transport.sent) == 1
    clock.value = at("2018-10-09 07:30")
    assert await sender.drain()
    assert transport.sent[-1] == (1, "night notice")


async def test_per_chat_order_and_interval_with_a_fake_clock(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(at("2018-10-08 10:00"))
    async with sessionmaker() as s:
        for n in range(3):
            for chat in (1, 2):
                await outbox.enqueue(s, now=clock(), chat_id=chat, kind="n", text=f"{chat}-{n}")
        await s.commit()
    transport = FakeTransport()
    sender = _sender(sessionmaker, clock, transport)
    assert await sender.drain()
    assert [t for c, t in transport.sent if c == 1] == ["1-0", "1-1", "1-2"]
    assert clock.mono >= 2.0  # three sends to one chat need two full intervals


async def test_interrupted_rows_are_resent_flagged_or_dropped(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = at("2018-10-08 10:00")
    async with sessionmaker() as s:
        for chat in (1, 2):
            await outbox.enqueue(s, now=now, chat_id=chat, kind="n", text=f"m{chat}",
                                 dedup_key=f"k{chat}")
        await s.commit()
    async with sessionmaker() as s:
        ids = (await s.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id))).all()
        assert await outbox.claim(s, row_id=ids[0], holder="dead", now=now)
        assert not await outbox.claim(s, row_id=ids[0], holder="other", now=now)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        assert await outbox.recover_interrupted(s, holder="new", now=now) == [ids[0]]
        row = await s.get(OutboxMessage, ids[0])
        assert row is not None and row.state == OUTBOX_PENDING and row.duplicate_risk
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        assert await outbox.claim(s, row_id=ids[1], holder="dead", now=now)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        await outbox.recover_interrupted(s, holder="new", now=now, policy=outbox.DROP)
        row = await s.get(OutboxMessage, ids[1])
        assert row is not None and row.state == "failed"
        assert (await s.scalars(select(OutboxMessage.state).where(
            OutboxMessage.state == OUTBOX_SENDING))).all() == []
        await s.commit()  # the test is the unit-of-work owner


async def test_enqueue_is_idempotent_and_splits_long_texts(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = at("2018-10-08 10:00")
    text = "\n\n".join("段落" * 1500 for _ in range(3))
    async with sessionmaker() as s:
        assert await outbox.enqueue(s, now=now, chat_id=9, kind="bulletin", text=text,
                                    dedup_key="b1", reply_markup={"inline_keyboard": []})
        assert not await outbox.enqueue(s, now=now, chat_id=9, kind="bulletin", text=text,
                                        dedup_key="b1")
        await s.commit()
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [(r.part, r.parts) for r in rows] == [(1, 3), (2, 3), (3, 3)]
    assert "reply_markup" in rows[-1].payload and "reply_markup" not in rows[0].payload
    transport = FakeTransport()
    clock = Clock(now)
    assert await _sender(sessionmaker, clock, transport).drain()
    assert [t for _, t in transport.sent] == text.split("\n\n")
    async with sessionmaker() as s:
        states = (await s.scalars(select(OutboxMessage.state))).all()
    assert set(states) == {OUTBOX_SENT}


class Crash(Exception):
    """The process died: nothing it does from now on reaches the database or Telegram."""


class CrashingTransport(FakeTransport):
    """Delivers; on the `crash_at`-th call the message arrives and then the process dies.

    Every call first checks that its row was committed `sending` before the call was made, and
    counts the rows `sending` (in doubt, were the process to die now).
    """

    def __init__(self, sm: async_sessionmaker[AsyncSession], crash_at: int) -> None:
        super().__init__()
        self.sm = sm
        self.crash_at = crash_at
        self.crashed = False
        self.claimed_first: list[bool] = []
        self.most_in_doubt = 0

    async def send(self, method: str, chat_id: int, payload: dict[str, Any]) -> Sent:
        if self.crashed:
            raise Crash
        async with self.sm() as s:
            sending = (await s.scalars(select(OutboxMessage.payload).where(
                OutboxMessage.chat_id == chat_id, OutboxMessage.state == OUTBOX_SENDING))).all()
            in_doubt = await s.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state == OUTBOX_SENDING))
        self.claimed_first.append([p["text"] for p in sending] == [payload["text"]])
        self.most_in_doubt = max(self.most_in_doubt, int(in_doubt or 0))
        sent = await super().send(method, chat_id, payload)
        if len(self.sent) == self.crash_at:
            self.crashed = True
            raise Crash
        return sent


async def _crash_mid_broadcast(sm: async_sessionmaker[AsyncSession], clock: Clock,
                               total: int, chats: int, crash_at: int,
                               concurrency: int) -> tuple[CrashingTransport, set[str]]:
    """Queue a broadcast, send it until the crash, return the transport and the rows in doubt."""
    async with sm() as s:
        for i in range(total):
            await outbox.enqueue(s, now=clock(), chat_id=100 + i % chats, kind="n",
                                 text=f"#{i}", dedup_key=f"bc{i}", respect_quiet_hours=False)
        await s.commit()
    transport = CrashingTransport(sm, crash_at)

    def dying_sm() -> Any:  # once dead, the process commits nothing more
        if transport.crashed:
            raise Crash
        return sm()

    cfg = SenderConfig(rate_per_second=50.0, per_chat_interval=0.2, concurrency=concurrency,
                       quiet_start=None)
    dead = OutboxSender(dying_sm, transport, cfg, clock=clock,  # type: ignore[arg-type]
                        mono=lambda: clock.mono, sleep=clock.sleep)
    try:
        await dead.drain()
    except Crash:
        pass
    else:
        raise AssertionError("the sender did not crash")
    async with sm() as s:
        in_doubt = set((await s.scalars(select(OutboxMessage.payload["text"].as_string()).where(
            OutboxMessage.state == OUTBOX_SENDING))).all())
    return transport, in_doubt


@pytest.mark.parametrize("policy", [outbox.RESEND, outbox.DROP])
async def test_batched_claims_after_a_crash_resend_or_drop_only_rows_in_doubt(
        sessionmaker: async_sessionmaker[AsyncSession], policy: str) -> None:
    clock = Clock(at("2018-10-08 10:00"))
    total, chats = 300, 40
    dying, in_doubt = await _crash_mid_broadcast(sessionmaker, clock, total, chats,
                                                 crash_at=130, concurrency=8)
    assert all(dying.claimed_first)  # every call's row was durably `sending` before it
    assert 0 < len(in_doubt) <= 8  # one per slot at most: claimed or answered, not recorded
    assert dying.most_in_doubt <= 8  # ... at any moment
    assert dying.sent[-1][1] in in_doubt  # the call that died with its process is in doubt
    transport = FakeTransport()
    restarted = OutboxSender(sessionmaker, transport, SenderConfig(
        rate_per_second=50.0, per_chat_interval=0.2, quiet_start=None, on_interrupted=policy),
        clock=clock, mono=lambda: clock.mono, sleep=clock.sleep)
    assert await restarted.drain()
    assert restarted.stats.recovered == len(in_doubt)
    sent = dying.sent + transport.sent
    counts = collections.Counter(t for _, t in sent)
    lost = {f"#{i}" for i in range(total)} - set(counts)
    twice = {t for t, n in counts.items() if n > 1}
    async with sessionmaker() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert {r.payload["text"] for r in rows if r.duplicate_risk} == in_doubt
    if policy == outbox.RESEND:
        assert lost == set() and twice <= in_doubt
        assert {r.state for r in rows} == {OUTBOX_SENT}
    else:
        assert twice == set() and lost <= in_doubt
        assert {r.payload["text"] for r in rows if r.state != OUTBOX_SENT} == in_doubt
    for chat in range(100, 100 + chats):  # each recipient's order kept across the restart
        seen = [int(t[1:]) for c, t in sent if c == chat]
        assert seen == sorted(seen)


async def test_settle_and_claim_records_outcomes_and_claims_pending_rows_in_one_go(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = at("2018-10-08 10:00")
    async with sessionmaker() as s:
        for chat in (1, 2, 3, 4):
            await outbox.enqueue(s, now=now, chat_id=chat, kind="n", text=f"m{chat}")
        await s.commit()
        ids = list((await s.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id))).all())
    async with sessionmaker() as s:
        assert await outbox.settle_and_claim(s, settled=[], claim_ids=ids[:3], holder="me",
                                             now=now) == ids[:3]
        await s.commit()  # the test is the unit-of-work owner
    later = now + timedelta(seconds=5)
    async with sessionmaker() as s:
        claimed = await outbox.settle_and_claim(s, settled=[
            outbox.Settled(ids[0], OUTBOX_SENT, later, message_id=77),
            outbox.Settled(ids[1], OUTBOX_PENDING, later, error="Too Many Requests", code=429,
                           count_attempt=False),
            outbox.Settled(ids[2], OUTBOX_PENDING, now, count_attempt=False),  # given back unsent
        ], claim_ids=[ids[0], ids[3]], holder="me", now=later)
        await s.commit()  # the test is the unit-of-work owner
    assert claimed == [ids[3]]  # ids[0] is no longer pending
    async with sessionmaker() as s:
        rows = {r.id: r for r in (await s.scalars(select(OutboxMessage))).all()}
    sent, retry, back, new = (rows[i] for i in ids)
    assert (sent.state, sent.telegram_message_id, sent.sent_at) == (OUTBOX_SENT, 77, later)
    assert (retry.state, retry.attempts, retry.error_code, retry.not_before) == (
        OUTBOX_PENDING, 0, 429, later)
    assert (back.state, back.attempts, back.last_error) == (OUTBOX_PENDING, 0, None)
    assert (new.state, new.claimed_by, new.attempts) == (OUTBOX_SENDING, "me", 1)
