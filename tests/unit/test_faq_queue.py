"""The FAQ's own lane: per-user limit, bounded queue, searches off the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from bot.services.faqdesk.queue import FaqLimits, FaqQueue, FaqRefused
from tests.conftest import at

NOW = at("2018-10-08 09:00")


async def test_a_user_over_the_limit_is_told_when_to_ask_again() -> None:
    lane = FaqQueue(FaqLimits(per_user=2, window=timedelta(minutes=1)))
    try:
        assert await lane.run(1, NOW, lambda: "a") == "a"
        assert await lane.run(1, NOW + timedelta(seconds=10), lambda: "b") == "b"
        with pytest.raises(FaqRefused) as refused:
            await lane.run(1, NOW + timedelta(seconds=20), lambda: "c")
        assert refused.value.reason == "user" and refused.value.retry_after == 41
        assert await lane.run(2, NOW + timedelta(seconds=20), lambda: "other user") == \
            "other user"
        assert await lane.run(1, NOW + timedelta(seconds=61), lambda: "later") == "later"
    finally:
        lane.close()


async def test_a_full_queue_refuses_at_once_and_searches_run_off_the_loop() -> None:
    lane = FaqQueue(FaqLimits(workers=1, capacity=2, per_user=100))
    gate = threading.Event()
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def slow() -> int:
        threads.append(threading.get_ident())
        gate.wait(10)
        return 1

    try:
        running = [asyncio.create_task(lane.run(n, NOW, slow)) for n in range(3)]
        await asyncio.sleep(0.05)
        assert lane.depth == 3
        with pytest.raises(FaqRefused) as refused:
            await lane.run(99, NOW, slow)
        assert refused.value.reason == "busy"
        gate.set()
        assert await asyncio.gather(*running) == [1, 1, 1]
        assert lane.depth == 0 and loop_thread not in threads
        assert lane.refused == {"user": 0, "busy": 1}
    finally:
        lane.close()
