"""aiohttp routes: Bot API (``/bot{token}/{method}``), file downloads and control API."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.botapi import HANDLERS
from emulator.errors import ApiError
from emulator.faults import DropConnection
from emulator.params import read_params
from emulator.records import RequestRecord

if TYPE_CHECKING:
    from emulator.core import Emulator

log = logging.getLogger(__name__)
EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator")


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _chat_of(params: Any) -> int | None:
    try:
        value = params.raw("chat_id")
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


async def _drop(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone


async def handle_bot_api(request: web.Request) -> web.StreamResponse:
    """Dispatch one Bot API request and answer like Telegram."""
    received = time.monotonic()
    emu = request.app[EMULATOR_KEY]
    token, name = request.match_info["token"], request.match_info["method"]
    chat_id: int | None = None
    if token not in emu.tokens:
        status, body = 401, ApiError(401, "Unauthorized").payload()
    elif name.lower() not in HANDLERS:
        status, body = 404, ApiError(404, "Not Found: method not found").payload()
    else:
        try:
            params = await read_params(request)
            chat_id = _chat_of(params)
            fault = emu.faults.check(name, chat_id)
            if isinstance(fault, DropConnection):
                emu.request_log.append(RequestRecord(name, 0, time.monotonic(), chat_id,
                                                     received))
                return await _drop(request)
            if fault is not None:
                raise fault
            result = await HANDLERS[name.lower()](emu, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as err:
            status, body = err.code, err.payload()
    emu.request_log.append(RequestRecord(name, status, time.monotonic(), chat_id, received))
    if status != 200:
        log.debug("%s -> %s %s", name, status, body.get("description"))
    return _json(status, body)


async def handle_file(request: web.Request) -> web.StreamResponse:
    """Serve ``/file/bot{token}/{path}`` downloads."""
    emu = request.app[EMULATOR_KEY]
    if request.match_info["token"] not in emu.tokens:
        return _json(401, ApiError(401, "Unauthorized").payload())
    path = request.match_info["path"]
    for record in emu.files.values():
        if record.file_path == path:
            return web.Response(body=record.content, content_type=record.mime_type)
    return _json(404, ApiError(404, "Not Found: file not found").payload())


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Add Bot API, file and ``/_emu/`` control routes for ``emu`` to ``app``."""
    from emulator.control import add_control_routes

    app[EMULATOR_KEY] = emu
    app.router.add_route("*", "/bot{token}/{method}", handle_bot_api)
    app.router.add_get("/file/bot{token}/{path:.+}", handle_file)
    add_control_routes(app, emu)
