"""The sender's RateLimiter on a simulated clock: the sliding window, 429 pauses, chat limits."""

from __future__ import annotations

import bisect
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.limits import RateLimiter


class Mono:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _simulate(rate: float, sends: list[tuple[float, float, float]]
              ) -> tuple[RateLimiter, list[tuple[float, float]], list[tuple[float, float]]]:
    """Start each send as soon as the limiter allows after its wish, `gap` after the previous
    start; it is answered `latency` later, and a `retry_after` > 0 answer pauses everything.
    Returns the limiter, each send's (start, answer) and each pause's (from, until)."""
    mono = Mono()
    limiter = RateLimiter(rate, 1.0, 20, mono)
    open_: list[tuple[float, int, float]] = []  # (answer time, token, retry_after)
    spans: list[tuple[float, float]] = []
    pauses: list[tuple[float, float]] = []
    wish = 0.0

    def answer_until(t: float) -> None:
        open_.sort()
        while open_ and open_[0][0] <= t:
            end, token, retry_after = open_.pop(0)
            mono.t = end
            limiter.done(token)
            if retry_after > 0:
                limiter.pause(retry_after)
                pauses.append((end, end + retry_after))

    for gap, latency, retry_after in sends:
        wish += gap
        t = wish
        while True:
            answer_until(t)
            mono.t = max(mono.t, t)
            wait = limiter.global_wait()
            if wait == 0:
                break
            if wait == math.inf:
                assert open_, "the window is full of sends in flight, yet none is"
                t = min(end for end, _, _ in open_)
            else:
                t = mono.t + wait
        start = mono.t
        token = limiter.start()
        open_.append((start + latency, token, retry_after))
        spans.append((start, start + latency))
        wish = start
    answer_until(math.inf)
    return limiter, spans, pauses


def _most_in_a_window(points: list[float], window: float) -> int:
    points = sorted(points)
    return max((bisect.bisect_left(points, p + window) - i for i, p in enumerate(points)),
               default=0)


sends = st.lists(st.tuples(st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.05, 0.3, 1.5]),
                           st.floats(0.0, 0.4),
                           st.sampled_from([0.0] * 12 + [0.5, 1.0, 3.0])),
                 min_size=1, max_size=160)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1.0, 2.0, 7.0, 25.0, 30.0, 0.5, 12.5]), sends)
def test_no_one_second_window_holds_more_than_rate_starts(rate: float,
                                                          plan: list[tuple[float, float, float]]
                                                          ) -> None:
    limiter, spans, _ = _simulate(rate, plan)
    window = max(1.0, 1.0 / rate)
    assert limiter.capacity <= rate * window
    starts = [s for s, _ in spans]
    assert _most_in_a_window(starts, 1.0) <= max(1, math.floor(rate))
    assert _most_in_a_window(starts, window) <= limiter.capacity


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([2.0, 7.0, 25.0, 60.0]), sends)
def test_no_window_holds_more_than_rate_arrivals_whatever_the_latency(
        rate: float, plan: list[tuple[float, float, float]]) -> None:
    """Telegram receives each call at some moment between its start and its answer; however
    those moments fall, no one-second window of them holds more than `rate`."""
    limiter, spans, _ = _simulate(rate, plan)
    # The most calls that can share a window [a, a+1) is reached with `a` at some call's answer.
    for a in {end for _, end in spans}:
        overlapping = sum(1 for s, e in spans if e >= a and s < a + 1.0)
        assert overlapping <= limiter.capacity


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([5.0, 25.0]), sends)
def test_nothing_starts_during_a_429_pause(rate: float,
                                           plan: list[tuple[float, float, float]]) -> None:
    _, spans, pauses = _simulate(rate, plan)
    for start, _ in spans:
        assert not any(begin < start < until - 1e-9 for begin, until in pauses)


def test_back_to_back_sends_use_the_whole_window() -> None:
    """Answered at once, 25 sends start at 0 and the 26th exactly one second later."""
    limiter, spans, _ = _simulate(25.0, [(0.0, 0.0, 0.0)] * 60)
    starts = [s for s, _ in spans]
    assert starts[:25] == [0.0] * 25 and starts[25] == 1.0 and starts[50] == 2.0
    assert limiter.capacity == 25


def test_a_slow_answer_keeps_its_place_until_one_second_after_it() -> None:
    mono = Mono()
    limiter = RateLimiter(2.0, 1.0, 20, mono)
    first, second = limiter.start(), limiter.start()
    assert limiter.global_wait() == math.inf  # both places are calls in flight
    mono.t = 0.3
    limiter.done(first)
    assert limiter.global_wait() == 1.0  # first answered at 0.3: its place is free at 1.3
    mono.t = 5.0
    limiter.done(second)
    assert limiter.global_wait() == 0.0
    limiter.start()
    assert limiter.global_wait() == 1.0  # the second's answer (5.0) holds a place until 6.0


def test_chat_interval_and_group_minute() -> None:
    mono = Mono()
    limiter = RateLimiter(30.0, 1.0, 3, mono)
    limiter.record(1, False)
    assert limiter.chat_wait(1, False) == 1.0 and limiter.cooling() == {1}
    for n in range(3):
        mono.t = 10.0 * n
        limiter.record(-5, True)
    mono.t = 25.0
    assert limiter.chat_wait(-5, True) == 35.0  # the first of three in a minute was at 0
    assert -5 in limiter.cooling()
    mono.t = 60.0
    assert limiter.chat_wait(-5, True) == 0.0
