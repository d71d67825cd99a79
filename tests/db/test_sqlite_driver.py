"""SQLite's statements on the loop: the same answers as SQLAlchemy's adapter, no thread trips,
and waits for another process's lock in the thread, off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import sqlite_driver
from bot.db.engine import create_engine


async def test_rows_counts_ids_and_errors_come_back_as_before(tmp_path: Path) -> None:
    """RETURNING rows, row counts, last row ids, executemany and constraint errors."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            rows = (await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b') "
                                            "RETURNING id, v"))).all()
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
            many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"),
                                      [{"v": "c"}, {"v": "d"}, {"v": "e"}])
            assert many.rowcount == 3
            single = await conn.execute(text("INSERT INTO t (v) VALUES ('f')"))
            assert single.lastrowid == 6
            changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 4"))
            assert changed.rowcount == 2
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 6
            assert (await conn.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        async with engine.connect() as conn:  # the failed transaction left nothing behind
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 6
    finally:
        await engine.dispose()


class _Trips:
    """Counts the functions handed to aiosqlite's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = aiosqlite.Connection._execute

        async def counted(conn: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            return await real(conn, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


async def test_statements_run_on_the_loop_and_bulk_loads_in_the_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads, a write transaction and its commit make no trip to aiosqlite's thread (each
    trip was a hand-off and a wake-up of the loop); an executemany makes exactly one."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        trips = _Trips(monkeypatch)
        async with engine.connect() as conn:
            for n in range(10):
                assert (await conn.execute(text("SELECT :n"), {"n": n})).scalar() == n
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert trips.count == 0
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"),
                               [{"v": str(n)} for n in range(100)])
        assert trips.count == 1
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 101
    finally:
        monkeypatch.undo()
        await engine.dispose()


@contextlib.asynccontextmanager
async def _table_and_another_process(path: Path) -> AsyncIterator[tuple[AsyncEngine,
                                                                         sqlite3.Connection]]:
    """The bot's engine on a database with table t, and another connection ("process")."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        yield engine, other
    finally:
        other.close()
        await engine.dispose()


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (here another sqlite3 connection) holds the write lock: the bot's write
    waits for it in the connection's thread while the loop keeps serving, then goes through."""
    async with _table_and_another_process(tmp_path / "three.db") as (engine, other):
        trips = _Trips(monkeypatch)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (v) VALUES ('theirs')")

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('ours')"))

        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(30):  # 0.3 s in which the loop must keep running other work
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done()
        assert ticks == 30
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 10)
        assert trips.count >= 1  # the wait happened in the thread
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        assert rows == ["theirs", "ours"]


async def test_a_lock_held_too_long_fails_the_statement_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the wait the statement fails with SQLite's "database is locked", and the engine
    serves the next transaction once the lock is gone."""
    monkeypatch.setattr(sqlite_driver, "BUSY_WAIT_MS", 200)
    async with _table_and_another_process(tmp_path / "four.db") as (engine, other):
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('ours')"))
        other.execute("ROLLBACK")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('ours')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
