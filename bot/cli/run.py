"""`censusbot run`: the bot, by long polling or (with --webhook) behind an HTTPS webhook.

aiogram is imported inside the commands: it takes seconds, and other commands do not need it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Settings

log = logging.getLogger(__name__)


def _check(settings: Settings, webhook: bool) -> str | None:
    if not settings.bot_token.get_secret_value():
        return "BOT_TOKEN is not set"
    if not settings.censusbot_secret.get_secret_value():
        return "CENSUSBOT_SECRET is not set (it signs badge QR codes; use a long random value)"
    try:
        settings.signing_key()
    except ValueError as exc:
        return str(exc)
    if webhook and not (settings.webhook_url and settings.webhook_secret.get_secret_value()):
        return "webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET"
    return None


async def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_polling(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM with long polling."""
    from bot.telegram.app import BotApp, build_dispatcher
    from bot.telegram.factory import create_bot

    bot = create_bot(settings)
    app = BotApp(settings, bot, build_dispatcher(settings))
    stop = await _stop_event()
    await app.start()
    await stop.wait()
    await app.stop()


async def run_webhook(settings: Settings) -> None:
    """Serve the webhook until SIGINT/SIGTERM; updates are stored before Telegram hears 200."""
    from bot.telegram.app import BotApp, build_dispatcher
    from bot.telegram.factory import create_bot

    bot = create_bot(settings)
    app = BotApp(settings, bot, build_dispatcher(settings))
    stop = await _stop_event()
    await app.start_webhook()
    await stop.wait()
    await app.stop()


async def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    problem = _check(settings, args.webhook)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    await (run_webhook(settings) if args.webhook else run_polling(settings))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run`."""
    p = sub.add_parser("run", help="run the bot (long polling; --webhook for webhook mode)")
    p.add_argument("--webhook", action="store_true",
                   help="serve WEBHOOK_PATH on WEBHOOK_HOST:WEBHOOK_PORT and register WEBHOOK_URL")
    p.set_defaults(func=_run)
