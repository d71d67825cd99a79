"""The last word: a command no handler took (`/foo`, `/cancel` with nothing open) gets help."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from handlers.common import allowed_commands

ORDER = 99  # after every other router, so only commands nobody handled arrive here


async def on_unknown_command(message: Message, i18n: Translator,
                             principal: Principal | None) -> None:
    """Say the command is not known (or that nothing is open to cancel) and list the commands."""
    word = (message.text or "").split(maxsplit=1)[0].split("@", 1)[0][:40]
    commands = [(c.command, i18n(c.args) if c.args else "", i18n(c.description))
                for c in allowed_commands(principal)]
    await message.answer(render("common/unknown_command.html.j2", i18n, command=word,
                                cancel=word.lower() == "/cancel", commands=commands))


def create_router() -> Router:
    """Routes for commands no other router handled (private chats only)."""
    router = Router(name=__name__)
    router.message.register(on_unknown_command, F.chat.type == ChatType.PRIVATE, F.text,
                            F.text.startswith("/"))
    return router
