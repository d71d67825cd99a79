"""Webhook delivery: POST pending updates to the configured URL, in order, with retries."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aiohttp import ClientError, ClientTimeout

if TYPE_CHECKING:
    from emulator.core import Emulator

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def deliver_forever(emu: Emulator) -> None:
    """Deliver ``emu.pending`` updates one by one; retry the head update until it gets 2xx."""
    import asyncio

    while True:
        config = emu.webhook
        if config is None or emu._client is None or emu._closing:  # stopping: a cancel
            return  # swallowed by wait_for (Python 3.11) must not keep the loop alive
        if not emu.pending:
            await emu.wait_changed(1.0)
            continue
        update = emu.pending[0]
        headers = {}
        if config.get("secret_token"):
            headers[SECRET_HEADER] = str(config["secret_token"])
        try:
            async with emu._client.post(
                config["url"], json=update, headers=headers, timeout=ClientTimeout(total=10)
            ) as resp:
                await resp.read()
                status, error = resp.status, f"Wrong response from the webhook: {resp.status}"
        except (ClientError, TimeoutError) as exc:
            status, error = 0, f"Connection failed: {type(exc).__name__}"
        if 200 <= status < 300:
            if emu.pending and emu.pending[0] is update:
                emu.pending.pop(0)
            continue
        log.info("webhook delivery of update %s failed: %s", update["update_id"], error)
        emu.webhook_last_error = (int(time.time()), error)
        await asyncio.sleep(emu.webhook_retry_delay)
