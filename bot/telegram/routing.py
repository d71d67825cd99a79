"""Run the routers' synchronous filters on the event loop.

aiogram calls every callable that is not a coroutine function (magic `F.` filters, plain
functions) through `asyncio.to_thread`, and it checks the filters of each candidate handler in
turn: one thread hop (an executor submit and a wake-up of the loop) per filter per candidate,
on every update. The filters are cheap, pure checks of the event; running them inline gives
the same answers without the hops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver


def _inline(check: Callable[..., Any]) -> Callable[..., Any]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    inline.__wrapped__ = check  # type: ignore[attr-defined]
    return inline


def sync_filters(router: Router) -> list[FilterObject]:
    """Every filter of `router` and its sub-routers that aiogram would run in a thread."""
    found: list[FilterObject] = []
    for each in router.chain_tail:
        for observer in each.observers.values():
            if not isinstance(observer, TelegramEventObserver):
                continue
            for handler in (observer._handler, *observer.handlers):
                found += [f for f in handler.filters or () if not f.awaitable]
    return found


def inline_sync_filters(router: Router) -> int:
    """Make the synchronous filters awaitable in place (same arguments, same result, no
    thread); returns how many were changed. Call it once the routers are included."""
    changed = sync_filters(router)
    for item in changed:
        # The parameters aiogram hands the filter were read from the original callable.
        item.callback = _inline(item.callback)
        item.awaitable = True
    return len(changed)
