"""Webhook endpoint: checks the secret token, stores the update, answers 200, then processes.

An update that cannot be stored (the database is down or locked) gets 503: Telegram keeps it
and delivers it again later, so a database outage is waited out, not lost. The registration
itself is kept up by `keep_webhook`: retried with backoff until Telegram accepts it, then
checked every CENSUSBOT_WEBHOOK_CHECK_INTERVAL seconds and restored if it was removed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from aiogram import Bot
from aiohttp import web

from bot.telegram.health import HealthCheck, add_health_route
from bot.telegram.processor import UpdateProcessor
from bot.util.resilience import Backoff, ReceiveState, Trouble, sleep_unless

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STUCK_AFTER = 5.0  # seconds a store may hang before new updates are turned away with 503


def create_webhook_app(processor: UpdateProcessor, *, path: str, secret: str,
                       state: ReceiveState | None = None, health: HealthCheck | None = None,
                       remind_every: float = 60.0) -> web.Application:
    """An aiohttp app with one POST route that accepts Telegram's updates (and /healthz)."""
    state = state if state is not None else ReceiveState(mode="webhook")
    storing = Trouble("storing received updates", "store", state, remind_every=remind_every)

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
        if state.store_stuck_for() > STUCK_AFTER:  # do not pile up behind a locked database
            state.count("store.busy")
            return web.Response(status=503, text="cannot store updates now; retry later")
        ticket = state.store_begins()
        try:
            await processor.ingest([payload])  # durable before Telegram hears 200
        except Exception as exc:  # Telegram will deliver it again
            storing.failed(exc)
            return web.Response(status=503, text="cannot store updates now; retry later")
        finally:
            state.store_ends(ticket)
        storing.ok()
        state.received(1)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(path, receive)
    if health is not None:
        add_health_route(app, health)
    return app


async def keep_webhook(bot: Bot, stop: asyncio.Event, state: ReceiveState, *, url: str,
                       secret: str, allowed_updates: list[str] | None, backoff: Backoff,
                       registered: bool = False, check_every: float = 60.0,
                       remind_every: float = 60.0) -> None:
    """Register the webhook until Telegram accepts it; then check it and restore it if lost."""
    registering = Trouble("registering the webhook", "register", state,
                          remind_every=remind_every)
    rest = False  # after a good check, wait check_every; after a failure, retry sooner
    while not stop.is_set():
        if rest and await sleep_unless(stop, check_every):
            return
        rest = False
        try:
            if not registered:
                await bot.set_webhook(url, secret_token=secret, allowed_updates=allowed_updates)
                registered = True
            info = await bot.get_webhook_info()
        except Exception as exc:  # every error class: retried, logged once per change
            registering.failed(exc)
            if await sleep_unless(stop, backoff.next()):
                return
            continue
        registering.ok()
        backoff.reset()
        rest = True
        state.webhook_info = {"pending_update_count": info.pending_update_count,
                              "last_error_message": info.last_error_message,
                              "last_error_date": info.last_error_date.isoformat()
                              if info.last_error_date else None}
        if info.url != url:
            log.error("the webhook was changed or removed elsewhere (now %r); registering it "
                      "again", info.url or None)
            state.count("register.lost")
            registered, rest = False, False
            if await sleep_unless(stop, backoff.next()):
                return
