"""`censusbot` command line; each module of bot.cli adds its own sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import pkgutil
import sys

import bot.cli as cli_pkg
from bot.util import log_privacy


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered by the modules of bot.cli."""
    parser = argparse.ArgumentParser(prog="censusbot", description="Census operations bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda i: i.name):
        if info.name in {"main", "common"}:
            continue
        mod = importlib.import_module(f"bot.cli.{info.name}")
        register = getattr(mod, "register", None)
        if callable(register):
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("aiogram.event", "aiohttp.access", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log_privacy.install()  # no phone numbers or update payloads in the logs, even with -v
    func = args.func
    result = asyncio.run(func(args)) if inspect.iscoroutinefunction(func) else func(args)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
