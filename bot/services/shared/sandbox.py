"""Run a parser on untrusted bytes in a child process with a memory and a time budget.

The child is forked from a small fork server (started on first use, with the parsing modules
preloaded), caps its own address space (RLIMIT_AS) and CPU time, runs the function and sends
back its result or the domain error it raised. The parent waits in a thread, so the event
loop never blocks; a child over its time budget is killed, one that runs out of memory dies
alone. Domain errors travel back as (class, msgid, params) and are raised again here.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from bot.services.shared.errors import DomainError

PRELOAD = ["bot.services.reports.xlsx", "bot.services.roster.files", "openpyxl"]
MAX_PARALLEL = 2  # parsing processes at once (per bot process)
_slots = threading.BoundedSemaphore(MAX_PARALLEL)


class WorkerFailed(Exception):
    """The child ran out of memory or time, or died; `reason` is "memory" or "time"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _child(conn: Connection, func: Callable[..., Any], args: tuple[Any, ...], memory: int,
           seconds: float) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = max(1, int(seconds) + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        try:
            result = func(*args)
        except DomainError as exc:
            conn.send(("domain", type(exc), exc.message, exc.params))
        except MemoryError:
            conn.send(("memory",))
        else:
            conn.send(("ok", result))
    except MemoryError:
        with contextlib.suppress(Exception):
            conn.send(("memory",))
    except Exception as exc:  # a parser crash is the file's fault: report, never hang
        with contextlib.suppress(Exception):
            conn.send(("crash", type(exc).__name__))
    finally:
        conn.close()


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_blocking(func: Callable[..., Any], *args: Any, memory: int, seconds: float) -> Any:
    """Run `func(*args)` in a limited child process and return its result (blocking)."""
    with _slots:
        ctx = _context()
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(child, func, args, memory, seconds), daemon=True)
        try:
            proc.start()
            child.close()
            if not parent.poll(seconds):
                raise WorkerFailed("time")
            try:
                message = parent.recv()
            except (EOFError, OSError):
                raise WorkerFailed("memory") from None
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            parent.close()
            with contextlib.suppress(ValueError):
                proc.close()
    kind = message[0]
    if kind == "ok":
        return message[1]
    if kind == "domain":
        cls, msgid, params = message[1], message[2], message[3]
        raise cls(msgid, **params)
    raise WorkerFailed("memory" if kind == "memory" else "crash")


async def run_limited(func: Callable[..., Any], *args: Any, memory: int, seconds: float) -> Any:
    """`run_blocking` from async code: the event loop keeps serving while the child works."""
    return await asyncio.to_thread(run_blocking, func, *args, memory=memory, seconds=seconds)
