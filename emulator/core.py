"""The Emulator: chat state, update queue and the Python control API used by tests."""

from __future__ import annotations

import asyncio
import copy
import logging
import mimetypes
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, web

from emulator.state import ChatRef, ChatState, MessagePredicate, UserRef, ref_id, utf16_len

log = logging.getLogger(__name__)


class Emulator(ChatState):
    """In-process Telegram Bot API emulator over real HTTP, with a Python control API.

    Tokens: only registered tokens are accepted (``tokens=[...]``; default one token
    ``"<bot_id>:TEST-emulator"``); every registered token speaks for the same bot.
    """

    # ----------------------------------------------------------------- lifecycle
    @property
    def token(self) -> str:
        """Return the first registered (valid) token."""
        return self.tokens[0]

    def build_app(self) -> web.Application:
        """Return an aiohttp app with Bot API, file download and /_emu/ control routes."""
        from emulator.server import add_routes

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
        self.members.setdefault(ref_id(chat), set()).add(ref_id(user))

    def block(self, chat_id: int) -> None:
        """Simulate the user blocking the bot: sends to ``chat_id`` answer 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo :meth:`block`."""
        self.blocked.discard(chat_id)

    def _sender(self, user: UserRef) -> dict[str, Any]:
        uid = ref_id(user)
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
        chat_id = ref_id(chat)
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

    def bot_message_count(self, chat_id: int) -> int:
        """How many (undeleted) messages the bot has in ``chat_id``, without copying any."""
        return sum(1 for s in self._history.get(chat_id, []) if s.from_bot and not s.deleted)

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
        from emulator.webhook import deliver_forever

        await deliver_forever(self)
