"""Long polling that stores each batch durably before confirming it to Telegram.

Every error is retried, forever, with capped exponential backoff and jitter (see
bot.util.resilience): a Telegram outage (5xx, network), flood control (429: its
retry_after is obeyed), a conflict (409: another poller or a webhook) or a refused token
(401/403), and a database that cannot store the batch. A batch that could not be stored is not
confirmed: the offset stays, and Telegram hands the same updates over again on the next call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import Update

from bot.telegram.processor import UpdateProcessor
from bot.util.resilience import Backoff, ReceiveState, Trouble, sleep_unless

log = logging.getLogger(__name__)


async def _fetch(bot: Bot, stop: asyncio.Event, **kwargs: Any) -> list[Update] | None:
    """One getUpdates call, or None when `stop` was set meanwhile."""
    fetch = asyncio.ensure_future(bot.get_updates(**kwargs))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if fetch not in done:
        fetch.cancel()
        await asyncio.gather(fetch, return_exceptions=True)
        return None
    return fetch.result()


async def poll(
    bot: Bot,
    processor: UpdateProcessor,
    stop: asyncio.Event,
    *,
    timeout: int = 25,  # noqa: ASYNC109 - the getUpdates long-poll timeout, not ours
    allowed_updates: list[str] | None = None,
    state: ReceiveState | None = None,
    backoff: Backoff | None = None,
    remind_every: float = 60.0,
) -> None:
    """Fetch updates until `stop` is set; a batch is confirmed only after it is stored."""
    state = state if state is not None else ReceiveState()
    delay = backoff or Backoff()
    fetching = Trouble("getUpdates", "fetch", state, remind_every=remind_every)
    storing = Trouble("storing received updates", "store", state, remind_every=remind_every)
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await _fetch(bot, stop, offset=offset, timeout=timeout,
                                   allowed_updates=allowed_updates, request_timeout=timeout + 10)
        except TelegramRetryAfter as exc:
            fetching.failed(exc)
            await sleep_unless(stop, float(exc.retry_after))
            continue
        except Exception as exc:  # every error class: retried, logged once per change
            fetching.failed(exc)
            await sleep_unless(stop, delay.next())
            continue
        if updates is None:
            break
        fetching.ok()
        state.fetched()
        if not updates:
            if not storing.failing:
                delay.reset()
            continue
        ticket = state.store_begins()
        try:
            payloads = [u.model_dump(mode="json", exclude_none=True, by_alias=True)
                        for u in updates]
            # durable before the next offset confirms them
            await processor.ingest(payloads, parsed=updates)
        except Exception as exc:
            storing.failed(exc)
            await sleep_unless(stop, delay.next())
            continue  # offset unchanged: the same updates come again
        finally:
            state.store_ends(ticket)
        storing.ok()
        delay.reset()
        state.received(len(updates))
        offset = updates[-1].update_id + 1
