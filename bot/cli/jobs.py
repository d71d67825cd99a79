"""`censusbot jobs run NAME --now ISO8601` and `censusbot jobs list`."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import aware_datetime, database
from bot.config import Settings


async def _run(args: argparse.Namespace) -> int:
    from bot.delivery.sender import make_sender
    from scheduling.jobs import JobContext, all_jobs

    jobs = all_jobs()
    spec = jobs.get(args.name)
    if spec is None:
        sys.stderr.write(f"error: no job named {args.name!r}; known: {', '.join(jobs)}\n")
        return 2
    settings = Settings()
    async with database(settings) as sessionmaker:
        result = await spec.run(JobContext(sessionmaker, settings), args.now)
        sys.stdout.write(f"{spec.name} as of {args.now.isoformat()}: "
                         f"{result.enqueued} notice(s) queued\n")
        for key, value in result.details.items():
            sys.stdout.write(f"  {key}: {value}\n")
        if args.no_deliver:
            return 0
        if not settings.bot_token.get_secret_value():
            sys.stdout.write("BOT_TOKEN is not set: notices left in the outbox for the running "
                             "bot to deliver.\n")
            return 0
        from bot.delivery.telegram import TelegramTransport

        sender = make_sender(settings, sessionmaker, TelegramTransport.from_settings(settings))
        try:
            done = await sender.drain(max_seconds=args.max_seconds)
        finally:
            await sender.stop()
        s = sender.stats
        sys.stdout.write(f"delivered {s.sent}, failed {s.failed}, unreachable {s.unreachable}, "
                         f"retried {s.retried}, 429s {s.rate_limited}\n")
        if not done:
            sys.stdout.write("not everything was delivered now (another sender holds the lease, "
                             "or time ran out): the rest stays queued.\n")
        left = await sender.due_count()
        if left:
            sys.stdout.write(f"{left} notice(s) still queued\n")
    return 0


def _list(args: argparse.Namespace) -> int:
    from scheduling.jobs import all_jobs

    for name, spec in all_jobs().items():
        sys.stdout.write(f"{name}\t{spec.description}\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobs run` and `jobs list`."""
    p = sub.add_parser("jobs", help="run or list scheduled jobs")
    jsub = p.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    run = jsub.add_parser("run", help="run a job once as of --now, then deliver what it queued")
    run.add_argument("name", metavar="NAME")
    run.add_argument("--now", type=aware_datetime, required=True, metavar="ISO8601")
    run.add_argument("--no-deliver", action="store_true", help="only queue, do not deliver")
    run.add_argument("--max-seconds", type=float, default=600.0,
                     help="stop delivering after this long (default 600)")
    run.set_defaults(func=_run)
    lst = jsub.add_parser("list", help="list the jobs")
    lst.set_defaults(func=_list)
