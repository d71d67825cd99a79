"""SQLite through aiosqlite, each statement run on the event loop itself.

SQLAlchemy's aiosqlite adapter runs every statement in the connection's own thread: four trips
(open a cursor, execute, fetch, close), each a queue hand-off, a hand-over of the GIL and a
wake-up of the event loop. This bot's statements are index lookups and small writes that take
tens of microseconds; a trip costs more than the statement. With SQLite's writers queued one at
a time (bot.db.engine), the profile showed the loop idle half the time, waiting on those trips
while the writer queue held everyone else. So a statement runs here, on the loop, in one call
that executes, fetches every row and closes its cursor; commit and rollback too.

What still runs in the connection's thread, where waiting does not stop the loop:
- a statement or commit that meets another process's lock. On the loop SQLite's busy timeout is
  0, so it fails at once with SQLITE_BUSY (before doing anything); it is then run again in the
  thread, waiting up to BUSY_WAIT_MS as SQLite's busy handler did before;
- `executemany` (bulk loads: roster imports, seeding), which may run long;
- connecting and closing.
The connection is shared by the loop and its thread (`check_same_thread=False`), never at the
same moment: the thread is only used under the adapter's per-connection mutex, and the loop runs
a statement only while that mutex is free. Everything else (connections, transactions, errors,
the pool) is SQLAlchemy's adapter unchanged. The thread path uses aiosqlite's `_execute` (its
own way of running a function in its thread), hence the pinned aiosqlite range in pyproject.toml.
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


BUSY_WAIT_MS = 30_000  # how long a statement waits for another process's lock (in the thread)
LOOP_BUSY_PRAGMA = "PRAGMA busy_timeout=0"  # every connection's own: never wait on the loop


def _is_busy(error: BaseException) -> bool:
    """Whether SQLite refused for a lock another connection holds (SQLITE_BUSY and its kin)."""
    code = getattr(error, "sqlite_errorcode", 0)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
             ) -> _Outcome:
    """Execute, fetch every row, close the cursor (on the loop, or in the thread)."""
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


def _waiting(conn: sqlite3.Connection, work: Any, *args: Any) -> Any:
    """Run in the connection's thread: `work(conn, *args)`, waiting for locks meanwhile."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_WAIT_MS}")
    try:
        return work(conn, *args)
    finally:
        conn.execute(LOOP_BUSY_PRAGMA)


def _commit(conn: sqlite3.Connection) -> None:
    conn.commit()


async def _here_or_waiting(adapt: Any, work: Any, *args: Any, here: bool = True) -> Any:
    """`work(conn, *args)` on the loop; in the connection's thread, waiting for locks, when it
    met another process's lock (SQLITE_BUSY, before it did anything), when the thread has the
    connection, or when `here` is False. An async function even when it runs on the loop:
    SQLAlchemy's async engine requires each statement to pass through an await (one greenlet
    switch, no trip to the loop)."""
    connection: Any = adapt._connection  # an aiosqlite.Connection
    if here and not adapt._execute_mutex.locked():
        try:
            return work(connection._conn, *args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
    async with adapt._execute_mutex:
        return await connection._execute(_waiting, connection._conn, work, *args)


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs on the loop (in the thread only when it must wait)."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        """No cursor is opened here: each statement opens and closes its own."""
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
        """Nothing to close: the statement's cursor is already closed."""

    def close(self) -> None:
        """Drop the rows not fetched."""
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        """Run one statement on the loop (in the thread if it has to wait for a lock)."""
        try:
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        """Run one statement over many parameter sets, in the thread (bulk loads run long)."""
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        self._keep(await _here_or_waiting(self._adapt_connection, _execute, operation,
                                          parameters, many, here=not many))

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows or ())


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter: statements, commit and rollback on the loop."""

    __slots__ = ()
    _cursor_cls = InlineCursor

    def commit(self) -> None:
        """Commit on the loop (in the thread if it has to wait for a lock)."""
        if not self._connection._connection:
            return
        try:
            await_(_here_or_waiting(self, _commit))
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        """Roll back on the loop (a rollback never waits for a lock)."""
        connection: Any = self._connection
        if not connection._connection:
            return
        try:
            if self._execute_mutex.locked():
                await_(connection.rollback())
            else:
                connection._conn.rollback()
        except Exception as error:
            self._handle_exception(error)


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy sees: connections that run statements on the loop."""

    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:
        """Open an aiosqlite connection usable from the loop as well as from its thread."""
        kw["check_same_thread"] = False
        adapted = super().connect(*arg, **kw)
        return InlineConnection(self, adapted._connection)


def dbapi() -> InlineDBAPI:
    """The module to hand `create_async_engine(..., module=...)` for sqlite+aiosqlite URLs."""
    import aiosqlite

    return InlineDBAPI(aiosqlite, sqlite3)
