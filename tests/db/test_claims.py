"""Chat claims on PostgreSQL: exclusive across processes, spread over several connections."""

from __future__ import annotations

import asyncio

from bot.db.engine import create_engine
from bot.telegram.claims import AdvisoryClaims, lock_key


async def test_a_claim_is_exclusive_across_processes_and_freed_by_release(pg_url: str) -> None:
    """Two processes (two engines): a chat held by one is refused to the other until released,
    and a process that closes (or dies) frees every chat it held."""
    one, two = create_engine(pg_url), create_engine(pg_url)
    a, b = AdvisoryClaims(one), AdvisoryClaims(two)
    try:
        chats = list(range(7001, 7009))  # spread over every connection of a
        assert {lock_key(c) % 4 for c in chats} == {0, 1, 2, 3}
        assert all(await asyncio.gather(*(a.try_claim(c) for c in chats)))
        assert not any(await asyncio.gather(*(b.try_claim(c) for c in chats)))
        await a.release(7001)
        assert await b.try_claim(7001)
        assert not await a.try_claim(7001)
        await a.close()  # the process goes: its claims with it
        assert all(await asyncio.gather(*(b.try_claim(c) for c in chats[1:])))
    finally:
        await a.close()
        await b.close()
        await one.dispose()
        await two.dispose()


async def test_claim_calls_of_different_chats_run_at_once(pg_url: str) -> None:
    """Calls for chats on different connections do not queue behind each other: while one
    connection is busy, another chat's claim is answered."""
    engine = create_engine(pg_url)
    claims = AdvisoryClaims(engine)
    try:
        busy_chat = next(c for c in range(1, 100) if lock_key(c) % 4 == 0)
        free_chat = next(c for c in range(1, 100) if lock_key(c) % 4 == 1)
        assert await claims.try_claim(busy_chat) and await claims.try_claim(free_chat)
        line = claims._line(busy_chat)
        stall = asyncio.create_task(
            line.call("SELECT pg_sleep(2), $1::int, $2::int[]", [0]))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(claims.release(free_chat), 1.0)
        await stall
    finally:
        await claims.close()
        await engine.dispose()


async def test_claims_asked_at_once_share_one_round_trip(pg_url: str) -> None:
    """Fifty chats of one connection claimed at the same moment cost one statement, and so do
    their releases; each answer is still the chat's own (another process sees them taken,
    then free)."""
    engine = create_engine(pg_url)
    a, b = AdvisoryClaims(engine, lines=1), AdvisoryClaims(engine, lines=1)
    line = a._line(0)
    calls: list[int] = []
    real_call = line.call

    async def counted(sql: str, keys: list[int]) -> list[object]:
        calls.append(len(keys))
        return await real_call(sql, keys)

    line.call = counted  # type: ignore[method-assign]
    chats = list(range(9100, 9150))
    try:
        assert await b.try_claim(chats[0])  # the other process holds the first chat
        got = await asyncio.gather(*(a.try_claim(c) for c in chats))
        assert got == [False] + [True] * 49
        assert calls == [50]
        assert not any(await asyncio.gather(*(b.try_claim(c) for c in chats[1:])))
        await asyncio.gather(*(a.release(c) for c in chats[1:]))
        assert calls == [50, 49]
        assert all(await asyncio.gather(*(b.try_claim(c) for c in chats[1:])))
    finally:
        await a.close()
        await b.close()
        await engine.dispose()
