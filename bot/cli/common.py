"""Helpers shared by the sub-commands: settings, an upgraded database, parsing `--now`."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import create_engine, create_sessionmaker
from migrations import runner as migrate


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the configured database, migrated to the latest revision."""
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def aware_datetime(text: str) -> datetime:
    """argparse type: an ISO 8601 time; without an offset it is read as Asia/Shanghai."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=Settings().tz)
    return value
