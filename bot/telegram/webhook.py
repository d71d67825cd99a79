"""Webhook endpoint: checks the secret token, stores the update, answers 200, then processes."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.telegram.processor import UpdateProcessor

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def create_webhook_app(processor: UpdateProcessor, *, path: str, secret: str) -> web.Application:
    """An aiohttp app with one POST route that accepts Telegram's updates."""

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("webhook call with a wrong secret token from %s", request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            payload = await request.json()
            int(payload["update_id"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not an update")
        await processor.ingest([payload])  # durable before Telegram hears 200
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(path, receive)
    return app
