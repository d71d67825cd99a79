"""/start, /help and /lang: for everyone, in every chat."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, Language
from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.access import users as users_service
from bot.services.access.principal import Principal
from handlers.commands import N_, CommandInfo

ORDER = 80
COMMANDS = (
    CommandInfo("start", N_("Start and see what this bot does")),
    CommandInfo("help", N_("What you can do here")),
    CommandInfo("lang", N_("Switch language: 中文 / English")),
)


def allowed_commands(principal: Principal | None) -> list[CommandInfo]:
    """The commands this user's roles allow, in catalogue order."""
    from handlers import command_catalogue

    return [
        c for c in command_catalogue()
        if c.roles is None or (principal is not None and principal.has_any(c.roles))
    ]


async def cmd_start(message: Message, i18n: Translator, principal: Principal | None) -> None:
    """Greet the user and say what the bot does."""
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(render("common/start.html.j2", i18n, name=name,
                                roles=sorted(principal.roles) if principal else []))


async def cmd_help(message: Message, i18n: Translator, principal: Principal | None) -> None:
    """List the commands this user's roles allow."""
    commands = [(c.command, i18n(c.args) if c.args else "", i18n(c.description))
                for c in allowed_commands(principal)]
    await message.answer(render("common/help.html.j2", i18n, commands=commands))


async def cmd_lang(message: Message, i18n: Translator) -> None:
    """Offer the two languages as buttons."""
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="中文", callback_data=Language("zh_CN").pack()),
        InlineKeyboardButton(text="English", callback_data=Language("en").pack()),
    ]])
    await message.answer(render("common/lang_choose.html.j2", i18n), reply_markup=kb)


async def on_lang_chosen(
    callback: CallbackQuery, session: AsyncSession, catalogs: Catalogs, now: datetime
) -> None:
    """Store the chosen language and confirm in it."""
    try:
        locale = Language.parse(callback.data).locale
    except CallbackDataError:
        await callback.answer()
        return
    await users_service.set_language(session, user_id=callback.from_user.id, locale=locale,
                                     now=now)
    t = catalogs.get(locale)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)  # the choice is made
        await callback.message.answer(render("common/lang_set.html.j2", t))


def create_router() -> Router:
    """Routes for /start, /help and /lang."""
    router = Router(name=__name__)
    router.message.register(cmd_start, CommandStart())
    router.message.register(cmd_help, Command("help"))
    router.message.register(cmd_lang, Command("lang"))
    router.callback_query.register(on_lang_chosen, F.data.startswith(Language.head()))
    return router
