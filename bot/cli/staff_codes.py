"""`censusbot staff codes --unit CODE`: one-time binding codes for a unit's unbound staff."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import timedelta

from bot.cli.common import aware_datetime, database
from bot.config import Settings
from bot.services.shared.errors import DomainError
from bot.services.shared.safe_cells import csv_row
from bot.util.clock import utc_now


async def _codes(args: argparse.Namespace) -> int:
    from bot.services.roster import binding  # only this command needs it

    settings = Settings()
    try:
        key = settings.signing_key()
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    now = args.now or utc_now()
    policy = binding.CodePolicy(
        ttl=timedelta(hours=args.ttl_hours or settings.binding_code_ttl_hours),
        max_failures=settings.binding_max_failures,
        lock=timedelta(minutes=settings.binding_lock_minutes), tz=settings.tz)
    async with database(settings) as sessionmaker, sessionmaker() as session:
        try:
            issued = await binding.issue_codes_for_unit(
                session, now=now, unit_code=args.unit, key=key, policy=policy)
            await session.commit()  # the command's unit of work
        except DomainError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    expires = (now + policy.ttl).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    writer = csv.writer(sys.stdout)
    writer.writerow(["staff_id", "name", "unit_code", "code", "expires"])
    for staff, code in issued:
        writer.writerow(csv_row([staff.staff_id, staff.name, staff.unit_code,
                                 binding.format_code(code), expires]))
    sys.stderr.write(f"{len(issued)} codes issued for unit {args.unit} and below; earlier "
                     "unused codes of these staff no longer work\n")
    return 0


def add_codes_command(staff: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `codes` to the `staff` command group."""
    p = staff.add_parser("codes", help="print one-time binding codes (CSV) for every "
                       "unbound active staff member of a unit and the units below it")
    p.add_argument("--unit", required=True, metavar="CODE")
    p.add_argument("--ttl-hours", type=int, default=None,
                   help="how long the codes stay valid (default CENSUSBOT_BINDING_CODE_TTL_HOURS)")
    p.add_argument("--now", type=aware_datetime, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_codes)
