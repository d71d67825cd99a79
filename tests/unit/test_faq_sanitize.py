"""Untrusted text before search and embedding: normalised, stripped of control and format
characters, zalgo collapsed, bounded; and (property test) any text at all, driven through the
REAL embedding worker, leaves this process alive with an answer."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq.content import load_content
from faq.embed_client import WorkerEmbedder
from faq.engine import FaqIndex, SearchResult
from faq.sanitize import MAX_MARKS, MAX_TEXT_CHARS, clean_text
from faq.semantic import DEFAULT_CACHE, EmbeddingUnavailable

# every code point, surrogates included; ligatures that expand under NFKC (U+FDFA ﷺ
# becomes 18 characters) and combining marks are drawn more often
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
HOSTILE = st.lists(
    st.sampled_from(["\ufdfa", "\ufdfb", "\u3300", "\ufb03", "\u0301", "\u0489", "\u202e",
                     "\u200b", "\u2066", "\x00", "\x1b", "<", "普查", "ﾌﾟ", "a"]),
    max_size=600).map("".join)
LONG = st.integers(1, 40).map(lambda n: "普查员怎么核实身份" + "\ufdfa" * n * 10)
TEXTS = st.one_of(ANY_TEXT, HOSTILE, LONG)


def _marks_run(text: str) -> int:
    run = best = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        best = max(best, run)
    return best


@given(TEXTS)
@settings(max_examples=300, deadline=None)
def test_clean_text_is_safe_bounded_and_idempotent(text: str) -> None:
    out = clean_text(text)
    assert len(out) <= MAX_TEXT_CHARS
    assert unicodedata.normalize("NFKC", out) == out
    assert not any(unicodedata.category(ch)[0] == "C" for ch in out)
    assert _marks_run(out) <= MAX_MARKS
    assert out == out.strip() and "  " not in out
    assert clean_text(out) == out


def test_hostile_classes() -> None:
    assert clean_text("普查\u202e员\u200b证\u2066真假\u2069") == "普查员证真假"
    assert clean_text("a\x00b\x1b[31mc\td\ne") == "ab[31mc d e"
    assert clean_text("Ｈｅｌｌｏ　ﾌﾟ") == "Hello プ"  # width folded
    assert clean_text("\ufdfa") == "صلى الله عليه وسلم"  # expands under NFKC
    zalgo = clean_text("z" + "\u0301\u0316\u0489" * 200 + "end")
    assert zalgo.startswith("ź") and zalgo.endswith("end") and len(zalgo) <= 8
    assert len(clean_text("<" * 4000)) == MAX_TEXT_CHARS
    assert len(clean_text("问" + "\ufdfa" * 5000)) <= MAX_TEXT_CHARS
    assert clean_text("\u200b\u202e\x00") == ""


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerEmbedder]:
    """The real embedding worker (the shipped model), on the default content cache."""
    w = WorkerEmbedder(DEFAULT_CACHE, query_timeout=10.0)
    assert w.wait_ready(120)
    yield w
    w.close()


@pytest.fixture(scope="module")
def index(worker: WorkerEmbedder) -> FaqIndex:
    """The real content, its embeddings computed by the worker."""
    content = load_content()
    return FaqIndex.build(content.entries, not_covered=content.not_covered, embedder=worker)


@given(TEXTS)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_text_through_the_real_worker_gets_an_answer(
    index: FaqIndex, worker: WorkerEmbedder, text: str
) -> None:
    # raw text straight to the worker: it cleans again before the native engine sees it
    try:
        vec = worker.embed_query(text)
        assert vec.shape == (384,)
    except EmbeddingUnavailable:
        pass  # the worker died or timed out on it: this process is still here
    result = index.search(text)
    assert isinstance(result, SearchResult)
    assert 0.0 <= result.score <= 1.0


def test_the_poison_question_is_answered_by_the_worker(worker: WorkerEmbedder,
                                                       index: FaqIndex) -> None:
    crashes = worker.crashes
    result = index.search("普查员怎么核实身份" + "\ufdfa" * 50)
    assert isinstance(result, SearchResult)
    assert worker.crashes == crashes, "cleaned text must not crash the native engine"
    assert worker.alive()


def test_censusbot_faq_ask_survives_the_poison_question() -> None:
    """The question that used to abort the whole command (exit 134) is answered."""
    import json
    import subprocess
    import sys

    poison = "普查员怎么核实身份" + "\ufdfa" * 50
    done = subprocess.run([sys.executable, "-m", "bot.cli.main", "faq", "ask", "--json", poison],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "verify_enumerator" in [answer["topic"], *answer["alternatives"]]
