"""Keeping the receiving loops alive: backoff with jitter, once-per-change logging, restarts.

A failing activity (getUpdates, storing updates, registering the webhook) is retried forever
with capped exponential backoff and jitter. Its log tells a story an operator can read: one
line when it starts failing, one when the error changes, a reminder every
CENSUSBOT_ERROR_LOG_INTERVAL seconds while it lasts, and one when it recovers — never a line
per retry. Every failure is also counted for /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from sqlalchemy.exc import SQLAlchemyError, StatementError

from bot.util.clock import utc_now

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
HINTS = {
    "conflict": "another process is polling with this bot token, or a webhook is set "
                "(Telegram refuses getUpdates while one is); stop the other instance or "
                "delete the webhook",
    "forbidden": "Telegram refuses this bot token; check BOT_TOKEN with @BotFather",
    "unauthorized": "Telegram does not know this bot token; check BOT_TOKEN with @BotFather",
}


@dataclass
class _Failing:
    kind: str
    error: str
    since: float  # monotonic
    since_at: datetime


@dataclass
class ReceiveState:
    """What the receiving side has seen: shared by the loops (writers) and /healthz (reader)."""

    mode: str = "polling"
    started: float = field(default_factory=time.monotonic)
    last_update_at: datetime | None = None
    last_get_updates_at: datetime | None = None
    last_get_updates: float | None = None  # monotonic
    updates_received: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    failing: dict[str, _Failing] = field(default_factory=dict)
    stores: dict[int, float] = field(default_factory=dict)  # stores in progress: start time
    webhook_info: dict[str, Any] = field(default_factory=dict)
    loop_alive: Callable[[], bool] | None = None

    def count(self, name: str) -> None:
        """Add one to an error counter."""
        self.counters[name] += 1

    def set_failing(self, stage: str, kind: str, error: str, for_seconds: float) -> None:
        """Mark `stage` (fetch, store, register) as failing for `for_seconds` so far."""
        current = self.failing.get(stage)
        if current is None:
            now = time.monotonic()
            self.failing[stage] = _Failing(kind, error, now - for_seconds, utc_now())
        else:
            current.kind, current.error = kind, error

    def clear_failing(self, stage: str) -> None:
        """Mark `stage` as working."""
        self.failing.pop(stage, None)

    def store_begins(self) -> int:
        """A store of received updates starts; returns its ticket for `store_ends`."""
        ticket = max(self.stores, default=0) + 1
        self.stores[ticket] = time.monotonic()
        return ticket

    def store_ends(self, ticket: int) -> None:
        """The store with this ticket ended (stored or failed)."""
        self.stores.pop(ticket, None)

    def store_stuck_for(self) -> float:
        """How long the oldest store in progress has been running (0 when none is)."""
        oldest = min(self.stores.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def fetched(self) -> None:
        """A getUpdates call succeeded."""
        self.last_get_updates_at = utc_now()
        self.last_get_updates = time.monotonic()

    def received(self, count: int) -> None:
        """`count` updates were stored."""
        if count:
            self.updates_received += count
            self.last_update_at = utc_now()


class Backoff:
    """Capped exponential delays with jitter: each delay is drawn from [d/2, d]."""

    def __init__(self, initial: float = 1.0, maximum: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.initial = max(initial, 0.001)
        self.maximum = max(maximum, self.initial)
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (grows until the cap)."""
        ceiling = min(self.maximum, self.initial * 2 ** min(self._attempt, 30))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._attempt = 0


def classify(exc: BaseException) -> str:
    """A short, stable name for an error class (used in logs and as a metric name)."""
    kinds: list[tuple[type[BaseException], str]] = [
        (TelegramConflictError, "conflict"), (TelegramForbiddenError, "forbidden"),
        (TelegramUnauthorizedError, "unauthorized"), (TelegramRetryAfter, "flood_wait"),
        (TelegramServerError, "server_error"), (TelegramNetworkError, "network"),
        (TelegramAPIError, "api_error"), (SQLAlchemyError, "database"),
        (TimeoutError, "timeout"), (OSError, "network"),
    ]
    for cls, name in kinds:
        if isinstance(exc, cls):
            return name
    return "other"


def describe(exc: BaseException) -> str:
    """One line about an error, bounded, with any bot token masked.

    A database error is described by the driver's error alone: SQLAlchemy's own text carries
    the statement and its parameters, which may hold what people sent.
    """
    orig = getattr(exc, "orig", None) if isinstance(exc, StatementError) else None
    if isinstance(orig, BaseException):
        exc = orig
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return _TOKEN.sub("<token>", text)[:300]


class Trouble:
    """Tracks one activity's failures and logs only the changes (see the module docstring).

    Errors of the `store` stage are all database errors, whatever the driver raised.
    """

    def __init__(self, what: str, stage: str, state: ReceiveState | None, *,
                 remind_every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.stage = stage
        self.state = state if state is not None else ReceiveState()
        self.remind_every = remind_every
        self._clock = clock
        self._since: float | None = None
        self._kind: str | None = None
        self._reminded = 0.0
        self._attempts = 0

    @property
    def failing(self) -> bool:
        """Whether the activity's last attempt failed."""
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """Record a failed attempt; log it only if it is new, different, or due a reminder."""
        now = self._clock()
        kind = classify(exc)
        if self.stage == "store" and (kind in ("network", "timeout") or type(exc).__module__
                                      .startswith(("asyncpg", "sqlite3", "aiosqlite"))):
            kind = "database"
        detail = describe(exc)
        self._attempts += 1
        self.state.count(f"{self.stage}.{kind}")
        hint = HINTS.get(kind)
        suffix = f" — {hint}" if hint else ""
        if self._since is None:
            self._since, self._kind, self._reminded, self._attempts = now, kind, now, 1
            log.warning("%s failing: %s; retrying with backoff%s", self.what, detail, suffix)
        elif kind != self._kind:
            self._kind, self._reminded = kind, now
            log.warning("%s now failing differently: %s%s", self.what, detail, suffix)
        elif now - self._reminded >= self.remind_every:
            self._reminded = now
            level = logging.ERROR if hint else logging.WARNING
            log.log(level, "%s still failing after %.0f s (%d attempts): %s%s", self.what,
                    now - self._since, self._attempts, detail, suffix)
        self.state.set_failing(self.stage, kind, detail, now - self._since)

    def ok(self) -> None:
        """Record a success; log the recovery if it was failing."""
        if self._since is not None:
            log.warning("%s recovered after %.0f s (%d failed attempts)", self.what,
                        self._clock() - self._since, self._attempts)
            self._since = self._kind = None
            self._attempts = 0
        self.state.clear_failing(self.stage)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop` is set; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


async def supervise(name: str, run: Callable[[], Awaitable[None]], stop: asyncio.Event,
                    state: ReceiveState, backoff: Backoff) -> None:
    """Run `run` until `stop` is set, restarting it (with backoff) whenever it ends or dies."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s died; restarting it", name)
        else:
            if stop.is_set():
                return
            log.error("%s ended on its own; restarting it", name)
        state.count(f"restart.{name}")
        if time.monotonic() - started > 60:
            backoff.reset()  # it ran a good while: this is a fresh failure, not a crash loop
        if await sleep_unless(stop, backoff.next()):
            return
