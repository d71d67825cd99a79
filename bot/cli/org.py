"""`censusbot org load FILE.yaml`: load an organisation tree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import database
from bot.config import Settings
from bot.services.shared.errors import DomainError
from bot.util.clock import utc_now


async def _load(args: argparse.Namespace) -> int:
    from bot.services.roster import org as org_service  # only this command needs it

    try:
        tree = org_service.read_tree(Path(args.file))
        org_service.flatten(tree)
    except DomainError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        result = await org_service.load_tree(session, tree, now=utc_now())
        await session.commit()  # the command's unit of work
    sys.stdout.write(
        f"units: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged\n"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `org load`."""
    org = sub.add_parser("org", help="organisation tree").add_subparsers(dest="org_cmd",
                                                                          required=True)
    load = org.add_parser("load", help="load or update units from a YAML file")
    load.add_argument("file")
    load.set_defaults(func=_load)
