"""Apply Alembic migrations programmatically (used by `censusbot db upgrade` and at start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, "upgrade", revision, str(engine.url))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the database behind `engine` to `revision`."""
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision, str(engine.url))


def _run(sync_conn: object, action: str, revision: str, url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["sync_connection"] = sync_conn
    getattr(command, action)(cfg, revision)
