"""The outbox sender: claims rows, paces them within Telegram's limits, records the outcome.

Exactly one sender works at a time (a lease). A row is committed `sending` before its API call;
its outcome (`sent`, a retry, `failed`) is committed after the call, together with the outcomes
of the other rows answered meanwhile and the claims of the next rows (one transaction per turn,
not two per row). So after a crash only rows still `sending` are in doubt; they are re-sent
flagged `duplicate_risk` (policy "resend", the default) or failed ("drop"). A row holds one of
the `concurrency` slots from its claim until its outcome is committed, so at most `concurrency`
rows can be in doubt. Rows of one chat go out in order, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.lease import DbLease, LeaseLock, holder_id
from bot.db.models.outbox import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxMessage
from bot.delivery.limits import RateLimiter
from bot.delivery.transport import Permanent, RetryAfter, Transient, Transport, Unreachable
from bot.services.shared import outbox as queue
from bot.services.shared.quiet_hours import in_quiet_hours, quiet_until
from bot.util.clock import utc_now
from bot.util.resilience import Trouble

log = logging.getLogger(__name__)
LEASE_NAME = "outbox-sender"
UNCLAIM_AFTER = 1.0  # a 429 pause longer than this gives claimed, unsent rows back to the queue


@dataclass
class SenderConfig:
    """Limits and retry policy of the sender."""

    rate_per_second: float = 25.0
    per_chat_interval: float = 1.0
    group_per_minute: int = 20
    concurrency: int = 8
    batch: int = 200
    max_attempts: int = 6
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    idle_poll: float = 1.0
    lease_ttl: float = 30.0
    on_interrupted: str = queue.RESEND
    quiet_start: dtime | None = None
    quiet_end: dtime | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SenderConfig:
        """The configured limits and quiet hours."""
        values: dict[str, Any] = {
            "rate_per_second": settings.outbox_rate_per_second,
            "per_chat_interval": settings.outbox_per_chat_interval,
            "group_per_minute": settings.outbox_group_per_minute,
            "quiet_start": settings.quiet_start,
            "quiet_end": settings.quiet_end,
            "tz": settings.tz,
        }
        for name in ("concurrency", "max_attempts", "lease_ttl", "on_interrupted"):
            value = getattr(settings, f"outbox_{name}", None)
            if value is not None:
                values[name] = value
        values.update(overrides)
        return cls(**values)


@dataclass
class SenderStats:
    """Counters since start."""

    sent: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed: int = 0
    unreachable: int = 0
    recovered: int = 0


class OutboxSender:
    """Delivers the outbox; `drain()` for one-off delivery, `start()`/`stop()` as a component."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        transport: Transport,
        config: SenderConfig | None = None,
        *,
        lease: LeaseLock | None = None,
        clock: Callable[[], datetime] = utc_now,
        mono: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Wire the queue, the transport and the limits."""
        self.sessionmaker = sessionmaker
        self.transport = transport
        self.config = config or SenderConfig()
        self.lease = lease
        self.holder = lease.holder if lease is not None else holder_id()
        self.clock = clock
        self.mono = mono
        self.sleep = sleep
        self.rng = rng or random.Random()
        cfg = self.config
        self.limiter = RateLimiter(cfg.rate_per_second, cfg.per_chat_interval,
                                   cfg.group_per_minute, mono)
        self.stats = SenderStats()
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # chat -> its send under way
        self._held: dict[int, int] = {}  # row -> chat: claimed, outcome not yet committed
        self._settled: list[queue.Settled] = []  # answered rows waiting for the next commit
        self._commit_lock = asyncio.Lock()
        self._holding = False
        self._lease_checked = -1e18
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lease
    async def _hold_lease(self) -> bool:
        """Take/renew the lease when due; recover a dead holder's rows on taking it."""
        if self.lease is None:
            if not self._holding:
                self._holding = True
                await self._recover()
            return True
        if self._holding and self.mono() - self._lease_checked < self.config.lease_ttl / 3:
            return True
        got = await self.lease.acquire()
        self._lease_checked = self.mono()
        if got and not self._holding:
            self._holding = True
            log.info("outbox sender %s holds the lease", self.holder)
            await self._recover()
        elif not got and self._holding:
            log.warning("outbox sender %s lost the lease", self.holder)
            self._holding = False
        return got

    async def _recover(self) -> None:
        async with self.sessionmaker() as session, session.begin():
            ids = await queue.recover_interrupted(session, holder=self.holder, now=self.clock(),
                                                  policy=self.config.on_interrupted)
        self.stats.recovered += len(ids)

    async def _keep_lease(self) -> bool:
        """Renew the lease when due during a long pass; False once it is lost."""
        if self.lease is not None and self.mono() - self._lease_checked >= \
                self.config.lease_ttl / 3:
            return await self._hold_lease()
        return self._holding

    # ------------------------------------------------------------------ one pass
    async def _apply_quiet_hours(self, now: datetime) -> None:
        cfg = self.config
        if cfg.quiet_start is None or cfg.quiet_end is None:
            return
        if in_quiet_hours(now, cfg.quiet_start, cfg.quiet_end, cfg.tz):
            until = quiet_until(now, cfg.quiet_start, cfg.quiet_end, cfg.tz)
            async with self.sessionmaker() as session, session.begin():
                moved = await queue.defer_quiet(session, now=now, until=until)
            if moved:
                log.info("quiet hours: %d notice(s) wait until %s", moved, until.isoformat())

    def _busy_chats(self) -> set[int]:
        """Chats with a row claimed and not yet recorded (in flight or waiting to be)."""
        return set(self._held.values()) | set(self._in_flight)

    def _free_slots(self) -> int:
        """Rows that may be claimed now: the next commit frees the slots of settled rows."""
        return self.config.concurrency - len(self._held) + len(self._settled)

    async def run_pass(self) -> int:
        """Dispatch the rows that may go now; returns how many were started.

        Each turn claims a few rows in the transaction that records the rows finished since the
        last one, then starts them as the limiter allows.
        """
        now = self.clock()
        await self._apply_quiet_hours(now)
        exclude = self._busy_chats() | self.limiter.cooling()
        async with self.sessionmaker() as session:
            heads = await queue.due_heads(session, now=now, limit=self.config.batch,
                                          exclude_chats=exclude)
        todo = deque(heads)
        started = 0
        while todo and not self._stopping.is_set() and await self._keep_lease():
            if not await self._wait_slot() or not await self._wait_turn():
                break
            room = min(self._free_slots(), self.limiter.capacity)
            busy = self._busy_chats()
            pick: list[OutboxMessage] = []
            while todo and len(pick) < room:
                row = todo.popleft()
                if row.chat_id in busy or self.limiter.chat_wait(row.chat_id, row.is_group) > 0:
                    continue
                pick.append(row)
                busy.add(row.chat_id)
            if not pick:
                break
            claimed = set(await self._commit([row.id for row in pick]))
            rows = [row for row in pick if row.id in claimed]
            for row in rows:
                self._held[row.id] = row.chat_id
            started += await self._start(rows)
        return started

    async def _start(self, rows: list[OutboxMessage]) -> int:
        """Start the claimed rows in turn; give back those a stop or a long 429 pause holds up."""
        for n, row in enumerate(rows):
            wait = self.limiter.global_wait()
            if self._stopping.is_set() or (UNCLAIM_AFTER < wait < math.inf) \
                    or not await self._wait_turn():
                await self._unclaim(rows[n:])
                return n
            token = self.limiter.start()
            self.limiter.record(row.chat_id, row.is_group)
            self._in_flight[row.chat_id] = asyncio.create_task(self._deliver(row, token))
        return len(rows)

    async def _unclaim(self, rows: list[OutboxMessage]) -> None:
        """Put claimed rows that were never sent back in the queue, as they were."""
        self._settled.extend(
            queue.Settled(row.id, OUTBOX_PENDING, row.not_before, count_attempt=False)
            for row in rows)
        await self._commit([])

    async def _commit(self, claim_ids: list[int]) -> list[int]:
        """Record the settled rows and claim `claim_ids`, in one transaction; frees their slots."""
        async with self._commit_lock:
            settled = list(self._settled)
            if not settled and not claim_ids:
                return []
            # committed on leaving the block: the claimed rows are `sending` before any call
            async with self.sessionmaker() as session, session.begin():
                claimed = await queue.settle_and_claim(session, settled=settled,
                                                       claim_ids=claim_ids, holder=self.holder,
                                                       now=self.clock())
            del self._settled[:len(settled)]  # rows settled meanwhile wait for the next commit
            for item in settled:
                self._held.pop(item.row_id, None)
            return claimed

    async def _wait_slot(self) -> bool:
        """Wait until a row may be claimed (a send slot is free or freed by the next commit)."""
        while self._free_slots() <= 0:
            if self._stopping.is_set():
                return False
            await self._wait_answer()
        return not self._stopping.is_set()

    async def _wait_turn(self) -> bool:
        """Wait until the window and any 429 pause let a send start now; False when stopping."""
        while not self._stopping.is_set():
            wait = self.limiter.global_wait()
            if wait <= 0:
                return True
            if wait == math.inf:  # every place in the window is a send in flight
                await self._wait_answer()
            else:
                await self.sleep(wait)
        return False

    async def _wait_answer(self) -> None:
        """Wait until some send in flight is answered (or a short while)."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=self.config.idle_poll,
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await self.sleep(0.01)

    async def _deliver(self, row: OutboxMessage, token: int) -> None:
        try:
            outcome = await self._send(row, token)
        except Exception:  # the row stays 'sending' and is recovered by the next holder
            log.exception("outbox row %s: unexpected error", row.id)
            outcome = None
        finally:
            self.limiter.done(token)  # no-op when _send already closed it
            self._in_flight.pop(row.chat_id, None)
        if outcome is None:
            self._held.pop(row.id, None)
        else:
            self._settled.append(outcome)

    async def _send(self, row: OutboxMessage, token: int) -> queue.Settled | None:
        """One API call; the outcome to record, or None when it was recorded here already."""
        attempts = row.attempts + 1
        try:
            try:
                sent = await self.transport.send(row.method, row.chat_id, dict(row.payload))
            finally:
                self.limiter.done(token)
        except RetryAfter as exc:
            self.limiter.pause(exc.retry_after)
            self.stats.rate_limited += 1
            log.warning("429: pausing all sending for %.1fs", exc.retry_after)
            return queue.Settled(row.id, OUTBOX_PENDING, self.clock(), error=exc.description,
                                 code=429, count_attempt=False)
        except Unreachable as exc:
            self.stats.unreachable += 1
            async with self.sessionmaker() as session, session.begin():
                await queue.mark_unreachable(session, row_id=row.id, chat_id=row.chat_id,
                                             now=self.clock(), error=exc.description,
                                             code=exc.code or 403, tz=self.config.tz)
            return None
        except Permanent as exc:
            self.stats.failed += 1
            log.warning("outbox row %s refused: %s", row.id, exc.description)
            return queue.Settled(row.id, OUTBOX_FAILED, self.clock(), error=exc.description,
                                 code=exc.code)
        except Transient as exc:
            return self._retry_or_fail(row, attempts, exc.description, exc.code)
        except Exception as exc:  # an error the transport did not sort: retry, bounded
            log.exception("outbox row %s: unexpected send error", row.id)
            return self._retry_or_fail(row, attempts, repr(exc)[:300], None)
        self.stats.sent += 1
        return queue.Settled(row.id, OUTBOX_SENT, self.clock(), message_id=sent.message_id)

    def _retry_or_fail(self, row: OutboxMessage, attempts: int, error: str,
                       code: int | None) -> queue.Settled:
        cfg = self.config
        if attempts >= cfg.max_attempts:
            self.stats.failed += 1
            log.warning("outbox row %s failed after %d attempts: %s", row.id, attempts, error)
            return queue.Settled(row.id, OUTBOX_FAILED, self.clock(),
                                 error=f"after {attempts} attempts: {error}", code=code)
        self.stats.retried += 1
        delay = self.backoff(attempts)
        return queue.Settled(row.id, OUTBOX_PENDING,
                             self.clock() + timedelta(seconds=delay), error=error, code=code)

    def backoff(self, attempts: int) -> float:
        """Delay before retry number `attempts`: exponential, capped, with ±50% jitter."""
        cfg = self.config
        base = min(cfg.backoff_max, cfg.backoff_base * (2 ** max(0, attempts - 1)))
        return base * (0.5 + self.rng.random())

    # ------------------------------------------------------------------ loops
    async def _wait_in_flight(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Let the sends under way finish, then record how they ended."""
        tasks = list(self._in_flight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        await self._commit([])

    async def _idle_wait(self) -> None:
        """Sleep until something may be sendable: a row finishing, due, or a chat cooling off."""
        await self._commit([])  # record what finished: its chat's next row may be due
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=self.config.idle_poll,
                               return_when=asyncio.FIRST_COMPLETED)
            return
        wait = self.config.idle_poll
        async with self.sessionmaker() as session:
            due = await queue.next_due(session)
        if due is not None:
            wait = min(wait, max(0.0, (due - self.clock()).total_seconds()))
        if self.limiter.cooling():
            wait = min(wait, self.config.per_chat_interval / 4)
        wait = max(wait, min(self.limiter.global_wait(), self.config.idle_poll), 0.01)
        await self.sleep(min(wait, self.config.idle_poll))  # the injected clock's sleep

    async def due_count(self) -> int:
        """Pending rows due now."""
        async with self.sessionmaker() as session:
            n = await session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state == OUTBOX_PENDING, OutboxMessage.not_before <= self.clock()))
            await session.commit()
        return int(n or 0)

    async def drain(self, *, max_seconds: float | None = None) -> bool:
        """Deliver until nothing is due now (later rows stay queued); False if it timed out."""
        started = self.mono()
        try:
            while True:
                if not await self._hold_lease():
                    return False
                n = await self.run_pass()
                if n == 0:
                    await self._commit([])
                    if not self._in_flight and await self.due_count() == 0:
                        return True
                    await self._idle_wait()
                if max_seconds is not None and self.mono() - started > max_seconds:
                    return False
        finally:
            await self._wait_in_flight()

    async def run_forever(self) -> None:
        """Deliver until stopped, holding the lease (standing by while another holds it)."""
        trouble = Trouble("outbox sender", "outbox", None)  # logs changes, not every retry
        while not self._stopping.is_set():
            try:
                if not await self._hold_lease():
                    trouble.ok()
                    await self._wait_in_flight()
                    try:
                        await asyncio.wait_for(self._stopping.wait(),
                                               timeout=self.config.lease_ttl / 3)
                    except TimeoutError:
                        pass
                    continue
                passed = await self.run_pass()
                trouble.ok()
                if passed == 0:
                    await self._idle_wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not trouble.failing:
                    log.exception("outbox sender pass failed; retrying")
                trouble.failed(exc)
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.config.idle_poll)
                except TimeoutError:
                    pass

    async def start(self) -> None:
        """Run the sender in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self.run_forever(), name="outbox-sender")

    async def stop(self) -> None:
        """Stop taking rows, let the calls in flight finish and record, give the lease up."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        try:
            await self._wait_in_flight(timeout=30)
        except Exception:  # the database is gone: those rows stay 'sending', in doubt
            log.exception("outbox: could not record the last outcomes")
        if self.lease is not None and self._holding:
            await self.lease.release()
            self._holding = False
        await self.transport.close()


def make_sender(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession],
                transport: Transport, *, clock: Callable[[], datetime] = utc_now,
                **overrides: Any) -> OutboxSender:
    """A sender with the configured limits and the right lease (Redis or the database)."""
    from bot.db.lease import make_lease

    config = SenderConfig.from_settings(settings, **overrides)
    lease = make_lease(sessionmaker, LEASE_NAME, redis_url=settings.redis_url,
                       ttl=config.lease_ttl, clock=clock)
    return OutboxSender(sessionmaker, transport, config, lease=lease, clock=clock)


__all__ = ["LEASE_NAME", "DbLease", "OutboxSender", "SenderConfig", "make_sender"]
