"""The embedding worker process and its supervision: the real worker gives the same vectors
as the in-process engine; a worker that aborts, hangs or answers garbage costs one question
(EmbeddingUnavailable, so the search falls back to lexical) and is restarted."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from faq.content import load_content
from faq.embed_client import WorkerEmbedder
from faq.engine import FaqIndex
from faq.loader import FaqStore
from faq.semantic import E5Embedder, EmbeddingUnavailable

FAKE = [sys.executable, str(Path(__file__).with_name("fake_embed_worker.py"))]


@pytest.fixture
def fake() -> Iterator[WorkerEmbedder]:
    """A supervised fake worker with short timeouts and backoff."""
    worker = WorkerEmbedder(None, command=FAKE, query_timeout=1.0, backoff=(0.1, 0.5))
    assert worker.wait_ready(30)
    yield worker
    worker.close()


def _wait_alive(worker: WorkerEmbedder, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not worker.alive():
        assert time.monotonic() < deadline, "the worker was not restarted"
        time.sleep(0.05)


def test_real_worker_matches_the_in_process_engine(tmp_path: Path) -> None:
    cache = tmp_path / "faq.npz"
    worker = WorkerEmbedder(cache)
    try:
        assert worker.wait_ready(60) and worker.alive()
        q = worker.embed_query("普查员上门要收费吗")
        content = worker.embed(["普查收不收钱", "今天天气怎么样"])
        local = E5Embedder(cache_path=None)
        assert np.allclose(q, local.embed_query("普查员上门要收费吗"), atol=1e-5)
        assert np.allclose(content, local.embed(["普查收不收钱", "今天天气怎么样"]), atol=1e-5)
        assert cache.exists(), "the worker writes the content cache"
        assert np.allclose(WorkerEmbedder(cache).cached(["今天天气怎么样"]), content[1:])
        with pytest.raises(EmbeddingUnavailable):
            WorkerEmbedder(cache).cached(["never embedded"])
    finally:
        worker.close()
    assert not worker.alive()


def test_a_crash_costs_one_question_and_the_worker_restarts(fake: WorkerEmbedder) -> None:
    before = fake.embed_query("普查是什么")
    first_pid = fake._proc.pid if fake._proc else None
    with pytest.raises(EmbeddingUnavailable):
        fake.embed_query("CRASH please")
    assert fake.crashes == 1
    _wait_alive(fake)
    assert fake._proc is not None and fake._proc.pid != first_pid
    assert np.allclose(fake.embed_query("普查是什么"), before)


def test_a_hang_times_out_and_the_worker_restarts(fake: WorkerEmbedder) -> None:
    t0 = time.monotonic()
    with pytest.raises(EmbeddingUnavailable):
        fake.embed_query("HANG forever")
    assert time.monotonic() - t0 < 3.0, "a hung worker must not hold the question"
    _wait_alive(fake)
    assert fake.embed_query("ok").shape == (384,)


def test_garbage_from_the_worker_is_a_crash(fake: WorkerEmbedder) -> None:
    with pytest.raises(EmbeddingUnavailable):
        fake.embed_query("GARBAGE")
    _wait_alive(fake)
    assert fake.embed_query("ok").shape == (384,)


def test_repeated_crashes_back_off(fake: WorkerEmbedder) -> None:
    for _ in range(3):
        _wait_alive(fake)
        with pytest.raises(EmbeddingUnavailable):
            fake.embed_query("CRASH")
    assert fake._failures == 3
    t0 = time.monotonic()
    _wait_alive(fake)
    assert time.monotonic() - t0 >= 0.3  # 0.1, 0.2, then 0.4 s before the third restart
    fake.embed_query("fine")
    assert fake._failures == 0, "a success resets the backoff"


def test_search_falls_back_to_lexical_when_the_worker_crashes(fake: WorkerEmbedder) -> None:
    content = load_content()
    index = FaqIndex.build(content.entries, not_covered=content.not_covered, embedder=fake)
    lexical = FaqIndex.build(content.entries, not_covered=content.not_covered, semantic=False)
    question = "怎么核实普查员的身份 CRASH"
    result = index.search(question)
    assert fake.crashes == 1
    assert result == lexical.search(question)  # that one question: lexical features only


def test_the_store_answers_lexically_until_content_is_embedded(tmp_path: Path) -> None:
    worker = WorkerEmbedder(tmp_path / "empty.npz", command=[*FAKE, "--slow-start"])
    try:
        store = FaqStore(check_interval=3600, embedder=worker, background=True)
        assert store.index().semantic is None, "loading must not wait for embeddings"
        assert store.search("怎么核实普查员的身份").candidates
        assert store.semantic_ready.wait(60)
        assert store.index().semantic is not None
        # a new store over content already embedded builds the full index at once
        again = FaqStore(check_interval=3600, embedder=worker, background=True)
        assert again.index().semantic is not None and again.semantic_ready.is_set()
    finally:
        worker.close()


def test_questions_asked_together_go_in_one_request_with_their_own_vectors() -> None:
    """While one question is with the worker, the next ones wait and then go together; each
    gets its own vector."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.unit.fake_embed_worker import vector

    worker = WorkerEmbedder(None, command=[*FAKE, "--slow-query"], query_timeout=5.0)
    try:
        assert worker.wait_ready(30)
        texts = [f"问题{n}" for n in range(12)]
        with ThreadPoolExecutor(12) as pool:
            vecs = list(pool.map(worker.embed_query, texts))
        for text, vec in zip(texts, vecs, strict=True):
            assert np.allclose(vec, vector(text))
        assert worker._seq < len(texts), "questions waiting together were not batched"
        assert not worker._queued
    finally:
        worker.close()


def test_a_failed_batch_fails_each_of_its_questions(fake: WorkerEmbedder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def ask(text: str) -> str:
        try:
            fake.embed_query(text)
            return "ok"
        except EmbeddingUnavailable:
            return "unavailable"

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(ask, ["CRASH now", *[f"问题{n}" for n in range(5)]]))
    assert results[0] == "unavailable"
    assert set(results) <= {"ok", "unavailable"}
    _wait_alive(fake)
    assert fake.embed_query("普查是什么").shape == (384,)


def test_content_is_embedded_at_a_lower_priority_than_questions() -> None:
    """Content jobs run on a thread niced below the caller (the caller keeps its priority)."""
    import os
    import threading

    from faq.embed_worker import LowPriority

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    low = LowPriority(5)
    seen = low.run(lambda: np.array([os.getpriority(os.PRIO_PROCESS, threading.get_native_id())]))
    assert seen[0] == min(19, mine + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    with pytest.raises(ZeroDivisionError):
        low.run(lambda: np.array([1 / 0]))
