"""What one SQL statement costs the bot's process on PostgreSQL, by how it is sent.

The same one-row UPDATE of the inbox (the done-mark's shape), run N times on one connection,
in one transaction; CPU microseconds of this process per statement (`time.process_time`, so the
server's work is not in it), side by side in one run:
- `session.execute`, the statement built anew each time (as most services write it);
- `session.execute`, the statement built once with bound parameters (as the update path's
  hottest statements are now);
- `conn.execute`, SQLAlchemy Core, built anew; and `text()`; and `exec_driver_sql`;
- asyncpg itself (the baseline: the driver under SQLAlchemy, no library on top);
- a batch of 1-20 ids as an expanding IN, and as one array (`= ANY`, `bot.db.fixed_sets`),
  with the server-side prepares each needed (asyncpg prepares every new statement text once
  per connection).

    python bench/statement_cost.py [--n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg.connection
from sqlalchemy import bindparam, text, update

from bench.common import pg_database
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.fixed_sets import in_batch
from bot.db.models.inbox import INBOX_TABLE as INBOX
from migrations import runner as migrate

PREPARES = [0]
_prepare = asyncpg.connection.Connection.prepare


async def _counted_prepare(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
    PREPARES[0] += 1
    return await _prepare(self, query, *args, **kwargs)


asyncpg.connection.Connection.prepare = _counted_prepare  # type: ignore[method-assign]


async def _cost(label: str, n: int, run: Callable[[int], Awaitable[Any]]) -> None:
    """Print the CPU microseconds per call of `run` (and the prepares it caused)."""
    await run(0)  # warm: compiled and prepared once
    before, started = PREPARES[0], time.process_time()
    for i in range(n):
        await run(i)
    per = 1e6 * (time.process_time() - started) / n
    print(f"{label:58s} {per:7.0f} us   prepares {PREPARES[0] - before}")


async def main() -> None:
    """Each way of sending, N times, on one fresh database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000)
    n = parser.parse_args().n
    async with pg_database("statement_cost") as url:
        engine = create_engine(url)
        await migrate.upgrade(engine)
        built = update(INBOX).where(INBOX.c.id == bindparam("row")).values(state="done")
        batch = update(INBOX).where(in_batch(INBOX.c.id, "ids", "postgresql")).values(
            state="done")
        async with create_sessionmaker(engine)() as session:
            await _cost("session.execute, built each time", n, lambda i: session.execute(
                update(INBOX).where(INBOX.c.id == i).values(state="done")))
            await _cost("session.execute, built once", n,
                        lambda i: session.execute(built, {"row": i}))
            await session.rollback()
        async with engine.connect() as conn:
            await _cost("conn.execute (Core), built each time", n, lambda i: conn.execute(
                update(INBOX).where(INBOX.c.id == i).values(state="done")))
            sql = text("UPDATE inbox_updates SET state = 'done' WHERE id = :row")
            await _cost("conn.execute(text())", n, lambda i: conn.execute(sql, {"row": i}))
            await _cost("conn.exec_driver_sql", n, lambda i: conn.exec_driver_sql(
                "UPDATE inbox_updates SET state = 'done' WHERE id = $1", (i,)))
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await _cost("asyncpg (BASELINE: the driver alone)", n, lambda i: raw.execute(
                "UPDATE inbox_updates SET state = 'done' WHERE id = $1", i))
            await _cost("batch of 1-20 ids, expanding IN", n, lambda i: conn.execute(
                update(INBOX).where(INBOX.c.id.in_(list(range(i % 20 + 1))))
                .values(state="done")))
            await _cost("batch of 1-20 ids, one array (= ANY), built once", n,
                        lambda i: conn.execute(batch, {"ids": list(range(i % 20 + 1))}))
            await conn.rollback()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
