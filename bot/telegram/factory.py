"""Create the Bot: token, optional Bot API base URL, HTML by default, 429 waited out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InputFile
from aiohttp import JsonPayload

from bot.config import Settings
from bot.telegram.middlewares import CommitBeforeSend

log = logging.getLogger(__name__)
# One strong reference per API method to its parametrised `Response[...]` model (see below).
_RESPONSE_TYPES: dict[type[TelegramMethod[Any]], Any] = {}


class TelegramSession(AiohttpSession):
    """aiogram's aiohttp session: JSON request bodies, each method's `Response[...]` kept.

    aiogram validates every answer with `Response[method.__returning__]`, and pydantic caches
    parametrised generics only weakly: without a strong reference the model class (its schema
    and validator) was rebuilt on most API calls.
    """

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]
                        ) -> Any:  # a JsonPayload or aiogram's FormData
        """The request body: JSON (which the Bot API takes for every call without a file) as
        one `json_dumps` of the prepared parameters, instead of a form whose every field is
        serialised and URL-encoded on its own; aiogram's multipart form when a file goes up."""
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # the form leaves these out too
                params[key] = prepared
        if files:
            return super().build_form_data(bot=bot, method=method)
        return JsonPayload(params, dumps=self.json_dumps)

    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        """Keep the method's response type, then aiogram's own check."""
        kind = type(method)
        if kind not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return super().check_response(bot, method, status_code, content)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Wait out a 429's retry_after and repeat the request, a bounded number of times."""

    def __init__(self, attempts: int = 5, max_wait: float = 60.0) -> None:
        self.attempts = attempts
        self.max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """Send, sleeping through flood-control answers."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or isinstance(method, GetUpdates):
                    raise
                wait = min(float(exc.retry_after), self.max_wait)
                log.warning("429 on %s: waiting %.1fs (attempt %d)", type(method).__name__,
                            wait, attempt)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def create_bot(settings: Settings, **session_kwargs: Any) -> Bot:
    """A Bot for the configured token, talking to TELEGRAM_API_BASE when set."""
    api = (
        TelegramAPIServer.from_base(settings.telegram_api_base.rstrip("/"))
        if settings.telegram_api_base
        else None
    )
    session = (TelegramSession(api=api, **session_kwargs) if api
               else TelegramSession(**session_kwargs))
    session.middleware(CommitBeforeSend())  # outermost: commit once, before the first attempt
    session.middleware(RetryAfterMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
