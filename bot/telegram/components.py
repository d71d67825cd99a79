"""Start the outbox sender and the scheduler with the bot (COMPONENT_FACTORIES)."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Dispatcher

from bot.config import Settings
from bot.delivery.sender import make_sender
from bot.delivery.telegram import TelegramTransport

log = logging.getLogger(__name__)


async def sender_component(dispatcher: Dispatcher, bot: Bot) -> Any:
    """The outbox sender (its own HTTP session, without the 429-sleeping middleware)."""
    settings: Settings = dispatcher["settings"]
    transport = TelegramTransport.from_settings(settings)
    return make_sender(settings, dispatcher["sessionmaker"], transport, clock=dispatcher["clock"])


async def scheduler_component(dispatcher: Dispatcher, bot: Bot) -> Any:
    """The scheduler, unless CENSUSBOT_SCHEDULER is off."""
    settings: Settings = dispatcher["settings"]
    if not settings.run_scheduler:
        return None
    from scheduling.scheduler import make_scheduler

    return make_scheduler(settings, dispatcher["sessionmaker"], clock=dispatcher["clock"])
