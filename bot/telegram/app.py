"""Wire the dispatcher: settings, database, translations, middlewares, routers, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers
from bot.config import Settings
from bot.db.engine import create_engine, create_sessionmaker
from bot.fsm_storage import SqlStorage
from bot.i18n import Catalogs
from bot.telegram.claims import claims_for
from bot.telegram.health import DatabaseProbe, HealthCheck, HealthServer
from bot.telegram.menu import publish_command_menu
from bot.telegram.middlewares import ContextMiddleware
from bot.telegram.processor import UpdateProcessor, retry_quietly
from bot.telegram.routing import SkippingDispatcher, gate_routers, inline_sync_filters
from bot.telegram.staff_reads import StaffReads
from bot.util.clock import utc_now
from bot.util.resilience import Backoff, ReceiveState, describe, supervise
from migrations import runner as migrate

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class Component(Protocol):
    """Something started with the bot and stopped with it (outbox sender, scheduler...)."""

    async def start(self) -> None:
        """Start background work."""

    async def stop(self) -> None:
        """Stop background work, finishing what is in hand."""


ComponentFactory = Callable[[Dispatcher, Bot], Awaitable[Component | None]]
COMPONENT_FACTORIES: list[ComponentFactory] = []  # extra components, after the built-in ones


def component_factories() -> list[ComponentFactory]:
    """The outbox sender and the scheduler, then any extra registered components."""
    from bot.telegram.components import scheduler_component, sender_component

    return [sender_component, scheduler_component, *COMPONENT_FACTORIES]


def build_dispatcher(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    clock: Clock = utc_now,
    storage: BaseStorage | None = None,
    components: bool = True,
) -> Dispatcher:
    """A dispatcher with every router and the shared resources as workflow data."""
    engine = engine or create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    if storage is None:
        if settings.redis_url:
            from aiogram.fsm.storage.redis import RedisStorage

            from bot.telegram.state_guard import GuardedStorage

            storage = GuardedStorage(RedisStorage.from_url(settings.redis_url),
                                     attempts=settings.redis_attempts)
        else:
            storage = SqlStorage(sessionmaker)
    dp = SkippingDispatcher(storage=storage)
    dp["settings"] = settings
    dp["engine"] = engine
    dp["sessionmaker"] = sessionmaker
    dp["read_staff"] = StaffReads(sessionmaker).read  # /verify's record reads, batched
    dp["catalogs"] = Catalogs()
    dp["clock"] = clock
    dp["with_components"] = components
    dp.update.outer_middleware(ContextMiddleware())
    _register_outage_replies(dp)  # a Redis outage is answered at once (send it again later)
    dp.errors.register(retry_quietly)  # any other error: retried quietly until the last attempt
    dp.include_routers(*handlers.routers())
    gate_routers(dp)  # a router none of whose handlers could take a message is skipped at once
    inline_sync_filters(dp)  # the routers' plain filters run on the loop, not in a thread
    dp.startup.register(_on_startup)
    dp.shutdown.register(_on_shutdown)
    return dp


def _register_outage_replies(dp: Dispatcher) -> None:
    """A Redis outage gets its own clear reply (before the catch-all errors router)."""
    from aiogram.filters import ExceptionTypeFilter

    from bot.telegram.state_guard import StateStoreUnavailable, on_state_unavailable

    dp.errors.register(on_state_unavailable, ExceptionTypeFilter(StateStoreUnavailable))


async def _on_startup(dispatcher: Dispatcher, bot: Bot, settings: Settings, engine: AsyncEngine,
                      sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    await migrate.upgrade(engine)
    me = await bot.get_me()
    dispatcher["bot_username"] = me.username or ""
    dispatcher["processor"] = UpdateProcessor(
        dispatcher, bot, sessionmaker, workers=settings.update_workers, clock=clock,
        claims=claims_for(engine), max_attempts=settings.update_attempts,
        timeout=settings.update_timeout or None)
    await publish_command_menu(bot, dispatcher["catalogs"])
    started: list[Component] = []
    if dispatcher["with_components"]:
        for factory in component_factories():
            component = await factory(dispatcher, bot)
            if component is not None:
                await component.start()
                started.append(component)
    dispatcher["components"] = started
    log.info("bot @%s started", me.username)


async def _on_shutdown(dispatcher: Dispatcher, engine: AsyncEngine) -> None:
    processor: UpdateProcessor | None = dispatcher.workflow_data.get("processor")
    if processor is not None:
        await processor.stop()
    for component in reversed(dispatcher.workflow_data.get("components", [])):
        await component.stop()
    await dispatcher.storage.close()
    await engine.dispose()


async def emit_startup(dp: Dispatcher, bot: Bot) -> None:
    """Run the start-up hooks with the workflow data, as aiogram's own polling does."""
    await dp.emit_startup(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)


async def emit_shutdown(dp: Dispatcher, bot: Bot) -> None:
    """Run the shutdown hooks with the workflow data."""
    await dp.emit_shutdown(bot=bot, dispatcher=dp, bots=[bot], **dp.workflow_data)


class BotApp:
    """A running bot: start-up, polling (or webhook) and an orderly stop."""

    def __init__(self, settings: Settings, bot: Bot, dp: Dispatcher) -> None:
        self.settings = settings
        self.bot = bot
        self.dp = dp
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._runner: Any = None
        self.receive_state = ReceiveState()
        self.health = HealthCheck(
            self.receive_state,
            DatabaseProbe(settings.database_url, timeout=settings.health_db_timeout),
            threshold=settings.health_threshold, polling_timeout=settings.polling_timeout,
            faq_worker=lambda: self.dp.workflow_data.get("faq_worker"))
        self._health_server: HealthServer | None = None
        self._keeper: asyncio.Task[Any] | None = None
        self._watchdog: asyncio.Task[Any] | None = None

    @property
    def processor(self) -> UpdateProcessor:
        """The inbox processor (available after start)."""
        processor: UpdateProcessor = self.dp["processor"]
        return processor

    def _backoff(self) -> Backoff:
        return Backoff(self.settings.retry_initial, self.settings.retry_max)

    @property
    def health_url(self) -> str:
        """The /healthz URL in polling mode ("" when CENSUSBOT_HEALTH_PORT is unset)."""
        return self._health_server.url if self._health_server is not None else ""

    async def start(self) -> None:
        """Run start-up hooks, recover pending updates and begin (supervised) long polling."""
        from bot.telegram.polling import poll

        s = self.settings
        await self.bot.delete_webhook(drop_pending_updates=False)
        await emit_startup(self.dp, self.bot)
        await self.processor.recover()
        self.processor.start_sweeper(retention_days=s.inbox_retention_days)
        self.receive_state.mode = "polling"
        self.receive_state.started = time.monotonic()
        allowed = self.dp.resolve_used_update_types()

        def polling() -> Awaitable[None]:
            return poll(self.bot, self.processor, self._stop, timeout=s.polling_timeout,
                        allowed_updates=allowed, state=self.receive_state,
                        backoff=self._backoff(), remind_every=s.error_log_interval)

        self._task = asyncio.create_task(supervise(
            "polling", polling, self._stop, self.receive_state, self._backoff()))
        self.receive_state.loop_alive = lambda: self._task is not None and not self._task.done()
        if s.health_port is not None:
            self._health_server = HealthServer(self.health, s.health_host, s.health_port)
            await self._health_server.start()
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        from bot.telegram.watchdog import SystemdNotifier, run_watchdog

        notifier = SystemdNotifier()
        if notifier.enabled:
            self._watchdog = asyncio.create_task(run_watchdog(notifier, self.health, self._stop))

    async def start_webhook(self) -> str:
        """Serve the webhook (secret token checked), register it with Telegram; return its URL."""
        from aiohttp import web

        from bot.telegram.webhook import create_webhook_app, keep_webhook

        s = self.settings
        secret = s.webhook_secret.get_secret_value()
        if not secret:
            raise ValueError("webhook mode needs WEBHOOK_SECRET")
        await emit_startup(self.dp, self.bot)
        await self.processor.recover()
        self.processor.start_sweeper(retention_days=s.inbox_retention_days)
        self.receive_state.mode = "webhook"
        self._runner = web.AppRunner(
            create_webhook_app(self.processor, path=s.webhook_path, secret=secret,
                               state=self.receive_state, health=self.health,
                               remind_every=s.error_log_interval),
            shutdown_timeout=5.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.webhook_host, s.webhook_port)
        await site.start()
        port = self._runner.addresses[0][1]
        url = s.webhook_url or f"http://{s.webhook_host}:{port}{s.webhook_path}"
        allowed = self.dp.resolve_used_update_types()
        try:  # registered now when Telegram answers; otherwise the keeper keeps trying
            await self.bot.set_webhook(url, secret_token=secret, allowed_updates=allowed)
            registered = True
        except Exception as exc:
            log.warning("could not register the webhook yet (%s); retrying", describe(exc))
            registered = False
        self._keeper = asyncio.create_task(keep_webhook(
            self.bot, self._stop, self.receive_state, url=url, secret=secret,
            allowed_updates=allowed, backoff=self._backoff(), registered=registered,
            check_every=s.webhook_check_interval, remind_every=s.error_log_interval))
        log.info("webhook listening on %s:%s%s", s.webhook_host, port, s.webhook_path)
        self._start_watchdog()
        return url

    async def stop(self) -> None:
        """Stop polling or the webhook, let handlers finish, stop components, close the session."""
        self._stop.set()
        if self._task is not None:
            await self._task
        for task in (self._keeper, self._watchdog):
            if task is not None:
                await task
        if self._health_server is not None:
            await self._health_server.stop()
        await self.health.probe.close()
        if self._runner is not None:
            # Never deleteWebhook here: the registration is shared by every worker behind the
            # load balancer, and removing it would stop Telegram's delivery to all of them.
            await self._runner.cleanup()
        await emit_shutdown(self.dp, self.bot)
        await self.bot.session.close()

    async def wait(self) -> None:
        """Block until polling ends."""
        if self._task is not None:
            await self._task
