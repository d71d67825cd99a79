"""Backoff, once-per-change failure logs and restarts of the receiving loops."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from aiogram.exceptions import TelegramConflictError, TelegramServerError
from aiogram.methods import GetUpdates

from bot.util.resilience import Backoff, ReceiveState, Trouble, classify, describe, supervise


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(1.0, 30.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(12)]
    ceilings = [min(30.0, 2.0 ** i) for i in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    assert len({round(d, 6) for d in delays[-4:]}) == 4  # jittered, not a fixed beat
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def _conflict() -> TelegramConflictError:
    return TelegramConflictError(GetUpdates(), "Conflict: terminated by other getUpdates request")


def _bad_gateway() -> TelegramServerError:
    return TelegramServerError(GetUpdates(), "Bad Gateway")


def test_failures_are_logged_once_per_change_and_reminded_every_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    state = ReceiveState()
    trouble = Trouble("getUpdates", "fetch", state, remind_every=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="bot.util.resilience")
    for t in (0.0, 1.0, 2.0, 30.0):  # a 502 outage: one line
        now[0] = t
        trouble.failed(_bad_gateway())
    for t in (31.0, 40.0, 80.0):  # then a conflict: one line for the change
        now[0] = t
        trouble.failed(_conflict())
    now[0] = 92.0  # a minute after the change: a reminder, as an error, with what to do
    trouble.failed(_conflict())
    now[0] = 93.0
    trouble.failed(_conflict())
    assert state.failing["fetch"].kind == "conflict"
    now[0] = 100.0
    trouble.ok()
    trouble.ok()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 4, lines
    assert lines[0][0] == "WARNING" and lines[0][1].startswith("getUpdates failing: ")
    assert "Bad Gateway" in lines[0][1]
    assert lines[1][0] == "WARNING" and "now failing differently" in lines[1][1]
    assert "another process is polling with this bot token" in lines[1][1]
    assert lines[2][0] == "ERROR" and "still failing after 92 s (8 attempts)" in lines[2][1]
    assert lines[3] == ("WARNING", "getUpdates recovered after 100 s (9 failed attempts)")
    assert state.counters == {"fetch.server_error": 4, "fetch.conflict": 5}
    assert "fetch" not in state.failing


def test_errors_are_classified_and_tokens_masked() -> None:
    assert classify(_conflict()) == "conflict"
    assert classify(_bad_gateway()) == "server_error"
    assert classify(ConnectionRefusedError()) == "network"
    assert classify(RuntimeError("x")) == "other"
    text = describe(RuntimeError("GET /bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"))
    assert "AAHdq" not in text and "<token>" in text


def test_database_errors_do_not_reveal_what_people_sent() -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    exc = OperationalError("INSERT INTO inbox_updates (payload) VALUES (?)",
                           ('{"phone_number": "+8613800138000"}',),
                           sqlite3.OperationalError("database is locked"))
    assert describe(exc) == "OperationalError: database is locked"
    assert classify(exc) == "database"


async def test_a_loop_that_dies_is_restarted_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    state = ReceiveState()
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("boom")
        if len(runs) == 2:
            return  # ended on its own: also restarted
        stop.set()

    await asyncio.wait_for(supervise("polling", flaky, stop, state, Backoff(0.01, 0.02)), 5)
    assert len(runs) == 3
    assert state.counters["restart.polling"] == 2
    messages = [r.getMessage() for r in caplog.records]
    assert "polling died; restarting it" in messages
    assert "polling ended on its own; restarting it" in messages
