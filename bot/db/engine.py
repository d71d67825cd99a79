"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    """Whether the URL names an SQLite database."""
    return url.startswith("sqlite")


WRITER_KEY = "censusbot.sqlite_writer"
# Execution option of a read-only phase (`Session.connection(execution_options={READ_PHASE:
# True})` before its first statement): on SQLite no BEGIN IMMEDIATE and no place in the writer
# queue; each statement reads on its own (WAL readers never wait for the writer). Such a phase
# must not write. On PostgreSQL `begin_read_phase` makes it an autocommit phase.
READ_PHASE = "censusbot_read_phase"
# The same phase on PostgreSQL: an autocommit connection, so its reads need no BEGIN and no
# COMMIT round trip (each statement is its own snapshot, as under READ COMMITTED anyway).
_PG_READ_PHASE = {"isolation_level": "AUTOCOMMIT"}
# Execution option of a transaction that is one write statement (`execute_alone`): on SQLite it
# queues as any writer but emits no BEGIN IMMEDIATE, the statement commits itself.
ALONE = "censusbot_alone"
WRITER_WAIT = 30.0  # seconds, as SQLite's own busy_timeout


class WriterQueue:
    """SQLite takes one writer at a time; in this process they queue here, first come first
    served, instead of polling in SQLite's busy handler (which sleeps up to 100 ms a try and
    lets a late comer overtake). Other processes still meet the busy timeout."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())

    def lock(self) -> asyncio.Lock:
        """The queue of the running event loop."""
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found


async def _acquire(lock: asyncio.Lock) -> None:
    async with asyncio.timeout(WRITER_WAIT):
        await lock.acquire()


def _release(info: dict[str, Any]) -> None:
    lock: asyncio.Lock | None = info.pop(WRITER_KEY, None)
    if lock is not None and lock.locked():
        lock.release()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; on SQLite turn on WAL, foreign keys and a busy timeout."""
    # hide_parameters: SQL errors and echo never print bound values (phone numbers, names)
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if is_sqlite(url):
        kwargs["connect_args"] = {"timeout": 30}
        if ":memory:" not in url:
            # As many pooled connections as the update workers and the rest use at once: past
            # the pool, each use opened a connection (a thread, the pragmas) and closed it again,
            # 6 % of a busy bot's CPU (py-spy, FAQ questions from 50 users).
            kwargs.update(pool_size=20, max_overflow=10)
        if "+aiosqlite" in url.split("://", 1)[0]:  # statements on the loop, waits in a thread
            from bot.db.sqlite_driver import dbapi

            kwargs["module"] = dbapi()
    else:
        # No pre-ping: it cost a round trip on every checkout (several per update). A connection
        # that died meanwhile fails its statement instead; SQLAlchemy then invalidates the whole
        # pool (every older connection is replaced on its next checkout), and the caller's own
        # retry (the update processor, polling's store, the sender, jobs) runs on a fresh one.
        # The pool holds what a process uses at once (the update workers, ingest, sweeper,
        # sender, jobs): a connection beyond it is opened and closed again for each use. At
        # most 30 per process, as before: three processes stay within PostgreSQL's default
        # max_connections (100) with room for the office's own tools.
        kwargs.update(pool_size=20, max_overflow=10)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        from bot.db.sqlite_driver import LOOP_BUSY_PRAGMA

        inline = "module" in kwargs

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Statements run on the loop and must never wait there: at a lock held by another
            # process they fail at once and bot.db.sqlite_driver reruns them in the connection's
            # thread, waiting up to its BUSY_WAIT_MS (30 s, as before).
            cur.execute(LOOP_BUSY_PRAGMA if inline else "PRAGMA busy_timeout=30000")
            cur.close()

        writers = WriterQueue()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that later writes can fail
            # with SQLITE_BUSY_SNAPSHOT, which busy_timeout does not wait out. Queue for it in
            # this process first (the begin event runs inside SQLAlchemy's async bridge).
            from sqlalchemy.util import await_only

            options = conn.get_execution_options()
            if options.get(READ_PHASE):
                return  # autocommit reads: no lock, no BEGIN statement
            lock = writers.lock()
            try:
                await_only(_acquire(lock))
            except TimeoutError as exc:
                raise OperationalError("BEGIN IMMEDIATE", None,
                                       Exception("database is locked (writer queue)")) from exc
            conn.info[WRITER_KEY] = lock
            if options.get(ALONE):
                return  # one statement, its own implicit transaction: the write lock at once
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(conn.info)
                raise

        @event.listens_for(engine.sync_engine, "commit")
        def _sqlite_commit(conn: Any) -> None:
            _release(conn.info)

        @event.listens_for(engine.sync_engine, "rollback")
        def _sqlite_rollback(conn: Any) -> None:
            _release(conn.info)

        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _sqlite_checkin(_dbapi_conn: Any, record: Any) -> None:
            if record is not None:  # a connection returned mid-transaction (invalidated)
                _release(record.info)

    return engine


async def begin_read_phase(session: AsyncSession) -> None:
    """Start the session's read-only phase (before its first statement): on SQLite no BEGIN
    and no write lock (READ_PHASE); on PostgreSQL an autocommit connection (no BEGIN, no
    COMMIT round trip). The phase must not write; end it with `session.commit()`, after which
    the session's next statement starts an ordinary transaction."""
    dialect = session.get_bind().dialect.name
    await session.connection(
        execution_options=_PG_READ_PHASE if dialect == "postgresql" else {READ_PHASE: True})


def read_phase_autocommits(session: AsyncSession) -> bool:
    """Whether the statements of the session's read phase each commit on their own
    (PostgreSQL): one write statement there is a transaction of its own, one round trip."""
    return session.get_bind().dialect.name == "postgresql"


async def execute_alone(sessionmaker: async_sessionmaker[AsyncSession], statement: Any,
                        params: dict[str, Any] | None = None) -> tuple[list[Any], int]:
    """Run one statement (with its bound `params`) as a transaction of its own: (the rows it
    returns, its rowcount).

    On PostgreSQL on an autocommit connection (one round trip, no BEGIN and COMMIT); on SQLite
    in a write transaction of its own (through the writer queue)."""
    engine: AsyncEngine = sessionmaker.kw["bind"]
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            try:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                result = await conn.execute(statement, params)
            except asyncio.CancelledError:  # mid-statement: the connection's state is unknown
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                raise
            rows = list(result.all()) if result.returns_rows else []
            return rows, int(getattr(result, "rowcount", 0) or 0)
    session = sessionmaker()
    try:
        await session.connection(execution_options={ALONE: True})
        found: Any = await session.execute(statement, params)  # a CursorResult for DML
        rows = list(found.all()) if getattr(found, "returns_rows", True) else []
        await session.commit()
    except asyncio.CancelledError:
        # Cancelled inside the write transaction (a task torn down): drop the connection, and
        # with it SQLite's write lock, instead of leaving it to garbage collection.
        with contextlib.suppress(Exception):
            await session.invalidate()
        raise
    finally:
        await session.close()
    return rows, int(getattr(found, "rowcount", 0) or 0)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
