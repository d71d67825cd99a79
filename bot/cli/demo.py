"""`censusbot demo`: the whole product on one machine, no token needed."""

from __future__ import annotations

import argparse


async def _demo(args: argparse.Namespace) -> int:
    from demo.runner import run_demo

    return await run_demo(args.host, args.port, args.database_url)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo`."""
    p = sub.add_parser("demo", help="run emulator + bot + web chat with synthetic demo data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--database-url", default=None,
                   help="default: censusbot-demo.sqlite3 in the working directory")
    p.set_defaults(func=_demo)
