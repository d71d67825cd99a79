"""/outbox for office heads: queue length, recent rate, failures, unreachable recipients.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.shared import outbox as outbox_service
from handlers.commands import N_, CommandInfo

ORDER = 40
COMMANDS = (CommandInfo("outbox", N_("Delivery queue: backlog, rate, failures, unreachable"),
                        roles=frozenset(OFFICE_ROLES)),)


async def cmd_outbox(message: Message, session: AsyncSession, i18n: Translator,
                     principal: Principal | None, now: datetime, settings: Settings) -> None:
    """Show the delivery figures to an office head."""
    if principal is None or not principal.has_any(OFFICE_ROLES):
        await message.answer(render("notices/outbox_denied.html.j2", i18n))
        return
    paths = [g.unit_path for g in principal.units_for(OFFICE_ROLES)]
    stats = await outbox_service.stats(session, now=now, unit_paths=paths)
    rates = {m: round(n / (m * 60), 2) for m, n in stats.sent_last.items()}
    oldest = stats.oldest_pending.astimezone(settings.tz).strftime("%m-%d %H:%M") \
        if stats.oldest_pending else None
    await message.answer(render("notices/outbox_status.html.j2", i18n, s=stats, rates=rates,
                                oldest=oldest))


def create_router() -> Router:
    """Route /outbox."""
    router = Router(name=__name__)
    router.message.register(cmd_outbox, Command("outbox"))
    return router
