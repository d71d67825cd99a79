"""`censusbot db upgrade|downgrade`: apply Alembic migrations."""

from __future__ import annotations

import argparse
import logging

from bot.config import Settings
from bot.db.engine import create_engine
from migrations import runner as migrate

log = logging.getLogger(__name__)


async def _upgrade(args: argparse.Namespace) -> int:
    engine = create_engine(Settings().database_url)
    try:
        await migrate.upgrade(engine, args.revision)
    finally:
        await engine.dispose()
    log.info("database upgraded to %s", args.revision)
    return 0


async def _downgrade(args: argparse.Namespace) -> int:
    engine = create_engine(Settings().database_url)
    try:
        await migrate.downgrade(engine, args.revision)
    finally:
        await engine.dispose()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db upgrade` and `db downgrade`."""
    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_cmd",
                                                                          required=True)
    up = db.add_parser("upgrade", help="apply migrations (default: to the latest)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_upgrade)
    down = db.add_parser("downgrade", help="revert migrations to REVISION (e.g. base)")
    down.add_argument("revision")
    down.set_defaults(func=_downgrade)
