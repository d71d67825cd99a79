"""`censusbot grant TELEGRAM_USER_ID ROLE --unit CODE`: give a chat user a role on a unit."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import database
from bot.config import Settings
from bot.db.models.users import ROLES
from bot.services.shared.errors import DomainError
from bot.util.clock import utc_now


async def _grant(args: argparse.Namespace) -> int:
    from bot.services.access import users as users_service  # only this command needs them
    from bot.services.roster import grants as roster_grants

    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        try:
            if args.revoke:
                changed = await users_service.revoke_role(
                    session, now=utc_now(), user_id=args.user_id, role=args.role,
                    unit_code=args.unit)
            else:
                # a role held through a staff record becomes explicit: it then stays when the
                # record changes
                changed = await roster_grants.make_manual(
                    session, user_id=args.user_id, role=args.role, unit_code=args.unit)
                changed = changed or await users_service.grant_role(
                    session, now=utc_now(), user_id=args.user_id, role=args.role,
                    unit_code=args.unit)
            await session.commit()  # the command's unit of work
        except DomainError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    verb = "revoked" if args.revoke else "granted"
    state = verb if changed else f"already {verb}"
    sys.stdout.write(f"{args.role} on {args.unit} for user {args.user_id}: {state}\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `grant`."""
    p = sub.add_parser("grant", help="give a chat user a role on a unit (and its subtree)")
    p.add_argument("user_id", type=int, metavar="TELEGRAM_USER_ID")
    p.add_argument("role", choices=ROLES)
    p.add_argument("--unit", required=True, metavar="CODE")
    p.add_argument("--revoke", action="store_true", help="remove the grant instead")
    p.set_defaults(func=_grant)
