"""Outages through the emulator: Telegram failing, the database locked or refusing, Redis down.

Each test asserts what a user and an operator would check: every message sent during the
outage is answered after it, /healthz says 503 during it and 200 after, and the log tells the
story once per change rather than once per retry.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import INBOX_DONE, InboxUpdate
from bot.telegram.app import BotApp, build_dispatcher
from bot.telegram.factory import create_bot
from emulator import Emulator
from tests.e2e.harness import Clock, settings_for, start_bot

# Short backoff and health thresholds: the same code paths, so that tests take seconds.
FAST: dict[str, Any] = {
    "CENSUSBOT_RETRY_INITIAL": 0.05,
    "CENSUSBOT_RETRY_MAX": 0.2,
    "CENSUSBOT_HEALTH_THRESHOLD": 0.5,
    "CENSUSBOT_HEALTH_DB_TIMEOUT": 1.0,
    "CENSUSBOT_HEALTH_PORT": 0,
}
HELP = "What you can do"


async def health(url: str) -> tuple[int, dict[str, Any]]:
    """GET /healthz: (status, JSON body)."""
    async with ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def wait_health(url: str, status: int, timeout: float = 15.0,  # noqa: ASYNC109
                      ) -> dict[str, Any]:
    """Poll /healthz until it answers `status`; return the body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: list[tuple[int, dict[str, Any]]] = []
    while loop.time() < deadline:
        got, body = await health(url)
        if got == status:
            return body
        seen.append((got, body))
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status} in {timeout}s; last: {seen[-1:]}")


def people(emu: Emulator, first_id: int, count: int) -> list[dict[str, Any]]:
    """`count` English-speaking users."""
    return [emu.user(id=first_id + i, first_name=f"P{i}", language_code="en")
            for i in range(count)]


async def all_answered(emu: Emulator, users: list[dict[str, Any]], timeout: float) -> None:  # noqa: ASYNC109
    """Every user got the /help answer."""
    for user in users:
        reply = await emu.wait_for_bot_message(user["id"], timeout=timeout)
        assert HELP in reply["text"]


async def inbox_done(database_url: str) -> dict[int, str]:
    """update_id -> state of every stored update."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as s:
            rows = (await s.execute(select(InboxUpdate.update_id, InboxUpdate.state))).all()
    finally:
        await engine.dispose()
    return {int(u): str(st) for u, st in rows}


def supervision_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    """Log lines of the receiving supervisor about `what`."""
    return [r.getMessage() for r in caplog.records
            if r.name == "bot.util.resilience" and r.getMessage().startswith(what)]


async def test_get_updates_502_then_409_then_normal(
    emu: Emulator, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram")
    app = await start_bot(emu, sqlite_url, **FAST)
    try:
        first, *others = people(emu, 7100, 6)
        await emu.send_text(first, "/help")
        await all_answered(emu, [first], timeout=10)
        body = await wait_health(app.health_url, 200)
        assert body["receiving"] and body["database_reachable"] and body["mode"] == "polling"
        assert body["last_update_at"] and body["last_get_updates_at"]
        # the bot runs its FAQ embedding worker: reported (it may still be starting), not absent
        assert isinstance(body["faq_worker_alive"], bool) and body["outbox_depth"] == 0

        emu.fail_sequence("getUpdates", ["502"] * 15 + ["409"] * 15)
        while emu.faults.sequence_left("getUpdates") == 30:  # noqa: ASYNC110 - the poll in hand
            await asyncio.sleep(0.01)
        for user in others:  # written while Telegram fails the bot
            await emu.send_text(user, "/help")
        during = await wait_health(app.health_url, 503)
        assert during["receiving"] is False and during["database_reachable"] is True
        assert during["failing"]["fetch"]["kind"] in ("server_error", "conflict")
        assert emu.faults.sequence_left("getUpdates") > 0
        assert not any(emu.bot_messages(u["id"]) for u in others)

        await all_answered(emu, others, timeout=30)
        assert emu.faults.sequence_left("getUpdates") == 0
        after = await wait_health(app.health_url, 200)
        assert after["errors"]["fetch.server_error"] == 15
        assert after["errors"]["fetch.conflict"] == 15
        assert after["failing"] == {} and after["updates_received"] == 6
    finally:
        await app.stop()
    statuses = [r.status for r in emu.request_log if r.method.lower() == "getupdates"]
    assert [s for s in statuses if s != 200] == [502] * 15 + [409] * 15
    # once per change, not per retry
    assert len(supervision_lines(caplog, "getUpdates failing: TelegramServerError")) == 1
    changed = supervision_lines(caplog, "getUpdates now failing differently")
    assert len(changed) == 1 and "Conflict" in changed[0] and "webhook" in changed[0]
    assert len(supervision_lines(caplog, "getUpdates recovered after")) == 1
    assert supervision_lines(caplog, "getUpdates still failing") == []


async def test_sqlite_locked_for_40_seconds(
    emu: Emulator, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection holds the write lock for a real 40 s: longer than the bot's 30 s
    busy timeout, so storing fails at least once and must be retried, not given up."""
    caplog.set_level(logging.INFO, logger="bot.telegram")
    app = await start_bot(emu, sqlite_url, **{**FAST, "CENSUSBOT_HEALTH_THRESHOLD": 5.0,
                                              "CENSUSBOT_RETRY_INITIAL": 0.5,
                                              "CENSUSBOT_RETRY_MAX": 2.0})
    loop = asyncio.get_running_loop()
    locker = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=20, isolation_level=None,
                             check_same_thread=False)
    try:
        first, *others = people(emu, 7200, 5)
        await emu.send_text(first, "/help")
        await all_answered(emu, [first], timeout=10)
        await wait_health(app.health_url, 200)
        await asyncio.sleep(0.5)  # let the first update's bookkeeping commit

        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        locked_at = loop.time()
        for user in others:
            await emu.send_text(user, "/help")
        during = await wait_health(app.health_url, 503, timeout=10)
        assert during["database_reachable"] is False
        await asyncio.sleep(40 - (loop.time() - locked_at))
        assert not any(emu.bot_messages(u["id"]) for u in others)
        late = await wait_health(app.health_url, 503, timeout=5)
        assert late["receiving"] is False  # storing has been stuck for longer than 5 s
        await asyncio.to_thread(locker.execute, "ROLLBACK")

        await all_answered(emu, others, timeout=40)
        after = await wait_health(app.health_url, 200, timeout=20)
        assert after["errors"].get("store.database", 0) >= 1
    finally:
        locker.close()
        await app.stop()
    states = await inbox_done(sqlite_url)
    assert len(states) == 5 and set(states.values()) == {INBOX_DONE}
    assert len(supervision_lines(caplog, "storing received updates failing: ")) == 1
    assert len(supervision_lines(caplog, "storing received updates recovered after")) == 1


class RefusingProxy:
    """A TCP proxy to PostgreSQL that can be made to refuse connections (an outage)."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen (on the same port after an outage)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def outage(self) -> None:
        """Drop every connection and stop listening: connections are refused."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))

    async def stop(self) -> None:
        """Stop for good."""
        if self._server is not None:
            await self.outage()


@pytest.mark.pg
async def test_postgresql_refusing_connections_in_webhook_mode(
    emu: Emulator, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refuses connections for 20 s: the webhook answers 503, Telegram (the
    emulator) delivers again, and every message is answered once the database is back."""
    caplog.set_level(logging.INFO, logger="bot.telegram")
    proxy = RefusingProxy()
    port = await proxy.start()
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    assert url != pg_url
    settings = settings_for(emu, url, WEBHOOK_SECRET="s3cret-token", WEBHOOK_PORT=0,
                            WEBHOOK_HOST="127.0.0.1", **FAST)
    app = BotApp(settings, create_bot(settings), build_dispatcher(settings, clock=Clock()))
    hook = await app.start_webhook()
    health_url = hook.rsplit("/", 2)[0] + "/healthz"
    loop = asyncio.get_running_loop()
    try:
        first, *others = people(emu, 7300, 5)
        await emu.send_text(first, "/help")
        await all_answered(emu, [first], timeout=10)
        body = await wait_health(health_url, 200)
        assert body["mode"] == "webhook" and "pending_update_count" in body["webhook"]
        await asyncio.sleep(0.5)

        await proxy.outage()
        down_at = loop.time()
        for user in others:
            await emu.send_text(user, "/help")
        during = await wait_health(health_url, 503)
        assert during["database_reachable"] is False
        await asyncio.sleep(20 - (loop.time() - down_at))
        assert emu.webhook_last_error is not None and "503" in emu.webhook_last_error[1]
        assert not any(emu.bot_messages(u["id"]) for u in others)
        await proxy.start()

        await all_answered(emu, others, timeout=30)
        after = await wait_health(health_url, 200)
        assert after["errors"]["store.database"] >= 2
    finally:
        await app.stop()
        await proxy.stop()
    states = await inbox_done(pg_url)
    assert len(states) == 5 and set(states.values()) == {INBOX_DONE}
    assert len(supervision_lines(caplog, "storing received updates failing: ")) == 1
    assert len(supervision_lines(caplog, "storing received updates recovered after")) == 1


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_redis_down_gets_a_clear_answer_not_silence(emu: Emulator, sqlite_url: str) -> None:
    app = await start_bot(emu, sqlite_url, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
                          CENSUSBOT_REDIS_ATTEMPTS=2, **FAST)
    try:
        en, zh = (emu.user(id=7401, first_name="R", language_code="en"),
                  emu.user(id=7402, first_name="瑞", language_code="zh-hans"))
        await emu.send_text(en, "/help")
        await emu.send_text(zh, "/help")
        reply = await emu.wait_for_bot_message(7401, timeout=15)
        assert "cannot keep track of conversations" in reply["text"]
        assert "again in a few minutes" in reply["text"]
        assert "过几分钟后重新发送" in (await emu.wait_for_bot_message(7402, timeout=15))["text"]
        status, body = await health(app.health_url)  # receiving itself is fine
        assert status == 200 and body["receiving"] is True
    finally:
        await app.stop()


async def test_webhook_removed_elsewhere_is_registered_again(
    emu: Emulator, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram")
    settings = settings_for(emu, sqlite_url, WEBHOOK_SECRET="s3cret-token", WEBHOOK_PORT=0,
                            WEBHOOK_HOST="127.0.0.1", CENSUSBOT_WEBHOOK_CHECK_INTERVAL=0.2,
                            **FAST)
    app = BotApp(settings, create_bot(settings), build_dispatcher(settings, clock=Clock()))
    hook = await app.start_webhook()
    try:
        assert emu.webhook is not None and emu.webhook["url"] == hook
        emu.set_webhook(None, drop_pending=False)  # someone called deleteWebhook
        user = emu.user(id=7501, first_name="W", language_code="en")
        await emu.send_text(user, "/help")
        await all_answered(emu, [user], timeout=15)
        assert emu.webhook is not None and emu.webhook["url"] == hook
    finally:
        await app.stop()
    lost = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("the webhook was changed or removed elsewhere")]
    assert len(lost) == 1


async def test_fault_sequences_over_the_control_api(emu: Emulator) -> None:
    async with ClientSession() as http:
        async with http.post(f"{emu.base_url}/_emu/faults",
                             json={"method": "getMe", "sequence": ["409", "ok", "502"]}) as resp:
            assert resp.status == 200
        got = []
        for _ in range(4):
            async with http.get(f"{emu.base_url}/bot{emu.token}/getMe") as resp:
                got.append(resp.status)
        assert got == [409, 200, 502, 200]
        async with http.post(f"{emu.base_url}/_emu/faults",
                             json={"method": "getMe", "sequence": ["418"]}) as resp:
            assert resp.status == 400 and "unknown fault kind" in (await resp.json())["error"]
        async with http.post(f"{emu.base_url}/_emu/faults",
                             json={"method": "getMe", "kind": "403", "count": 5}) as resp:
            assert resp.status == 200
        async with http.delete(f"{emu.base_url}/_emu/faults") as resp:
            assert resp.status == 200
        async with http.get(f"{emu.base_url}/bot{emu.token}/getMe") as resp:
            assert resp.status == 200


async def test_sqlite_locked_for_40_seconds_in_webhook_mode(emu: Emulator, sqlite_url: str) -> None:
    """Webhook mode, SQLite write-locked for a real 40 s: the first update waits on the lock;
    those delivered meanwhile get a quick 503 instead of piling up behind it; all are answered
    after the lock goes."""
    settings = settings_for(emu, sqlite_url, WEBHOOK_SECRET="s3cret-token", WEBHOOK_PORT=0,
                            WEBHOOK_HOST="127.0.0.1", **{**FAST, "CENSUSBOT_HEALTH_THRESHOLD": 5})
    app = BotApp(settings, create_bot(settings), build_dispatcher(settings, clock=Clock()))
    hook = await app.start_webhook()
    health_url = hook.rsplit("/", 2)[0] + "/healthz"
    loop = asyncio.get_running_loop()
    locker = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=20, isolation_level=None,
                             check_same_thread=False)
    try:
        first, *others = people(emu, 7600, 4)
        await emu.send_text(first, "/help")
        await all_answered(emu, [first], timeout=10)
        await asyncio.sleep(0.5)

        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        locked_at = loop.time()
        for user in others:
            await emu.send_text(user, "/help")
        during = await wait_health(health_url, 503, timeout=10)
        assert during["database_reachable"] is False
        await asyncio.sleep(40 - (loop.time() - locked_at))
        assert not any(emu.bot_messages(u["id"]) for u in others)
        late = await wait_health(health_url, 503, timeout=5)
        assert late["errors"].get("store.busy", 0) > 0  # turned away with 503, not queued
        await asyncio.to_thread(locker.execute, "ROLLBACK")

        await all_answered(emu, others, timeout=40)
        await wait_health(health_url, 200, timeout=20)
    finally:
        locker.close()
        await app.stop()
    states = await inbox_done(sqlite_url)
    assert len(states) == 4 and set(states.values()) == {INBOX_DONE}


def free_port() -> int:
    """A local port free right now."""
    return closed_port()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_censusbot_run_logs_state_changes(emu: Emulator, sqlite_url: str, mode: str) -> None:
    """The real command line, in both modes: a failure and its recovery are logged once each,
    /healthz answers, and SIGTERM ends the process cleanly."""
    import os
    import signal
    import sys

    port = free_port()
    env = {**os.environ, "BOT_TOKEN": emu.token, "TELEGRAM_API_BASE": emu.base_url,
           "DATABASE_URL": sqlite_url,
           "CENSUSBOT_SECRET": "test-secret-do-not-use-0123456789abcdef",
           "CENSUSBOT_POLLING_TIMEOUT": "1", "CENSUSBOT_SCHEDULER": "false",
           **{k: str(v) for k, v in FAST.items()}}
    if mode == "polling":
        env["CENSUSBOT_HEALTH_PORT"] = str(port)
        emu.fail_sequence("getUpdates", ["502"] * 5)
        what, args = "getUpdates", ["run"]
    else:
        env.update(WEBHOOK_SECRET="s3cret-token", WEBHOOK_HOST="127.0.0.1",
                   WEBHOOK_PORT=str(port), WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook")
        emu.fail_sequence("setWebhook", ["502"] * 3)
        what, args = "registering the webhook", ["run", "--webhook"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    lines: list[str] = []

    async def read() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())
    try:
        user = emu.user(id=7700, first_name="Cli", language_code="en")
        await emu.send_text(user, "/help")
        await all_answered(emu, [user], timeout=90)
        body = await wait_health(f"http://127.0.0.1:{port}/healthz", 200)
        assert body["mode"] == mode and body["errors"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        await reader
    assert code == 0, "\n".join(lines[-30:])
    failing = [line for line in lines if f"{what} failing: " in line]
    recovered = [line for line in lines if f"{what} recovered after" in line]
    assert len(failing) == 1 and "Bad Gateway" in failing[0], lines
    assert len(recovered) == 1, lines
