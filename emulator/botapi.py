"""Bot API method handlers: ``async def handler(emu, params) -> result``."""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from emulator.errors import ApiError, bad_request
from emulator.htmltext import validate_html
from emulator.params import Params, Upload

if TYPE_CHECKING:
    from emulator.core import Emulator

Handler = Callable[["Emulator", Params], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under a Bot API method name (case-insensitive)."""

    def register(func: Handler) -> Handler:
        HANDLERS[name.lower()] = func
        return func

    return register


# ------------------------------------------------------------------ validation helpers
def _chat_id(p: Params) -> int:
    value = p.raw("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None


def _check_text(text: str | None, parse_mode: str | None) -> str:
    if text is None or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    if parse_mode and parse_mode.upper() == "HTML":
        validate_html(text)
    return text


def _check_caption(caption: str | None, parse_mode: str | None) -> None:
    if caption is None:
        return
    if len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    if parse_mode and parse_mode.upper() == "HTML":
        validate_html(caption)


def _markup(p: Params, inline_only: bool = False) -> dict[str, Any] | None:
    markup = p.obj("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request("can't parse inline keyboard button: field \"inline_keyboard\" "
                              "must be an Array of Arrays")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("can't parse inline keyboard button: Text buttons are "
                                      "unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA:
                    raise bad_request("BUTTON_DATA_INVALID")
                if data is not None and str(data) == "":
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        for row in markup["keyboard"]:
            for button in row:
                if isinstance(button, str):
                    continue
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("can't parse keyboard button: Text is empty")
        return markup
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _reply_to(p: Params) -> tuple[int | None, bool]:
    params = p.obj("reply_parameters")
    if isinstance(params, dict) and params.get("message_id") is not None:
        return int(params["message_id"]), bool(params.get("allow_sending_without_reply"))
    return p.integer("reply_to_message_id"), p.flag("allow_sending_without_reply")


def _send(emu: Emulator, p: Params, method_name: str, content: dict[str, Any]) -> dict[str, Any]:
    reply_to, allow = _reply_to(p)
    return emu.bot_send(
        method_name,
        _chat_id(p),
        content,
        parse_mode=p.text("parse_mode"),
        reply_markup=_markup(p),
        reply_to=reply_to,
        allow_without_reply=allow,
    )


def _file_input(emu: Emulator, p: Params, field: str, kind: str, default_mime: str | None):
    """Resolve an uploaded part or existing file_id into a FileRecord."""
    value = p.file(field)
    if value is None:
        raise bad_request(f"there is no {field} in the request")
    if isinstance(value, Upload):
        if not value.content:
            raise bad_request("file must be non-empty")
        mime = value.content_type
        if not mime or mime == "application/octet-stream":
            mime = default_mime or mime
        return emu.new_file(value.content, kind, value.filename, mime)
    if value in emu.files:
        return emu.files[value]
    raise bad_request("wrong file identifier/HTTP URL specified")


# ------------------------------------------------------------------ methods
@method("getMe")
async def get_me(emu: Emulator, p: Params) -> Any:
    """Return the bot's User."""
    return copy.deepcopy(emu.bot_user)


@method("logOut")
async def log_out(emu: Emulator, p: Params) -> Any:
    """Accept logOut."""
    return True


@method("getUpdates")
async def get_updates(emu: Emulator, p: Params) -> Any:
    """Long poll for updates with standard offset/limit/timeout semantics."""
    if emu.webhook is not None:
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
    offset = p.integer("offset")
    limit = max(1, min(100, p.integer("limit", 100) or 100))
    timeout = max(0, p.integer("timeout", 0) or 0)
    updates = emu.take_updates(offset, limit)
    loop_time = time.monotonic()
    deadline = loop_time + timeout
    while not updates and not emu._closing:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await emu.wait_changed(remaining)
        updates = emu.take_updates(None, limit)
    return updates


@method("sendMessage")
async def send_message(emu: Emulator, p: Params) -> Any:
    """Send a text message."""
    text = _check_text(p.text("text"), p.text("parse_mode"))
    return _send(emu, p, "sendMessage", {"text": text})


@method("sendPhoto")
async def send_photo(emu: Emulator, p: Params) -> Any:
    """Send a photo (upload or file_id)."""
    caption = p.text("caption")
    _check_caption(caption, p.text("parse_mode"))
    _chat_id(p)
    record = _file_input(emu, p, "photo", "photos", "image/jpeg")
    content: dict[str, Any] = {"photo": emu.photo_sizes(record)}
    if caption:
        content["caption"] = caption
    return _send(emu, p, "sendPhoto", content)


@method("sendDocument")
async def send_document(emu: Emulator, p: Params) -> Any:
    """Send a document (upload or file_id)."""
    caption = p.text("caption")
    _check_caption(caption, p.text("parse_mode"))
    _chat_id(p)
    record = _file_input(emu, p, "document", "documents", None)
    content: dict[str, Any] = {"document": emu.document_json(record)}
    if caption:
        content["caption"] = caption
    return _send(emu, p, "sendDocument", content)


@method("sendLocation")
async def send_location(emu: Emulator, p: Params) -> Any:
    """Send a location."""
    lat, lon = p.number("latitude"), p.number("longitude")
    if lat is None or lon is None:
        raise bad_request("latitude and longitude are required")
    return _send(emu, p, "sendLocation", {"location": {"latitude": lat, "longitude": lon}})


def _editable(emu: Emulator, p: Params):
    if p.raw("inline_message_id"):
        raise bad_request("inline messages are not supported by the emulator")
    chat_id = _chat_id(p)
    emu.chat(chat_id)
    mid = p.integer("message_id")
    stored = emu.find_message(chat_id, mid) if mid is not None else None
    if stored is None:
        raise bad_request("message to edit not found")
    if not stored.from_bot:
        raise bad_request("message can't be edited")
    return stored


def _apply_edit(emu: Emulator, stored: Any, changes: dict[str, Any], markup: Any, mode: Any) -> Any:
    same_content = all(stored.data.get(k) == v for k, v in changes.items())
    if same_content and markup == stored.reply_markup and mode == stored.parse_mode:
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    previous = {k: stored.data.get(k) for k in ("text", "caption") if k in stored.data}
    previous["reply_markup"] = copy.deepcopy(stored.reply_markup)
    previous["edit_date"] = stored.data.get("edit_date")
    stored.edits.append(previous)
    stored.data.update(changes)
    stored.data["edit_date"] = int(time.time())
    stored.reply_markup = copy.deepcopy(markup)
    stored.parse_mode = mode
    emu.touch(stored)
    return emu.api_message(stored)


@method("editMessageText")
async def edit_message_text(emu: Emulator, p: Params) -> Any:
    """Edit the text (and optionally inline markup) of a bot message."""
    mode = p.text("parse_mode")
    text = _check_text(p.text("text"), mode)
    stored = _editable(emu, p)
    if "text" not in stored.data:
        raise bad_request("there is no text in the message to edit")
    return _apply_edit(emu, stored, {"text": text}, _markup(p, inline_only=True), mode)


@method("editMessageCaption")
async def edit_message_caption(emu: Emulator, p: Params) -> Any:
    """Edit a caption."""
    mode = p.text("parse_mode")
    caption = p.text("caption") or ""
    _check_caption(caption, mode)
    stored = _editable(emu, p)
    return _apply_edit(emu, stored, {"caption": caption}, _markup(p, inline_only=True), mode)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: Emulator, p: Params) -> Any:
    """Replace (or remove) the inline keyboard of a bot message."""
    stored = _editable(emu, p)
    return _apply_edit(emu, stored, {}, _markup(p, inline_only=True), stored.parse_mode)


@method("deleteMessage")
async def delete_message(emu: Emulator, p: Params) -> Any:
    """Delete a message."""
    chat_id = _chat_id(p)
    emu.chat(chat_id)
    stored = emu.find_message(chat_id, p.integer("message_id") or 0)
    if stored is None:
        raise bad_request("message to delete not found")
    stored.deleted = True
    emu.touch(stored)
    return True


@method("answerCallbackQuery")
async def answer_callback_query(emu: Emulator, p: Params) -> Any:
    """Record the answer to a callback query."""
    query_id = p.text("callback_query_id")
    if query_id not in emu.callback_queries or query_id in emu.callback_answers:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = p.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    emu.callback_answers[query_id] = {
        "text": text,
        "show_alert": p.flag("show_alert"),
        "url": p.text("url"),
        "cache_time": p.integer("cache_time"),
    }
    emu.touch_state()
    return True


@method("answerInlineQuery")
async def answer_inline_query(emu: Emulator, p: Params) -> Any:
    """Store the results of an inline query."""
    query_id = p.text("inline_query_id")
    if not query_id:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    results = p.obj("results")
    if not isinstance(results, list):
        raise bad_request("can't parse inline query results JSON object")
    emu.inline_answers[query_id] = {
        "results": results,
        "cache_time": p.integer("cache_time"),
        "is_personal": p.flag("is_personal"),
        "next_offset": p.text("next_offset"),
    }
    emu.touch_state()
    return True


@method("getFile")
async def get_file(emu: Emulator, p: Params) -> Any:
    """Return File metadata with a download path."""
    record = emu.files.get(p.text("file_id") or "")
    if record is None:
        raise bad_request("invalid file_id")
    return record.as_file()


def _commands_key(p: Params) -> str:
    scope = p.obj("scope") or {"type": "default"}
    scope_key = ",".join(f"{k}={scope[k]}" for k in sorted(scope))
    return f"{scope_key}|{p.text('language_code') or ''}"


@method("setMyCommands")
async def set_my_commands(emu: Emulator, p: Params) -> Any:
    """Store the command list for a scope/language."""
    commands = p.obj("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    for cmd in commands:
        name = str(cmd.get("command", ""))
        if not name or len(name) > 32 or not cmd.get("description"):
            raise bad_request("BOT_COMMAND_INVALID")
    emu.commands[_commands_key(p)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(emu: Emulator, p: Params) -> Any:
    """Return the command list for a scope/language."""
    return copy.deepcopy(emu.commands.get(_commands_key(p), []))


@method("deleteMyCommands")
async def delete_my_commands(emu: Emulator, p: Params) -> Any:
    """Delete the command list for a scope/language."""
    emu.commands.pop(_commands_key(p), None)
    return True


@method("setWebhook")
async def set_webhook(emu: Emulator, p: Params) -> Any:
    """Deliver future updates by POSTing them to ``url``."""
    url = p.text("url") or ""
    if not url:
        emu.set_webhook(None, p.flag("drop_pending_updates"))
        return True
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.text("secret_token")
    emu.set_webhook(
        {
            "url": url,
            "secret_token": secret,
            "allowed_updates": p.obj("allowed_updates"),
            "max_connections": p.integer("max_connections", 40),
        },
        p.flag("drop_pending_updates"),
    )
    return True


@method("deleteWebhook")
async def delete_webhook(emu: Emulator, p: Params) -> Any:
    """Remove the webhook (updates go back to getUpdates)."""
    emu.set_webhook(None, p.flag("drop_pending_updates"))
    return True


@method("getWebhookInfo")
async def get_webhook_info(emu: Emulator, p: Params) -> Any:
    """Describe the webhook state."""
    info: dict[str, Any] = {
        "url": (emu.webhook or {}).get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(emu.pending),
    }
    if emu.webhook is not None:
        info["max_connections"] = emu.webhook.get("max_connections") or 40
        if emu.webhook.get("allowed_updates"):
            info["allowed_updates"] = emu.webhook["allowed_updates"]
    if emu.webhook_last_error is not None:
        info["last_error_date"], info["last_error_message"] = emu.webhook_last_error
    return info


@method("sendChatAction")
async def send_chat_action(emu: Emulator, p: Params) -> Any:
    """Record a chat action such as typing."""
    chat_id = _chat_id(p)
    emu.chat(chat_id)
    if chat_id in emu.blocked:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    emu.chat_actions.append((chat_id, p.text("action") or ""))
    return True


@method("getChat")
async def get_chat(emu: Emulator, p: Params) -> Any:
    """Return minimal ChatFullInfo."""
    chat = dict(emu.chat(_chat_id(p)))
    chat.update(
        {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
    )
    return chat


async def _accept(emu: Emulator, p: Params) -> Any:
    return True


for _name in (
    "setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton",
    "setMyDefaultAdministratorRights",
):
    HANDLERS[_name.lower()] = _accept
