"""`censusbot staff import FILE.csv|FILE.xlsx`: import or update the staff roster.

Exit codes: 0 every row imported, 1 some rows rejected (the good rows are imported),
2 the file itself is unusable (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli.common import aware_datetime, database
from bot.cli.staff_codes import add_codes_command
from bot.config import Settings
from bot.util.clock import utc_now

if TYPE_CHECKING:  # the importer (and openpyxl) load only when a roster is imported
    from bot.services.roster import importer as roster

MAX_FILE_BYTES = 200 * 1024 * 1024


def write_report(result: roster.ImportResult, out: TextIO, *, show_all: bool = False) -> None:
    """Print rejected rows with their reasons (every row with show_all), then the summary line."""
    where = f" (sheet {result.sheet})" if result.sheet else ""
    enc = f", {result.encoding}" if result.encoding else ""
    out.write(f"{result.file_name}: {result.kind.upper()}{enc}{where}, "
              f"{len(result.outcomes)} data rows\n")
    if result.ignored_columns:
        out.write(f"ignored columns: {', '.join(result.ignored_columns)}\n")
    for o in result.outcomes:
        if o.outcome == "rejected":
            for reason in o.reasons:
                out.write(f"rejected: {reason.message}\n")
        elif show_all:
            extra = f" ({', '.join(o.changed)})" if o.changed else ""
            out.write(f"row {o.row}: {o.staff_id} {o.outcome}{extra}\n")
    if result.rejected and result.known_units == 0:
        out.write("hint: no organisation units are loaded; run `censusbot org load FILE.yaml` "
                  "first\n")
    out.write(f"imported {result.imported} rows ({result.created} created, {result.updated} "
              f"updated, {result.unchanged} unchanged), rejected {result.rejected} rows\n")
    if result.dry_run:
        out.write("dry run: nothing was saved\n")


def _import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            sys.stderr.write(f"error: {path}: larger than {MAX_FILE_BYTES // 2**20} MB; "
                             "split the roster\n")
            return 2
        data = path.read_bytes()
    except OSError as exc:
        sys.stderr.write(f"error: cannot read {path}: {exc.strerror or exc}\n")
        return 2
    return asyncio.run(_run(args, path.name, data))


async def _run(args: argparse.Namespace, file_name: str, data: bytes) -> int:
    from bot.services.roster import importer as roster

    now: datetime = args.now or utc_now()
    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        try:
            result = await roster.import_roster(session, data, now=now, file_name=file_name,
                                                dry_run=args.dry_run)
            if not args.dry_run:
                await session.commit()  # the command's unit of work
        except roster.RosterFileError as exc:
            sys.stderr.write(f"error: {file_name}: {exc}\nnothing was changed\n")
            return 2
    write_report(result, sys.stdout, show_all=args.all)
    return 1 if result.rejected else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `staff import`."""
    staff = sub.add_parser("staff", help="staff roster").add_subparsers(dest="staff_cmd",
                                                                         required=True)
    imp = staff.add_parser(
        "import", help="import or update the roster from a CSV or XLSX file",
        description="Exit code 0: every row imported; 1: some rows rejected (the good rows "
                    "are imported); 2: the file is unusable (nothing changed).")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--dry-run", action="store_true", help="validate only; save nothing")
    imp.add_argument("--all", action="store_true",
                     help="list every row's outcome, not only the rejected rows")
    imp.add_argument("--now", type=aware_datetime, default=None,
                     help="record the import as made at this time (ISO 8601)")
    imp.set_defaults(func=_import)
    add_codes_command(staff)
