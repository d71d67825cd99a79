"""Long polling that stores each batch durably before confirming it to Telegram."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bot.telegram.processor import UpdateProcessor

log = logging.getLogger(__name__)


async def poll(
    bot: Bot,
    processor: UpdateProcessor,
    stop: asyncio.Event,
    *,
    timeout: int = 25,  # noqa: ASYNC109 - the getUpdates long-poll timeout, not ours
    allowed_updates: list[str] | None = None,
) -> None:
    """Fetch updates until `stop` is set; a batch is confirmed only after it is stored."""
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        try:
            fetch = asyncio.ensure_future(
                bot.get_updates(offset=offset, timeout=timeout, allowed_updates=allowed_updates,
                                request_timeout=timeout + 10)
            )
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if fetch not in done:
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)
                break
            stopper.cancel()
            updates = fetch.result()
        except TelegramRetryAfter as exc:
            await asyncio.sleep(exc.retry_after)
            continue
        except (TelegramNetworkError, TelegramServerError) as exc:
            log.warning("getUpdates failed (%s); retrying in %.0fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        backoff = 1.0
        if not updates:
            continue
        payloads = [u.model_dump(mode="json", exclude_none=True) for u in updates]
        await processor.ingest(payloads)  # durable before the next offset confirms them
        offset = updates[-1].update_id + 1
