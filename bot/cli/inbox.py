"""`censusbot inbox parked | requeue ID | prune`: the updates the bot gave up on, and hygiene."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import database
from bot.config import Settings
from bot.util.clock import utc_now


async def _parked(args: argparse.Namespace) -> int:
    from bot.services.shared import inbox

    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        rows = await inbox.parked(session, limit=args.limit)
        await session.commit()
    if not rows:
        sys.stdout.write("no parked updates\n")
        return 0
    sys.stdout.write("id\tupdate\tchat\tkind\tattempts\tparked at (UTC)\terror\n")
    for r in rows:
        when = r.parked_at.strftime("%Y-%m-%d %H:%M:%S") if r.parked_at else "-"
        error = " ".join(r.error.split())[:160]
        sys.stdout.write(f"{r.id}\t{r.update_id}\t{r.chat_id}\t{r.kind}\t{r.attempts}\t"
                         f"{when}\t{error}\n")
    return 0


async def _requeue(args: argparse.Namespace) -> int:
    from bot.services.shared import inbox

    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        done = await inbox.requeue(session, args.id)
        await session.commit()
    if not done:
        sys.stderr.write(f"error: no parked update with id {args.id} "
                         "(see `censusbot inbox parked`)\n")
        return 1
    sys.stdout.write(f"update {args.id} requeued; a running bot handles it within seconds\n")
    return 0


async def _prune(args: argparse.Namespace) -> int:
    from bot.services.shared import inbox

    settings = Settings()
    days = args.days if args.days is not None else settings.inbox_retention_days
    async with database(settings) as sessionmaker, sessionmaker() as session:
        count = await inbox.prune(session, now=utc_now(), retention_days=days)
        await session.commit()
    sys.stdout.write(f"pruned {count} processed inbox row(s) older than {days} day(s)\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `inbox parked`, `inbox requeue ID` and `inbox prune`."""
    p = sub.add_parser("inbox", help="received updates: parked ones, requeue, prune")
    inner = p.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")
    parked = inner.add_parser("parked", help="list the updates the bot gave up on")
    parked.add_argument("--limit", type=int, default=100)
    parked.set_defaults(func=_parked)
    requeue = inner.add_parser("requeue", help="retry a parked update (by the id `parked` shows)")
    requeue.add_argument("id", type=int)
    requeue.set_defaults(func=_requeue)
    prune = inner.add_parser("prune", help="delete processed rows older than the retention")
    prune.add_argument("--days", type=int, default=None,
                       help="retention in days (default CENSUSBOT_INBOX_RETENTION_DAYS)")
    prune.set_defaults(func=_prune)
