"""SQLite's one-trip cursors: the same answers as SQLAlchemy's adapter, one thread trip each."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

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


async def test_a_statement_is_one_trip_to_the_thread(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Execute, fetch and close together: one hand-off to aiosqlite's thread per statement
    (SQLAlchemy's own adapter makes four)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}")
    trips = 0
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal trips
        trips += 1
        return await real(self, fn, *args, **kwargs)

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # connect and set up first
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
            for n in range(10):
                assert (await conn.execute(text("SELECT :n"), {"n": n})).scalar() == n
            assert trips == 10
    finally:
        monkeypatch.undo()
        await engine.dispose()
