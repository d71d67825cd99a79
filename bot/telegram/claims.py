"""Chat claims: at most one process handles a chat's updates at a time, in update order.

On PostgreSQL a claim is a session advisory lock taken on one of a few dedicated connections
per process (a chat always on the same one): it needs no renewal (so it cannot lapse under
load) and it dies with the process's connections (kill -9 included), which frees the chat for
the others at once. On SQLite there is one process; claims are in-process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.util.coalesce import Coalescer

log = logging.getLogger(__name__)
NO_CHAT = -(2**63)  # the key of updates that belong to no chat
_NAMESPACE = 0x43454E53  # "CENS": the first half of every advisory lock key


class ChatClaims(Protocol):
    """Exclusive, non-blocking claims on chats."""

    async def try_claim(self, chat: int) -> bool:
        """Claim the chat; False when another process holds it."""
        ...

    async def release(self, chat: int) -> None:
        """Give the chat up."""
        ...

    async def close(self) -> None:
        """Give every claim up."""
        ...


class LocalClaims:
    """One process: the processor's own bookkeeping already keeps a chat in one task."""

    async def try_claim(self, chat: int) -> bool:
        """Always granted."""
        return True

    async def release(self, chat: int) -> None:
        """Nothing to give up."""

    async def close(self) -> None:
        """Nothing to close."""


def lock_key(chat: int) -> int:
    """The chat folded into a signed 32-bit advisory lock key (collisions only serialise)."""
    folded = (chat ^ (chat >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


_CLAIM = ("SELECT n, pg_try_advisory_lock($1, k) "
          "FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n)")
_RELEASE = "SELECT n, pg_advisory_unlock($1, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n)"


class _ClaimLine:
    """One autocommit connection and the claims taken on it (one statement at a time).

    Claims and releases asked for while a statement runs wait for the next one, which takes
    them all: one round trip for every chat claimed (or released) at that moment, instead of
    one per chat. Releases go first (the lock functions count per connection, so the order
    only matters against other processes, which then see the chat free sooner)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._lock = asyncio.Lock()
        self._batches: Coalescer[int, bool] = Coalescer(
            (_RELEASE, _CLAIM), self._run_batch, name="chat-claims", orphan=self._orphan)

    async def claim(self, chat: int) -> bool:
        """Try to take the chat's lock (in the next statement of this line)."""
        return await self._batches.ask(_CLAIM, lock_key(chat))

    async def release(self, chat: int) -> None:
        """Give the chat's lock up (in the next statement of this line)."""
        await self._batches.ask(_RELEASE, lock_key(chat))

    async def _run_batch(self, sql: str, keys: list[int]) -> list[bool]:
        got = {int(n): bool(ok) for n, ok in await self.call(sql, keys)}
        return [got.get(n, False) for n in range(1, len(keys) + 1)]

    def _orphan(self, sql: str, key: int, taken: bool) -> None:
        if sql == _CLAIM and taken:  # its asker is gone: give the chat back
            self._batches.enqueue(_RELEASE, key)

    async def call(self, sql: str, keys: list[int]) -> list[Any]:
        """Run `sql` with ($1 the namespace, $2 the lock keys) on this line's connection
        (opened on first use); its rows."""
        async with self._lock:
            if self._conn is None:
                conn = await self._engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                # Straight to the driver (asyncpg): one round trip per statement.
                self._driver = (await self._conn.get_raw_connection()).driver_connection
            try:
                return list(await self._driver.fetch(sql, _NAMESPACE, keys))
            except Exception:  # a broken connection released every lock taken on it
                broken, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    await broken.invalidate()
                raise

    async def close(self) -> None:
        """Close the connection: every claim taken on it goes with it."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):  # closed, not pooled: locks live on in a
                    await conn.invalidate()  # pooled connection
                with contextlib.suppress(Exception):
                    await conn.close()


class AdvisoryClaims:
    """PostgreSQL session advisory locks on a few autocommit connections of this process.

    A chat always uses the same connection (its lock and unlock must meet there); spreading
    chats over `lines` connections lets that many claim calls be in flight at once instead of
    queueing every update worker behind one connection.
    """

    def __init__(self, engine: AsyncEngine, lines: int = 4) -> None:
        """Claims through `engine` (connections are opened on first use)."""
        self._lines = [_ClaimLine(engine) for _ in range(max(1, lines))]

    def _line(self, chat: int) -> _ClaimLine:
        return self._lines[lock_key(chat) % len(self._lines)]

    async def try_claim(self, chat: int) -> bool:
        """pg_try_advisory_lock on the chat's key."""
        return await self._line(chat).claim(chat)

    async def release(self, chat: int) -> None:
        """pg_advisory_unlock on the chat's key."""
        try:
            await self._line(chat).release(chat)
        except Exception as exc:  # the connection is gone, and the lock with it
            log.warning("releasing the claim on a chat failed: %s", type(exc).__name__)

    async def close(self) -> None:
        """Close the connections: every claim of this process goes with them."""
        for line in self._lines:
            await line.close()


def claims_for(engine: AsyncEngine) -> ChatClaims:
    """Advisory-lock claims on PostgreSQL, in-process claims otherwise."""
    if engine.dialect.name == "postgresql":
        return AdvisoryClaims(engine)
    return LocalClaims()
