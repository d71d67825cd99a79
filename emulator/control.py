"""HTTP control API under ``/_emu/`` (used by the web chat page; JSON)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from emulator.core import Emulator

MAX_WAIT = 30.0


def _error(text: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": text}, status=status)


def _snapshot(emu: Emulator, chat_id: int, after: int | None, since: int | None) -> dict[str, Any]:
    if since is not None:
        messages = emu.messages(chat_id, include_deleted=True, since_rev=since)
    else:
        messages = [m for m in emu.messages(chat_id) if m["message_id"] > (after or 0)]
    return {
        "ok": True,
        "rev": emu.rev,
        "messages": messages,
        "keyboard": emu.reply_keyboard(chat_id),
    }


def _int_query(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    return int(value) if value not in (None, "") else None


async def _inject(emu: Emulator, chat_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Turn a control request into an injected update."""
    user = body.get("user")
    if not isinstance(user, dict) or "id" not in user:
        raise ValueError("user {id, first_name, ...} is required")
    user = {**user, "id": int(user["id"])}
    chat = None if chat_id == user["id"] else chat_id
    if chat is not None and chat_id not in emu.chats:
        raise ValueError(f"unknown chat {chat_id}")
    if "callback" in body:
        cb = body["callback"]
        return await emu.click(user, int(cb["message_id"]), str(cb["data"]), chat=chat)
    if "contact" in body or "phone" in body:
        contact = body.get("contact") or {"phone_number": body["phone"]}
        return await emu.send_contact(user, str(contact["phone_number"]), chat=chat)
    if "location" in body:
        loc = body["location"]
        return await emu.send_location(
            user, float(loc["latitude"]), float(loc["longitude"]), chat=chat
        )
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty")
    return await emu.send_text(user, text, chat=chat)


def add_control_routes(app: web.Application, emu: Emulator, prefix: str = "/_emu") -> None:
    """Add the JSON control endpoints for ``emu`` to ``app``."""

    async def bot_info(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "bot": emu.bot_user})

    async def messages(request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["chat_id"])
            after, since = _int_query(request, "after"), _int_query(request, "since")
            wait = min(MAX_WAIT, float(request.query.get("wait", "0") or 0))
        except ValueError as exc:
            return _error(str(exc))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            snap = _snapshot(emu, chat_id, after, since)
            remaining = deadline - loop.time()
            if snap["messages"] or remaining <= 0 or emu._closing:
                return web.json_response(snap)
            await emu.wait_changed(remaining)

    async def send(request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["chat_id"])
            if request.content_type.startswith("multipart/"):
                update = await _upload(request, chat_id)
            else:
                update = await _inject(emu, chat_id, await request.json())
        except (ValueError, KeyError, TypeError) as exc:
            return _error(str(exc))
        return web.json_response({"ok": True, "update": update})

    async def _upload(request: web.Request, chat_id: int) -> dict[str, Any]:
        form = await request.post()
        user = json.loads(str(form["user"]))
        user["id"] = int(user["id"])
        part = form.get("file")
        if not isinstance(part, web.FileField):
            raise ValueError("file part is required")
        content = part.file.read()
        caption = str(form.get("caption") or "") or None
        chat = None if chat_id == user["id"] else chat_id
        kind = str(form.get("kind") or "")
        if kind == "photo" or (not kind and (part.content_type or "").startswith("image/")):
            return await emu.send_photo(user, content, caption=caption, chat=chat)
        return await emu.send_document(
            user, part.filename or "file", content, part.content_type, caption, chat=chat
        )

    async def file(request: web.Request) -> web.StreamResponse:
        record = emu.files.get(request.match_info["file_id"])
        if record is None:
            return _error("file not found", 404)
        headers = {}
        if record.file_name:
            headers["Content-Disposition"] = f'inline; filename="{record.file_name}"'
        return web.Response(body=record.content, content_type=record.mime_type, headers=headers)

    async def faults(request: web.Request) -> web.Response:
        """POST {method, kind, count} or {method, sequence: [kind|"ok", ...]}; DELETE clears."""
        if request.method == "DELETE":
            emu.clear_faults()
            return web.json_response({"ok": True})
        try:
            body = await request.json()
            method = body.get("method")
            if "sequence" in body:
                emu.fail_sequence(method, [str(k) for k in body["sequence"]])
            else:
                emu.fail_next(method, str(body["kind"]), int(body.get("retry_after", 1)),
                              int(body.get("count", 1)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error(str(exc))
        return web.json_response({"ok": True})

    async def callback_answer(request: web.Request) -> web.Response:
        """The bot's answer to a button click (its pop-up text), waiting up to `wait` s."""
        query_id = request.match_info["query_id"]
        try:
            wait = min(MAX_WAIT, float(request.query.get("wait", "0") or 0))
        except ValueError as exc:
            return _error(str(exc))
        if query_id not in emu.callback_queries:
            return _error("unknown callback query", 404)
        if query_id not in emu.callback_answers and wait > 0:
            try:
                await emu.wait_for_callback_answer(query_id, timeout=wait)
            except TimeoutError:
                pass
        return web.json_response({"ok": True, "answer": emu.callback_answers.get(query_id)})

    app.router.add_get(f"{prefix}/bot", bot_info)
    app.router.add_route("POST", f"{prefix}/faults", faults)
    app.router.add_route("DELETE", f"{prefix}/faults", faults)
    app.router.add_get(f"{prefix}/callback_answers/{{query_id}}", callback_answer)
    app.router.add_get(f"{prefix}/chats/{{chat_id}}/messages", messages)
    app.router.add_post(f"{prefix}/chats/{{chat_id}}/send", send)
    app.router.add_get(f"{prefix}/file/{{file_id}}", file)
