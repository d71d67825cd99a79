"""SQLite through aiosqlite in one thread hop per statement.

SQLAlchemy's aiosqlite adapter makes four trips to aiosqlite's thread for every statement (open
a cursor, execute, fetch the rows, close the cursor), and each trip is a queue hand-off and a
wake-up of the event loop. The profile of the update path showed those hand-offs as its largest
cost on SQLite. This adapter does the four steps in one trip: a function run in the
connection's own thread that executes, fetches and closes, and hands back the rows, the
description, the row count and the last row id. Everything else (connections, transactions,
errors, the pool) is SQLAlchemy's adapter unchanged. It uses aiosqlite's `_execute` (its own
way of running a function in its thread), hence the pinned aiosqlite range in pyproject.toml.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
             ) -> _Outcome:
    """Run in aiosqlite's thread: execute, fetch every row, close the cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement costs one trip to aiosqlite's thread (client-side rows)."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        """No cursor is opened here: each statement opens and closes its own in the thread."""
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        """The last statement's column description (None for one without rows)."""
        return self._description

    @property
    def rowcount(self) -> int:
        """The last statement's row count, as sqlite3 reports it."""
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        """The last statement's row id."""
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        """fetchmany's default size."""
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed in the thread."""

    def close(self) -> None:
        """Drop the rows not fetched."""
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        """Run one statement in one trip to the connection's thread."""
        try:
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        """Run one statement over many parameter sets in one trip."""
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection: Any = self._connection  # an aiosqlite.Connection
            outcome: _Outcome = await connection._execute(
                _execute, connection._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows or ())


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, with one-trip cursors."""

    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy sees: connections come with one-trip cursors."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        """Open an aiosqlite connection (its thread a daemon, as SQLAlchemy's adapter does)."""
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def dbapi() -> OneHopDBAPI:
    """The module to hand `create_async_engine(..., module=...)` for sqlite+aiosqlite URLs."""
    import aiosqlite

    return OneHopDBAPI(aiosqlite, sqlite3)
