"""The FAQ's own lane: searches run on their own thread(s) behind a bounded queue, and each
user may ask only so many questions per minute.

The FAQ is the bot's slowest, CPU-bound feature. Keeping it in its own lane means a flood of
questions waits here (or is turned away at once with a clear message), instead of filling the
update workers and the shared thread pool that `/verify`, reports and button clicks need.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FaqLimits:
    """How much the FAQ lane takes: search threads, waiting places, questions per user."""

    # two search threads: one question's words are searched (and its answer stored) while
    # another's embedding is in the worker, and questions that meet there go in one request
    workers: int = 2
    capacity: int = 4  # questions waiting for a search thread, beyond those being searched
    per_user: int = 10  # questions a user may ask per window
    window: timedelta = timedelta(minutes=1)


class FaqRefused(Exception):
    """The question is not searched now; `reason` is "user" (over the limit) or "busy"."""

    def __init__(self, reason: str, retry_after: int = 60) -> None:
        """Refusal with its reason and a hint of seconds to wait."""
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FaqQueue:
    """Bounded, rate-limited lane for FAQ searches (one per bot process)."""

    def __init__(self, limits: FaqLimits | None = None) -> None:
        """Create the lane and its search thread pool."""
        self.limits = limits or FaqLimits()
        self._executor = ThreadPoolExecutor(max_workers=self.limits.workers,
                                            thread_name_prefix="faq-search")
        self._in_lane = 0
        self._asked: dict[int, deque[datetime]] = {}
        self.refused = {"user": 0, "busy": 0}

    @property
    def depth(self) -> int:
        """Questions being searched or waiting."""
        return self._in_lane

    def admit(self, user_id: int | None, now: datetime) -> None:
        """Count a question against its user's limit and the queue; raise FaqRefused."""
        lim = self.limits
        if self._in_lane >= lim.workers + lim.capacity:
            self.refused["busy"] += 1
            raise FaqRefused("busy", retry_after=30)
        if user_id is not None:
            times = self._asked.setdefault(user_id, deque())
            while times and times[0] <= now - lim.window:
                times.popleft()
            if len(times) >= lim.per_user:
                self.refused["user"] += 1
                wait = (times[0] + lim.window - now).total_seconds()
                raise FaqRefused("user", retry_after=max(1, int(wait) + 1))
            times.append(now)
        if len(self._asked) > 10_000:  # forget idle users so memory stays bounded
            stale = [u for u, t in self._asked.items() if not t or t[-1] <= now - lim.window]
            for u in stale:
                del self._asked[u]

    async def run(self, user_id: int | None, now: datetime, fn: Callable[[], T]) -> T:
        """Admit the question, then run `fn` on the FAQ thread(s); raise FaqRefused."""
        self.admit(user_id, now)
        self._in_lane += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self._in_lane -= 1

    def close(self) -> None:
        """Stop the search threads (questions still waiting are cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
