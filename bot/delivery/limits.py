"""Send pacing within Telegram's limits: overall rate, one chat's interval, a group's minute."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class RateLimiter:
    """Decides when the next send may start; every time is from an injected monotonic clock.

    Overall: sends start at least 1/rate seconds apart, so no one-second window holds more than
    `rate` sends. One chat: `per_chat_interval` between sends. One group: at most
    `group_per_minute` in any 60 seconds. A 429 pauses everything until its retry_after ends.
    """

    def __init__(self, rate_per_second: float, per_chat_interval: float, group_per_minute: int,
                 mono: Callable[[], float]) -> None:
        """Set the limits."""
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.interval = 1.0 / rate_per_second
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        self.mono = mono
        self.next_slot = 0.0
        self.paused_until = 0.0
        self.paused_total = 0.0
        self._last: dict[int, float] = {}
        self._groups: dict[int, deque[float]] = {}

    def pause(self, seconds: float) -> None:
        """Stop all sending for `seconds` from now (a 429's retry_after)."""
        now = self.mono()
        until = now + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_total += until - max(now, self.paused_until)
            self.paused_until = until

    def global_wait(self) -> float:
        """Seconds until the next send may start overall (0 = now)."""
        return max(0.0, max(self.paused_until, self.next_slot) - self.mono())

    def take_slot(self) -> None:
        """Use the overall slot now (call when global_wait() is 0)."""
        now = self.mono()
        self.next_slot = max(self.next_slot, now) + self.interval

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
