"""/subscribe: an office head chooses to hear when a unit first submits for a period."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.reports import notices as report_notices
from bot.util.echo import shown
from handlers.commands import N_, CommandInfo

ORDER = 43
COMMANDS = (
    CommandInfo("subscribe", N_("Hear when a unit first submits its report for a period"),
                roles=OFFICE_ROLES, args=N_("[on|off]")),
)
OFF_WORDS = {"off", "stop", "关", "关闭", "取消", "退订"}
ON_WORDS = {"", "on", "start", "开", "开启", "打开", "订阅"}


async def cmd_subscribe(message: Message, command: CommandObject, session: AsyncSession,
                        principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """`/subscribe` turns first-submission notices on, `/subscribe off` turns them off."""
    if principal is None or not principal.has_any(OFFICE_ROLES):
        await message.answer(i18n("Only office heads can subscribe to report notices."))
        return
    word = (command.args or "").strip()
    if word.lower() not in OFF_WORDS | ON_WORDS:
        await message.answer(i18n("/subscribe: “%(word)s” is neither on nor off. Send /subscribe "
                                  "to hear of first submissions, or /subscribe off to stop.")
                             % {"word": shown(word)})
        return
    on = word.lower() not in OFF_WORDS
    await report_notices.set_subscription(session, user_id=principal.user_id,
                                          kind=report_notices.FIRST_SUBMISSION, on=on, now=now)
    await message.answer(
        i18n("You will hear when a unit in your area first submits its report for a period. "
             "/subscribe off stops it.") if on else
        i18n("You will no longer hear of first submissions. /subscribe turns it on again."))


def create_router() -> Router:
    """Routes for /subscribe."""
    router = Router(name=__name__)
    router.message.register(cmd_subscribe, Command("subscribe"))
    return router
