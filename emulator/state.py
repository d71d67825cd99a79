"""The emulator's chat state: chats, messages, files and the update queue (the bot's side)."""


from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import mimetypes
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, web

from emulator.errors import BLOCKED, ApiError, bad_request
from emulator.faults import FaultInjector, FloodLimiter, FloodLimits
from emulator.htmltext import plain_text
from emulator.records import FileRecord, RequestRecord, SentRecord, StoredMessage

log = logging.getLogger(__name__)

UserRef = dict[str, Any] | int
ChatRef = dict[str, Any] | int
MessagePredicate = Callable[[dict[str, Any]], bool]


def ref_id(ref: UserRef | ChatRef) -> int:
    """The numeric id of a user or chat given as a dict or an int."""
    return int(ref["id"]) if isinstance(ref, dict) else int(ref)


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units (Telegram entity units)."""
    return len(text.encode("utf-16-le")) // 2


def _image_size(content: bytes) -> tuple[int, int]:
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(content)) as img:
            return int(img.width), int(img.height)
    except Exception:  # not an image Pillow understands: Telegram would still accept it
        return 1, 1


class ChatState:
    """Chats, stored messages, files and pending updates, shared by the API and the tests."""

    def __init__(
        self,
        bot_username: str = "census_demo_bot",
        *,
        bot_first_name: str = "Census Demo Bot",
        bot_id: int | None = None,
        tokens: list[str] | None = None,
        enforce_limits: bool = False,
        limits: FloodLimits | None = None,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        """Configure the bot identity, accepted tokens and optional flood limits."""
        if bot_id is None:
            first = tokens[0] if tokens else ""
            prefix = first.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_id = bot_id
        self.tokens: list[str] = list(tokens) if tokens else [f"{bot_id}:TEST-emulator"]
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self.limiter = FloodLimiter(limits or FloodLimits()) if enforce_limits else None
        self.faults = FaultInjector()
        self.webhook_retry_delay = webhook_retry_delay
        self.sent_log: list[SentRecord] = []
        self.request_log: list[RequestRecord] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.members: dict[int, set[int]] = {}
        self.blocked: set[int] = set()
        self.files: dict[str, FileRecord] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_last_error: tuple[int, str] | None = None
        self.pending: list[dict[str, Any]] = []
        self._history: dict[int, list[StoredMessage]] = {}
        self._reply_keyboards: dict[int, dict[str, Any] | None] = {}
        self._next_mid: dict[int, int] = {}
        self._cursor: dict[int, int] = {}
        self._last_user_mid: dict[int, int] = {}
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._rev = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.base_url = ""

    # ----------------------------------------------------------------- state helpers
    def _notify(self) -> None:
        self._rev += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until any state changes (message, edit, update) or ``timeout`` passes."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    @property
    def rev(self) -> int:
        """Return the global change counter (grows on every change)."""
        return self._rev

    def chat(self, chat_id: int) -> dict[str, Any]:
        """Return the chat or raise 400 chat not found."""
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def find_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """Return a non-deleted stored message or None."""
        for stored in self._history.get(chat_id, []):
            if stored.message_id == message_id and not stored.deleted:
                return stored
        return None

    def api_message(self, stored: StoredMessage) -> dict[str, Any]:
        """Return the Message JSON the Bot API answers (HTML stripped, only inline markup)."""
        data = copy.deepcopy(stored.data)
        if stored.parse_mode and stored.parse_mode.upper() == "HTML":
            for key in ("text", "caption"):
                if key in data:
                    data[key] = plain_text(data[key])
        markup = stored.reply_markup
        if markup and "inline_keyboard" in markup:
            data["reply_markup"] = copy.deepcopy(markup)
        return data

    def touch_state(self) -> None:
        """Signal a state change that is not a message (answers, etc.)."""
        self._notify()

    def touch(self, stored: StoredMessage) -> None:
        """Mark a stored message as changed (edits, deletes)."""
        self._notify()
        stored.rev = self._rev

    def _store(
        self,
        chat_id: int,
        data: dict[str, Any],
        from_bot: bool,
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
    ) -> StoredMessage:
        mid = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = mid
        full = {"message_id": mid, "date": int(time.time()), "chat": self.chats[chat_id], **data}
        stored = StoredMessage(
            data=copy.deepcopy(full),
            from_bot=from_bot,
            rev=0,
            parse_mode=parse_mode,
            reply_markup=copy.deepcopy(reply_markup),
        )
        self._history.setdefault(chat_id, []).append(stored)
        if not from_bot:
            self._last_user_mid[chat_id] = mid
        self.touch(stored)
        return stored

    def bot_send(
        self,
        method: str,
        chat_id: int,
        content: dict[str, Any],
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
        reply_to: int | None = None,
        allow_without_reply: bool = False,
    ) -> dict[str, Any]:
        """Validate chat/block/flood, store a bot message, log it, return its API JSON."""
        chat = self.chat(chat_id)
        if chat_id in self.blocked:
            raise ApiError(BLOCKED.code, BLOCKED.description)
        data = {"from": self.bot_user, **content}
        if reply_to is not None:
            target = self.find_message(chat_id, reply_to)
            if target is not None:
                data["reply_to_message"] = self.api_message(target)
            elif not allow_without_reply:
                raise bad_request("message to be replied not found")
        if self.limiter is not None:
            self.limiter.acquire(chat_id, chat["type"] != "private")
        if reply_markup is not None:
            if "keyboard" in reply_markup:
                self._reply_keyboards[chat_id] = copy.deepcopy(reply_markup)
            elif reply_markup.get("remove_keyboard"):
                self._reply_keyboards[chat_id] = None
        stored = self._store(chat_id, data, True, parse_mode, reply_markup)
        text = content.get("text", content.get("caption"))
        self.sent_log.append(SentRecord(method, chat_id, stored.message_id, text, time.monotonic()))
        return self.api_message(stored)

    def new_file(
        self, content: bytes, kind: str, file_name: str | None, mime_type: str | None
    ) -> FileRecord:
        """Store file bytes and return the new record (ids are unique per emulator)."""
        n = next(self._file_ids)
        ext = mimetypes.guess_extension(mime_type or "") or ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        record = FileRecord(
            file_id=f"{kind[:2].upper()}{n:05d}-{secrets.token_hex(6)}",
            file_unique_id=f"U{n:05d}",
            file_path=f"{kind}/file_{n}{ext}",
            content=content,
            mime_type=mime_type or "application/octet-stream",
            file_name=file_name,
        )
        self.files[record.file_id] = record
        return record

    def photo_sizes(self, record: FileRecord) -> list[dict[str, Any]]:
        """Return the PhotoSize list for an image file."""
        width, height = _image_size(record.content)
        return [
            {
                "file_id": record.file_id,
                "file_unique_id": record.file_unique_id,
                "width": width,
                "height": height,
                "file_size": len(record.content),
            }
        ]

    @staticmethod
    def document_json(record: FileRecord) -> dict[str, Any]:
        """Return the Document JSON for a file."""
        doc: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "mime_type": record.mime_type,
            "file_size": len(record.content),
        }
        if record.file_name:
            doc["file_name"] = record.file_name
        return doc

    # ----------------------------------------------------------------- updates
    def _push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: copy.deepcopy(payload)}
        self.pending.append(update)
        self._notify()
        return copy.deepcopy(update)

    def take_updates(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """Confirm updates below ``offset`` and return up to ``limit`` pending ones."""
        if offset is not None:
            if offset < 0:
                self.pending = self.pending[offset:]
            else:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
        return copy.deepcopy(self.pending[:limit])
