"""Publish the bot's command menu in Chinese (default) and English."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand

from bot.i18n import Catalogs
from handlers import command_catalogue

log = logging.getLogger(__name__)


async def publish_command_menu(bot: Bot, catalogs: Catalogs) -> None:
    """Set the public commands for the default language and for English clients."""
    public = [c for c in command_catalogue() if c.roles is None]
    try:
        for locale, code in (("zh_CN", None), ("en", "en")):
            t = catalogs.get(locale)
            commands = [BotCommand(command=c.command, description=t(c.description)[:256])
                        for c in public]
            await bot.set_my_commands(commands, language_code=code)
    except TelegramAPIError as exc:  # a menu is a convenience; never block start-up on it
        log.warning("could not publish the command menu: %s", exc)
