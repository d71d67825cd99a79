"""Fault injection (fail_next / fail_sequence / fault_rate) and optional Telegram flood limits."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.errors import BLOCKED, ApiError, too_many_requests

FAULT_KINDS = ("429", "401", "403", "409", "500", "502", "drop")
PASS = "ok"  # in a fault sequence: let this request through
CONFLICT_TEXT = ("Conflict: terminated by other getUpdates request; make sure that only one "
                 "bot instance is running")


class DropConnection(Exception):
    """Signal to the server: close the connection without any response."""


def make_fault(kind: str, retry_after: int) -> Exception:
    """Return the exception that realises a fault ``kind``."""
    if kind == "429":
        return too_many_requests(retry_after)
    if kind == "401":
        return ApiError(401, "Unauthorized")
    if kind == "403":
        return ApiError(BLOCKED.code, BLOCKED.description)
    if kind == "409":
        return ApiError(409, CONFLICT_TEXT)
    if kind == "500":
        return ApiError(500, "Internal Server Error")
    if kind == "502":
        return ApiError(502, "Bad Gateway")
    if kind == "drop":
        return DropConnection()
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


@dataclass
class _Rule:
    method: str | None
    kind: str
    retry_after: int
    chat_id: int | None
    count: int = 1
    probability: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


class FaultInjector:
    """Holds one-shot and random fault rules and decides per request."""

    def __init__(self) -> None:
        """Start with no rules."""
        self._next: list[_Rule] = []
        self._random: list[_Rule] = []
        self._sequences: list[tuple[str | None, list[str]]] = []

    def fail_next(
        self,
        method: str | None,
        kind: str,
        retry_after: int,
        count: int,
        chat_id: int | None,
    ) -> None:
        """Fail the next ``count`` matching requests with ``kind``."""
        make_fault(kind, retry_after)  # validate kind early
        self._next.append(_Rule(method, kind, retry_after, chat_id, count=count))

    def fail_sequence(self, method: str | None, kinds: list[str]) -> None:
        """Answer the next matching requests with ``kinds`` in order (``"ok"`` passes one)."""
        for kind in kinds:
            if kind != PASS:
                make_fault(kind, 1)
        self._sequences.append((method, list(kinds)))

    def sequence_left(self, method: str | None = None) -> int:
        """How many answers of the fault sequences (for ``method``, or all) are still to come."""
        return sum(len(kinds) for m, kinds in self._sequences
                   if method is None or (m or "").lower() == method.lower())

    def fault_rate(
        self,
        method: str | None,
        kind: str,
        probability: float,
        retry_after: int,
        seed: int | None,
        chat_id: int | None = None,
    ) -> None:
        """Fail matching requests at random with ``probability`` (seeded, reproducible)."""
        make_fault(kind, retry_after)
        rule = _Rule(method, kind, retry_after, chat_id, probability=probability)
        rule.rng = random.Random(seed)
        self._random.append(rule)

    def clear(self) -> None:
        """Remove every rule."""
        self._next.clear()
        self._random.clear()
        self._sequences.clear()

    def check(self, method: str, chat_id: int | None) -> Exception | None:
        """Return the fault for this request, consuming one-shot rules, or None."""
        for entry in self._sequences:
            seq_method, kinds = entry
            if seq_method is None or seq_method.lower() == method.lower():
                kind = kinds.pop(0)
                if not kinds:
                    self._sequences.remove(entry)
                return None if kind == PASS else make_fault(kind, 1)
        for rule in self._next:
            if rule.matches(method, chat_id):
                rule.count -= 1
                if rule.count <= 0:
                    self._next.remove(rule)
                return make_fault(rule.kind, rule.retry_after)
        for rule in self._random:
            if rule.matches(method, chat_id) and rule.rng.random() < rule.probability:
                return make_fault(rule.kind, rule.retry_after)
        return None


@dataclass
class FloodLimits:
    """Telegram's documented broadcast limits (token buckets)."""

    global_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0


class _Bucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class FloodLimiter:
    """Answers 429 when a bot exceeds global / per-private-chat / per-group send rates."""

    def __init__(self, limits: FloodLimits, clock: Callable[[], float] = time.monotonic) -> None:
        """Create the limiter with ``limits``."""
        self.limits = limits
        self._clock = clock
        self._global = _Bucket(limits.global_per_second, limits.global_per_second, clock)
        self._chats: dict[int, _Bucket] = {}

    def _chat_bucket(self, chat_id: int, is_group: bool) -> _Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            lim = self.limits
            if is_group:
                bucket = _Bucket(lim.group_per_minute / 60.0, lim.group_per_minute, self._clock)
            else:
                bucket = _Bucket(lim.private_per_second, lim.private_burst, self._clock)
            self._chats[chat_id] = bucket
        return bucket

    def acquire(self, chat_id: int, is_group: bool) -> None:
        """Consume one send for ``chat_id`` or raise a 429 ApiError."""
        chat = self._chat_bucket(chat_id, is_group)
        wait = max(self._global.wait_time(), chat.wait_time())
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        self._global.take()
        chat.take()
