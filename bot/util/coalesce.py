"""Coalesce calls: whoever asks while a run is in progress waits for the next run, which
serves everyone waiting at once (one statement for many rows, one round trip for many locks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Run = Callable[[str, list[T]], Awaitable[list[R]]]
Orphan = Callable[[str, T, R], None]


class Coalescer(Generic[T, R]):
    """Batches asks by kind: each run takes every ask waiting, and per kind (in `kinds`
    order) makes one `run(kind, items)` call, which returns one result per item in order.
    A failing call reaches each of its askers, as if each had made it alone."""

    def __init__(self, kinds: Sequence[str], run: Run[T, R], *, name: str,
                 orphan: Orphan[T, R] | None = None) -> None:
        """`orphan(kind, item, result)` is told of a result whose asker has gone (cancelled)."""
        self._kinds = tuple(kinds)
        self._run_kind = run
        self._name = name
        self._orphan = orphan
        self._waiting: list[tuple[str, T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def ask(self, kind: str, item: T) -> R:
        """The result for `item`, from the next run."""
        return await self.enqueue(kind, item)

    def enqueue(self, kind: str, item: T) -> asyncio.Future[R]:
        """Queue `item` for the next run without waiting; its future."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((kind, item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        return done

    async def _run(self) -> None:
        while batch := self._waiting:
            self._waiting = []
            try:
                for kind in self._kinds:
                    part = [(item, done) for k, item, done in batch if k == kind]
                    if part:
                        await self._run_part(kind, part)
            except BaseException:  # cancelled: no asker of this batch is left hanging
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(asyncio.CancelledError())
                raise

    async def _run_part(self, kind: str, part: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run_kind(kind, [item for item, _ in part])
        except Exception as exc:
            for _, done in part:
                if not done.done():
                    done.set_exception(exc)
            return
        for (item, done), result in zip(part, results, strict=True):
            if not done.done():
                done.set_result(result)
            elif self._orphan is not None:
                self._orphan(kind, item, result)
