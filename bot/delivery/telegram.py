"""The aiogram side of the sender: a Bot without the retry middleware, errors sorted."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile

from bot.config import Settings
from bot.delivery.transport import Permanent, RetryAfter, Sent, Transient, Unreachable

UNREACHABLE_HINTS = ("chat not found", "user not found", "bot was kicked", "user is deactivated",
                     "peer_id_invalid", "have no rights to send")



def _with_files(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn stored uploads ({"filename", "mime_type", "data_b64"}) into files to send."""
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, dict) and "data_b64" in value:
            out[name] = BufferedInputFile(base64.b64decode(value["data_b64"]),
                                          filename=str(value.get("filename") or name))
        else:
            out[name] = value
    return out

class TelegramTransport:
    """Sends outbox rows through the Bot API; 429s are raised, never slept through here."""

    def __init__(self, bot: Bot, *, owns_bot: bool = False) -> None:
        """Use `bot` (whose session must not retry 429s by itself)."""
        self.bot = bot
        self.owns_bot = owns_bot

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float = 30.0) -> TelegramTransport:
        """A transport with its own Bot for the configured token and API base."""
        base = settings.telegram_api_base
        api = TelegramAPIServer.from_base(base.rstrip("/")) if base else None
        session = AiohttpSession(api=api, timeout=timeout) if api else AiohttpSession(
            timeout=timeout)
        bot = Bot(token=settings.bot_token.get_secret_value(), session=session)
        return cls(bot, owns_bot=True)

    async def send(self, method: str, chat_id: int, payload: dict[str, Any]) -> Sent:
        """Call the Bot API method named `method` (e.g. sendMessage) for `chat_id`."""
        cls_name = method[:1].upper() + method[1:]
        method_cls = getattr(methods, cls_name, None)
        if method_cls is None:
            raise Permanent(f"unknown Bot API method {method}")
        try:
            call = method_cls(chat_id=chat_id, **_with_files(payload))
            result = await self.bot(call)
        except TelegramRetryAfter as exc:
            raise RetryAfter(float(exc.retry_after), exc.message) from exc
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message, 403) from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            text = exc.message.lower()
            if any(h in text for h in UNREACHABLE_HINTS):
                raise Unreachable(exc.message, 400) from exc
            raise Permanent(exc.message, 400) from exc
        except TelegramUnauthorizedError as exc:
            raise Transient(exc.message, 401) from exc
        except TelegramServerError as exc:
            raise Transient(exc.message, 500) from exc
        except (TimeoutError, TelegramNetworkError, aiohttp.ClientError) as exc:
            raise Transient(f"network: {type(exc).__name__}: {exc}") from exc
        except TelegramAPIError as exc:  # e.g. a 429 whose retry_after is 0
            if "too many requests" in exc.message.lower():
                raise RetryAfter(0.0, exc.message) from exc
            raise Transient(exc.message) from exc
        except ValueError as exc:  # payload that does not fit the method (pydantic)
            raise Permanent(f"invalid payload: {exc}"[:300]) from exc
        message_id = getattr(result, "message_id", None)
        return Sent(int(message_id) if message_id is not None else None)

    async def close(self) -> None:
        """Close the Bot's HTTP session if this transport created it."""
        if self.owns_bot:
            await self.bot.session.close()
