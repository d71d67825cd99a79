"""Send pacing within Telegram's limits: overall rate, one chat's interval, a group's minute."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """Decides when the next send may start; every time is from an injected monotonic clock.

    Overall: a sliding window. Telegram receives a request at some moment between our starting
    it and our seeing its answer, so a send occupies the window from its start until one window
    length after its answer: a new send may start only while fewer than `capacity` sends are in
    flight or answered within the last `window` seconds. Then no window of that length can hold
    more than `capacity` arrivals at Telegram, however the network and event loop delay them —
    and no window holds more than `capacity` starts either. `capacity` is the whole number of
    sends the configured rate allows per second (the window stretches when the rate is below 1).

    One chat: `per_chat_interval` between sends. One group: at most `group_per_minute` in any 60
    seconds. A 429 pauses everything until its retry_after ends.
    """

    def __init__(self, rate_per_second: float, per_chat_interval: float, group_per_minute: int,
                 mono: Callable[[], float]) -> None:
        """Set the limits."""
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.window = max(1.0, 1.0 / rate_per_second)
        self.capacity = max(1, math.floor(rate_per_second * self.window + 1e-9))
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.mono = mono
        self.paused_until = 0.0
        self.paused_total = 0.0
        self._open: set[int] = set()  # tokens of sends started and not yet answered
        self._answered: deque[float] = deque()  # answer times, oldest first
        self._token = 0
        self._last: dict[int, float] = {}
        self._groups: dict[int, deque[float]] = {}

    def pause(self, seconds: float) -> None:
        """Stop all sending for `seconds` from now (a 429's retry_after)."""
        now = self.mono()
        until = now + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_total += until - max(now, self.paused_until)
            self.paused_until = until

    def _occupied(self, now: float) -> int:
        while self._answered and self._answered[0] <= now - self.window:
            self._answered.popleft()
        return len(self._open) + len(self._answered)

    def global_wait(self) -> float:
        """Seconds until the next send may start overall (0 = now; inf = when one is answered)."""
        now = self.mono()
        wait = max(0.0, self.paused_until - now)
        if self._occupied(now) < self.capacity:
            return wait
        full = len(self._open) + len(self._answered) - self.capacity + 1  # answers to age out
        if full > len(self._answered):
            return math.inf  # the window is all sends in flight: wait for an answer
        return max(wait, self._answered[full - 1] + self.window - now)

    def start(self) -> int:
        """Take a place in the window for a send starting now; returns its token for `done`."""
        self._token += 1
        self._open.add(self._token)
        return self._token

    def done(self, token: int) -> None:
        """The send `token` was answered (or failed) now: it keeps its place one window more."""
        if token in self._open:
            self._open.discard(token)
            self._answered.append(self.mono())

    def chat_wait(self, chat_id: int, is_group: bool) -> float:
        """Seconds until `chat_id` may receive again (0 = now)."""
        now = self.mono()
        wait = 0.0
        last = self._last.get(chat_id)
        if last is not None:
            wait = max(wait, last + self.per_chat_interval - now)
        if is_group:
            window = self._groups.get(chat_id)
            if window is not None:
                while window and window[0] <= now - 60.0:
                    window.popleft()
                if len(window) >= self.group_per_minute:
                    wait = max(wait, window[0] + 60.0 - now)
        return wait

    def record(self, chat_id: int, is_group: bool) -> None:
        """Note a send to `chat_id` starting now."""
        now = self.mono()
        self._last[chat_id] = now
        if is_group:
            self._groups.setdefault(chat_id, deque()).append(now)
        if len(self._last) > 50_000:  # forget chats whose interval is long over
            cutoff = now - self.per_chat_interval
            self._last = {c: t for c, t in self._last.items() if t > cutoff}

    def cooling(self) -> set[int]:
        """Chats that may not receive right now."""
        now = self.mono()
        out = {c for c, t in self._last.items() if t + self.per_chat_interval > now}
        for chat_id, window in self._groups.items():
            if len(window) >= self.group_per_minute and window[0] > now - 60.0:
                out.add(chat_id)
        return out
