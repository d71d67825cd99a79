"""The Emulator: chat state, update queue and the Python control API used by tests."""

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

from bot.emulator.errors import BLOCKED, ApiError, bad_request
from bot.emulator.faults import FaultInjector, FloodLimiter, FloodLimits
from bot.emulator.htmltext import plain_text
from bot.emulator.records import FileRecord, RequestRecord, SentRecord, StoredMessage

log = logging.getLogger(__name__)

UserRef = dict[str, Any] | int
ChatRef = dict[str, Any] | int
MessagePredicate = Callable[[dict[str, Any]], bool]


def _ref_id(ref: UserRef | ChatRef) -> int:
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


class Emulator:
    """In-process Telegram Bot API emulator over real HTTP, with a Python control API.

    Tokens: only registered tokens are accepted (``tokens=[...]``; default one token
    ``"<bot_id>:TEST-emulator"``); every registered token speaks for the same bot.
    """

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

    # ----------------------------------------------------------------- lifecycle
    @property
    def token(self) -> str:
        """Return the first registered (valid) token."""
        return self.tokens[0]

    def build_app(self) -> web.Application:
        """Return an aiohttp app with Bot API, file download and /_emu/ control routes."""
        from bot.emulator.server import add_routes

        app = web.Application(client_max_size=60 * 1024 * 1024)
        add_routes(app, self)
        return app

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        configure: Callable[[web.Application], None] | None = None,
    ) -> str:
        """Serve on ``host:port`` (0 = free port); ``configure(app)`` may add routes.

        Returns ``base_url``.
        """
        app = self.build_app()
        if configure is not None:
            configure(app)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{real_port}"
        self._client = ClientSession()
        log.info("Telegram emulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving, wake long polls and close the webhook client."""
        self._closing = True
        self._notify()
        await self._stop_webhook_worker()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> Emulator:
        """Start on a free local port."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the emulator."""
        await self.stop()

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

    # ----------------------------------------------------------------- control: people
    def user(
        self,
        id: int,
        first_name: str = "User",
        language_code: str | None = None,
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Register a user (and the private chat with the same id); return the User dict."""
        user: dict[str, Any] = {"id": id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[id] = user
        chat: dict[str, Any] = {"id": id, "type": "private", "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        self.chats[id] = chat
        return dict(user)

    def group(self, id: int, title: str, type: str | None = None) -> dict[str, Any]:
        """Register a group chat (``supergroup`` for -100… ids unless ``type`` given)."""
        kind = type or ("supergroup" if str(id).startswith("-100") else "group")
        self.chats[id] = {"id": id, "type": kind, "title": title}
        self.members.setdefault(id, set())
        return dict(self.chats[id])

    def add_member(self, chat: ChatRef, user: UserRef) -> None:
        """Record ``user`` as a member of a group chat."""
        self.members.setdefault(_ref_id(chat), set()).add(_ref_id(user))

    def block(self, chat_id: int) -> None:
        """Simulate the user blocking the bot: sends to ``chat_id`` answer 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo :meth:`block`."""
        self.blocked.discard(chat_id)

    def _sender(self, user: UserRef) -> dict[str, Any]:
        uid = _ref_id(user)
        if uid not in self.users:
            if isinstance(user, dict):
                keys = ("first_name", "language_code", "username")
                known = {k: user[k] for k in keys if k in user}
                self.user(uid, **known)
            else:
                self.user(uid)
        return self.users[uid]

    def _chat_for(self, sender: dict[str, Any], chat: ChatRef | None) -> int:
        if chat is None:
            return int(sender["id"])
        chat_id = _ref_id(chat)
        if chat_id not in self.chats:
            if isinstance(chat, dict):
                self.group(chat_id, chat.get("title", str(chat_id)), chat.get("type"))
            else:
                raise ValueError(f"unknown chat {chat_id}: register it with emu.group()")
        return chat_id

    # ----------------------------------------------------------------- control: inject
    async def _user_message(
        self, user: UserRef, chat: ChatRef | None, content: dict[str, Any]
    ) -> dict[str, Any]:
        sender = self._sender(user)
        chat_id = self._chat_for(sender, chat)
        stored = self._store(chat_id, {"from": sender, **content}, False)
        update = self._push_update("message", self.api_message(stored))
        await asyncio.sleep(0)
        return update

    async def send_text(
        self, user: UserRef, text: str, chat: ChatRef | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """Inject a text message from ``user`` (private chat unless ``chat``); return the Update."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            content["entities"] = [entity]
        if reply_to is not None:
            target = self.find_message(self._chat_for(self._sender(user), chat), reply_to)
            if target is not None:
                content["reply_to_message"] = self.api_message(target)
        return await self._user_message(user, chat, content)

    async def send_contact(
        self,
        user: UserRef,
        phone: str,
        user_id: int | None = None,
        chat: ChatRef | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Inject a shared contact; ``user_id`` defaults to the sender's id (own contact)."""
        sender = self._sender(user)
        contact = {
            "phone_number": phone,
            "first_name": first_name or sender["first_name"],
            "user_id": sender["id"] if user_id is None else user_id,
        }
        return await self._user_message(user, chat, {"contact": contact})

    async def send_document(
        self,
        user: UserRef,
        filename: str,
        content: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
    ) -> dict[str, Any]:
        """Inject a document upload from ``user``; the bot can getFile/download it."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        record = self.new_file(content, "documents", filename, mime)
        data: dict[str, Any] = {"document": self.document_json(record)}
        if caption:
            data["caption"] = caption
        return await self._user_message(user, chat, data)

    async def send_photo(
        self,
        user: UserRef,
        content: bytes,
        caption: str | None = None,
        chat: ChatRef | None = None,
    ) -> dict[str, Any]:
        """Inject a photo from ``user``."""
        record = self.new_file(content, "photos", None, "image/jpeg")
        data: dict[str, Any] = {"photo": self.photo_sizes(record)}
        if caption:
            data["caption"] = caption
        return await self._user_message(user, chat, data)

    async def send_location(
        self, user: UserRef, lat: float, lon: float, chat: ChatRef | None = None
    ) -> dict[str, Any]:
        """Inject a location message."""
        return await self._user_message(
            user, chat, {"location": {"latitude": lat, "longitude": lon}}
        )

    async def click(
        self, user: UserRef, message: dict[str, Any] | int, data: str,
        chat: ChatRef | None = None, strict: bool = True,
    ) -> dict[str, Any]:
        """Press an inline button: inject a callback_query for a bot ``message`` (dict or id).

        With ``strict`` the ``data`` must be the callback_data of a button currently shown.
        """
        sender = self._sender(user)
        if isinstance(message, dict):
            chat_id, mid = int(message["chat"]["id"]), int(message["message_id"])
        else:
            chat_id, mid = self._chat_for(sender, chat), int(message)
        stored = self.find_message(chat_id, mid)
        if stored is None:
            raise ValueError(f"message {mid} not found in chat {chat_id}")
        if strict:
            rows = (stored.reply_markup or {}).get("inline_keyboard", [])
            shown = [b.get("callback_data") for row in rows for b in row]
            if data not in shown:
                raise ValueError(f"no button with callback_data {data!r}; shown: {shown}")
        query: dict[str, Any] = {
            "id": f"cbq{next(self._callback_ids)}",
            "from": sender,
            "message": self.api_message(stored),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self.callback_queries[query["id"]] = query
        update = self._push_update("callback_query", query)
        await asyncio.sleep(0)
        return update

    async def inline_query(self, user: UserRef, query: str, offset: str = "") -> dict[str, Any]:
        """Inject an inline query; answers land in ``emu.inline_answers[id]``."""
        sender = self._sender(user)
        payload = {
            "id": f"iq{next(self._callback_ids)}",
            "from": sender,
            "query": query,
            "offset": offset,
        }
        update = self._push_update("inline_query", payload)
        await asyncio.sleep(0)
        return update

    # ----------------------------------------------------------------- control: inspect
    def messages(
        self, chat_id: int, include_deleted: bool = False, since_rev: int = 0
    ) -> list[dict[str, Any]]:
        """Return chat history (user and bot) in order, with emulator extras (edited, from_bot)."""
        return [
            s.view()
            for s in self._history.get(chat_id, [])
            if (include_deleted or not s.deleted) and s.rev > since_rev
        ]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Return only the bot's messages in ``chat_id``."""
        return [m for m in self.messages(chat_id) if m["from_bot"]]

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """Return the reply keyboard currently shown in ``chat_id`` (None if removed/none)."""
        return copy.deepcopy(self._reply_keyboards.get(chat_id))

    def file_bytes(self, file_id: str) -> bytes:
        """Return the content of a file sent by the bot or a user."""
        return self.files[file_id].content

    async def wait_for_bot_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        after: int | None = None,
    ) -> dict[str, Any]:
        """Wait for a new bot message in ``chat_id`` matching ``predicate``.

        "New" means message_id > ``after``; by default ``after`` is the later of the last
        user message injected into the chat and the last message returned by this
        method for the chat, so consecutive calls walk through the bot's replies in order.
        """
        if after is None:
            after = max(self._cursor.get(chat_id, 0), self._last_user_mid.get(chat_id, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for stored in self._history.get(chat_id, []):
                if stored.from_bot and not stored.deleted and stored.message_id > after:
                    view = stored.view()
                    if predicate is None or predicate(view):
                        seen = max(self._cursor.get(chat_id, 0), view["message_id"])
                        self._cursor[chat_id] = seen
                        return view
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(chat_id, after, timeout))
            await self.wait_changed(remaining)

    def _timeout_message(self, chat_id: int, after: int, timeout: float) -> str:
        recent = []
        for m in self.messages(chat_id)[-8:]:
            who = "bot" if m["from_bot"] else "user"
            body = m.get("text") or m.get("caption") or next(
                (k for k in ("photo", "document", "contact", "location") if k in m), "?"
            )
            recent.append(f"  #{m['message_id']} {who}: {str(body)[:120]!r}")
        listing = "\n".join(recent) or "  (no messages)"
        return (
            f"no new bot message in chat {chat_id} after #{after} within {timeout}s; "
            f"recent messages:\n{listing}"
        )

    async def wait_for_callback_answer(
        self, query_id: str, timeout: float = 5.0  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait until the bot answers callback query ``query_id``; return the answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while query_id not in self.callback_answers:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"callback query {query_id} was not answered in {timeout}s")
            await self.wait_changed(remaining)
        return dict(self.callback_answers[query_id])

    # ----------------------------------------------------------------- control: faults
    def fail_next(
        self,
        method: str | None = "sendMessage",
        kind: str = "429",
        retry_after: int = 1,
        count: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` (None = any): 429/401/403/409/5xx/drop."""
        self.faults.fail_next(method, kind, retry_after, count, chat_id)

    def fail_sequence(self, method: str | None, kinds: list[str]) -> None:
        """Answer the next calls of ``method`` (None = any) with ``kinds`` in order, e.g.
        ``["502", "502", "409", "ok"]`` ("ok" lets one call through)."""
        self.faults.fail_sequence(method, kinds)

    def fault_rate(
        self,
        method: str | None = "sendMessage",
        kind: str = "429",
        probability: float = 0.05,
        retry_after: int = 1,
        seed: int | None = None,
    ) -> None:
        """Fail calls of ``method`` at random with ``probability`` (reproducible by ``seed``)."""
        self.faults.fault_rate(method, kind, probability, retry_after, seed)

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self.faults.clear()

    # ----------------------------------------------------------------- webhook
    def set_webhook(self, config: dict[str, Any] | None, drop_pending: bool) -> None:
        """Install (or remove with None) the webhook; restarts the delivery worker."""
        if drop_pending:
            self.pending.clear()
        self.webhook = config
        self.webhook_last_error = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        if config is not None:
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_worker())

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _webhook_worker(self) -> None:
        from bot.emulator.webhook import deliver_forever

        await deliver_forever(self)
