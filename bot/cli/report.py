"""`censusbot report targets FILE.yaml|FILE.xlsx`: import per-unit targets for the reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import database
from bot.config import Settings
from bot.services.shared.errors import DomainError
from bot.util.clock import utc_now


async def _targets(args: argparse.Namespace) -> int:
    from bot.services.reports import submission as reports_service  # heavy: only this command

    path = Path(args.file)
    try:
        rows = reports_service.read_targets_file(path)
    except (DomainError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        count, errors = await reports_service.import_targets(session, rows, source=path.name,
                                                             now=utc_now())
        await session.commit()  # the command's unit of work
    for line in errors:
        sys.stdout.write(f"rejected: {line}\n")
    sys.stdout.write(f"targets: {count} imported, {len(errors)} rejected\n")
    return 1 if errors else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report targets`."""
    report = sub.add_parser("report", help="progress reports").add_subparsers(
        dest="report_cmd", required=True)
    targets = report.add_parser(
        "targets", help="import targets: YAML {units: {CODE: {PHASE: {KEY: N}}}} or XLSX "
        "with columns unit_code, phase, key, target")
    targets.add_argument("file")
    targets.set_defaults(func=_targets)
