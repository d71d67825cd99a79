"""Conversation state in Redis without going deaf when Redis is down.

`GuardedStorage` wraps the FSM storage: each call is retried a few times with a short backoff;
if Redis still does not answer, `StateStoreUnavailable` is raised and `on_state_unavailable`
tells the user, in their language, to send the message again in a few minutes. The outage is
logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import ErrorEvent

from bot.i18n import Catalogs
from bot.i18n.catalogs import pick_locale

log = logging.getLogger(__name__)
T = TypeVar("T")


class StateStoreUnavailable(Exception):
    """The conversation-state store (Redis) did not answer."""


def _transient() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [OSError, TimeoutError]
    try:
        from redis.exceptions import RedisError

        kinds.append(RedisError)
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(kinds)


class GuardedStorage(BaseStorage):
    """An FSM storage whose connection failures are retried, then reported clearly."""

    def __init__(self, inner: BaseStorage, *, attempts: int = 3, delay: float = 0.2) -> None:
        self.inner = inner
        self.attempts = max(1, attempts)
        self.delay = delay
        self._errors = _transient()
        self._down_since: float | None = None

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                result = await make()
            except self._errors as exc:
                if attempt == self.attempts:
                    if self._down_since is None:
                        self._down_since = time.monotonic()
                        log.error("conversation state store unreachable: %s: %s; users are "
                                  "asked to try again later", type(exc).__name__, exc)
                    raise StateStoreUnavailable(str(exc)) from exc
                await asyncio.sleep(self.delay * 2 ** (attempt - 1))
                continue
            if self._down_since is not None:
                log.warning("conversation state store recovered after %.0f s",
                            time.monotonic() - self._down_since)
                self._down_since = None
            return result
        raise AssertionError("unreachable")

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        """Set the state (retried)."""
        await self._call(lambda: self.inner.set_state(key, state))

    async def get_state(self, key: StorageKey) -> str | None:
        """Get the state (retried)."""
        return await self._call(lambda: self.inner.get_state(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Set the data (retried)."""
        await self._call(lambda: self.inner.set_data(key, data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """Get the data (retried)."""
        return await self._call(lambda: self.inner.get_data(key))

    async def close(self) -> None:
        """Close the inner storage."""
        await self.inner.close()


async def on_state_unavailable(event: ErrorEvent, catalogs: Catalogs, **data: Any) -> bool:
    """Tell the user the bot cannot keep their conversation right now; try again later."""
    update = event.update
    user = data.get("event_from_user")
    t = data.get("i18n") or catalogs.get(pick_locale(None, getattr(user, "language_code", None)))
    text = t("Sorry, the bot cannot keep track of conversations for a moment. "
             "Please send your message again in a few minutes.")
    try:
        if update.message is not None:
            await update.message.answer(text)
        elif update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
    except TelegramAPIError:
        log.warning("could not tell the user of update %s about the outage", update.update_id)
    return True
