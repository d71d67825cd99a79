"""Coalesced calls: asks made together share one call per kind; failures and gone askers."""

from __future__ import annotations

import asyncio

import pytest

from bot.util.coalesce import Coalescer


async def test_asks_made_together_share_one_call_per_kind_in_kind_order() -> None:
    calls: list[tuple[str, list[int]]] = []

    async def run(kind: str, items: list[int]) -> list[int]:
        calls.append((kind, items))
        return [i * 10 for i in items]

    batches: Coalescer[int, int] = Coalescer(("b", "a"), run, name="test")
    got = await asyncio.gather(*(batches.ask("a" if i % 2 else "b", i) for i in range(6)))
    assert got == [0, 10, 20, 30, 40, 50]
    assert calls == [("b", [0, 2, 4]), ("a", [1, 3, 5])]
    assert await batches.ask("a", 7) == 70  # a later ask: a run of its own
    assert calls[-1] == ("a", [7])


async def test_a_failing_call_reaches_each_of_its_askers_only() -> None:
    async def run(kind: str, items: list[int]) -> list[int]:
        if kind == "bad":
            raise RuntimeError("database away")
        return items

    batches: Coalescer[int, int] = Coalescer(("bad", "good"), run, name="test")
    got = await asyncio.gather(batches.ask("bad", 1), batches.ask("good", 2),
                               batches.ask("bad", 3), return_exceptions=True)
    assert [type(g) for g in got] == [RuntimeError, int, RuntimeError]
    assert got[1] == 2


async def test_a_result_whose_asker_has_gone_is_handed_to_orphan() -> None:
    started, go_on = asyncio.Event(), asyncio.Event()
    orphans: list[tuple[str, int, bool]] = []

    async def run(kind: str, items: list[int]) -> list[bool]:
        started.set()
        await go_on.wait()
        return [True for _ in items]

    batches: Coalescer[int, bool] = Coalescer(
        ("claim",), run, name="test", orphan=lambda k, i, r: orphans.append((k, i, r)))
    asker = asyncio.create_task(batches.ask("claim", 5))
    kept = asyncio.create_task(batches.ask("claim", 6))
    await started.wait()
    asker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asker
    go_on.set()
    assert await kept is True
    assert orphans == [("claim", 5, True)]
