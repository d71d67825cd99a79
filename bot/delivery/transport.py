"""What the sender needs from Telegram: one call per row, with errors sorted by what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class SendError(Exception):
    """A send that did not go through."""

    def __init__(self, description: str, code: int | None = None) -> None:
        """Keep Telegram's code and description."""
        super().__init__(description)
        self.code = code
        self.description = description


class RetryAfter(SendError):
    """429: stop ALL sending for `retry_after` seconds, then try the same row again."""

    def __init__(self, retry_after: float, description: str = "Too Many Requests") -> None:
        """Remember how long Telegram asked us to wait."""
        super().__init__(description, 429)
        self.retry_after = retry_after


class Unreachable(SendError):
    """403 blocked / deactivated, or 400 chat not found: the recipient cannot be reached."""


class Transient(SendError):
    """5xx or a network error: retry with backoff, a bounded number of times."""


class Permanent(SendError):
    """Telegram refused this message for good (400 bad request): fail it, do not retry."""


@dataclass(frozen=True)
class Sent:
    """Telegram accepted the message."""

    message_id: int | None


class Transport(Protocol):
    """Sends one outbox payload; raises a SendError subclass when it did not go through."""

    async def send(self, method: str, chat_id: int, payload: dict[str, Any]) -> Sent:
        """Call `method` for `chat_id` with `payload`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
