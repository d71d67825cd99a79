"""Web chat page for the demo: a Telegram-like chat backed by the emulator's control API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import Emulator
from emulator.control import add_control_routes

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
SYNTHETIC_NOTICE = "演示数据为合成数据 / Demo data is synthetic"


def _check_personas(personas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate persona dicts: each needs key, label and user.id."""
    keys = set()
    for persona in personas:
        user = persona.get("user")
        if not persona.get("key") or not persona.get("label") or not isinstance(user, dict):
            raise ValueError(f"persona needs key, label and user: {persona!r}")
        if "id" not in user:
            raise ValueError(f"persona {persona['key']!r}: user.id is required")
        if persona["key"] in keys:
            raise ValueError(f"duplicate persona key {persona['key']!r}")
        keys.add(persona["key"])
    return personas


def setup_webchat(
    app: web.Application, emulator: Emulator, personas: list[dict[str, Any]]
) -> None:
    """Add the page (``/``, ``/static/``, ``/personas.json``) to an app that serves ``/_emu/``."""
    checked = _check_personas(personas)
    for persona in checked:
        user = persona["user"]
        emulator.user(
            int(user["id"]),
            first_name=user.get("first_name", persona["label"]),
            language_code=user.get("language_code"),
            username=user.get("username"),
        )

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def personas_json(request: web.Request) -> web.Response:
        return web.json_response(
            {"personas": checked, "bot": emulator.bot_user, "notice": SYNTHETIC_NOTICE}
        )

    app.router.add_get("/", index)
    app.router.add_get("/personas.json", personas_json)
    app.router.add_static("/static/", STATIC_DIR)


def create_webchat_app(emulator: Emulator, personas: list[dict[str, Any]]) -> web.Application:
    """Return a standalone app: chat page plus the ``/_emu/`` control API of ``emulator``."""
    app = web.Application(client_max_size=60 * 1024 * 1024)
    add_control_routes(app, emulator)
    setup_webchat(app, emulator, personas)
    return app


async def start_webchat(
    emulator: Emulator,
    personas: list[dict[str, Any]],
    host: str = "127.0.0.1",
    port: int = 8080,
) -> web.AppRunner:
    """Serve the web chat on its own port (same event loop); call ``runner.cleanup()`` to stop."""
    runner = web.AppRunner(create_webchat_app(emulator, personas), shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web chat on http://%s:%s/", host, runner.addresses[0][1])
    return runner
