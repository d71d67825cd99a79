"""What the benches share: data paths, a Shanghai clock helper and throwaway PostgreSQL databases.

Benches import nothing from tests/: the bot-under-emulator harness lives in
`emulator.harness`, and this module holds the rest.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
ORGS = ROOT / "data" / "orgs"
ZHENGZHOU = ORGS / "zhengzhou.yaml"
GUANGDONG = ORGS / "guangdong.yaml"
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_DSN = os.environ.get("CENSUSBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def at(text: str) -> datetime:
    """A Shanghai-local aware datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def pg_url(dbname: str, driver: str = "asyncpg") -> str:
    """The SQLAlchemy URL of database `dbname` on the bench PostgreSQL server."""
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", f"postgresql+{driver}://", 1)
    return f"{base}/{dbname}"


async def pg_admin(sql: str) -> None:
    """Run one administrative statement (CREATE/DROP DATABASE) on the bench server."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def pg_database(name: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one bench run; dropped afterwards.

    CENSUSBOT_BENCH_TAG, when set, is appended to the name, so that benches run at the same
    time from different worktrees against one server do not drop each other's database."""
    name += os.environ.get("CENSUSBOT_BENCH_TAG", "")
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
