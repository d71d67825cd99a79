"""`censusbot demo`: emulator, bot and web chat on one machine, with no token."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bot.config import PROJECT_ROOT, Settings
from bot.db.engine import create_engine, create_sessionmaker
from bot.util.clock import utc_now
from demo.personas import PERSONAS
from demo.seed import seed
from migrations import runner as migrate

log = logging.getLogger(__name__)
DEMO_ORG = PROJECT_ROOT / "data" / "orgs" / "zhengzhou.yaml"


class Demo:
    """The running demo: start() brings everything up, stop() takes it down."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8088,
                 database_url: str | None = None, org_file: Path = DEMO_ORG) -> None:
        self.host = host
        self.port = port
        self.database_url = database_url or "sqlite+aiosqlite:///censusbot-demo.sqlite3"
        self.org_file = org_file
        self.url = ""
        self._emu: Any = None
        self._app: Any = None

    async def start(self) -> str:
        """Start the emulator with the web chat, seed the data, start the bot; return the URL."""
        from bot.telegram.app import BotApp, build_dispatcher
        from bot.telegram.factory import create_bot
        from demo.webchat import setup_webchat
        from emulator import Emulator

        engine = create_engine(self.database_url)
        try:
            await migrate.upgrade(engine)
            await seed(create_sessionmaker(engine), self.org_file, utc_now())
        finally:
            await engine.dispose()
        personas = [p.as_webchat() for p in PERSONAS]
        self._emu = Emulator(bot_username="census_demo_bot", bot_first_name="普查助手 Census Bot")
        base = await self._emu.start(
            host=self.host, port=self.port,
            configure=lambda app: setup_webchat(app, self._emu, personas),
        )
        settings = Settings.model_validate({
            "BOT_TOKEN": self._emu.token, "TELEGRAM_API_BASE": base,
            "DATABASE_URL": self.database_url, "CENSUSBOT_POLLING_TIMEOUT": 10,
            "CENSUSBOT_SECRET": "demo-only-secret-not-for-production",
            # No quiet hours in the demo, so that notices show at once whatever the time.
            "CENSUSBOT_QUIET_START": "00:00", "CENSUSBOT_QUIET_END": "00:00",
        })
        bot = create_bot(settings)
        self._app = BotApp(settings, bot, build_dispatcher(settings))
        try:
            await self._app.start()
        except BaseException:
            await bot.session.close()
            await self._emu.stop()
            raise
        self.url = f"{base}/"
        return self.url

    async def stop(self) -> None:
        """Stop the bot, then the emulator."""
        if self._app is not None:
            await self._app.stop()
        if self._emu is not None:
            await self._emu.stop()


async def run_demo(host: str, port: int, database_url: str | None) -> int:
    """Run the demo until Ctrl-C."""
    demo = Demo(host=host, port=port, database_url=database_url)
    url = await demo.start()
    sys.stdout.write(
        f"\nCensus bot demo is running. Open {url} in a browser.\n"
        "污染源普查助手演示已启动。Demo data is synthetic (演示数据为合成数据).\n"
        "Press Ctrl-C to stop.\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await demo.stop()
    return 0
