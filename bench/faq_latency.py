"""FAQ answer latency: p50/p99 of FaqIndex.search over the real content and over 1,000
SYNTHETIC entries (generated from the real vocabulary, labelled synthetic), as the bot runs it:
the question's embedding is computed by the embedding WORKER process (the trip over the pipe
included). Side by side in the same run: lexical features only (the baseline), and, for the
real content, the embedding computed in this process (how the bot did it before the worker).

The synthetic entries' content vectors are SYNTHETIC random unit vectors by default (embedding
14,000 synthetic phrasings takes over ten minutes; the similarity search costs the same
whatever the values); --embed-synthetic embeds them for real in the worker (cached in
--cache). Questions are always embedded for real.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_content
from faq.embed_client import WorkerEmbedder
from faq.engine import FaqIndex, default_analyzer
from faq.semantic import DEFAULT_CACHE, DIM, E5Embedder, Embedder

HERE = Path(__file__).resolve().parent


def synthetic_entries(real: list[FaqEntry], n: int = 1000, seed: int = 7) -> list[FaqEntry]:
    """SYNTHETIC entries: random recombinations of words from the real content."""
    rng = random.Random(seed)
    analyzer = default_analyzer()
    vocab = sorted({w for e in real for p in e.phrasings.get("zh", []) for w in
                    analyzer.segmenter.cut(p)})
    en_vocab = sorted({w for e in real for p in e.phrasings.get("en", []) for w in p.split()})

    def zh(k: int) -> str:
        return "".join(rng.choice(vocab) for _ in range(k))

    def en(k: int) -> str:
        return " ".join(rng.choice(en_vocab) for _ in range(k))

    return [
        FaqEntry(
            id=f"synthetic_{i:04d}",
            category="synthetic",
            question={"zh": zh(5), "en": en(7)},
            answer={"zh": zh(40), "en": en(60)},
            phrasings={"zh": [zh(4) for _ in range(8)], "en": [en(6) for _ in range(4)]},
            keywords=[rng.choice(vocab) for _ in range(6)],
        )
        for i in range(n)
    ]


class BenchEmbedder:
    """Embedder for the bench: real vectors (through `inner`) for real texts, SYNTHETIC random
    unit vectors for the synthetic entries' texts; questions through `query` (default
    `inner`), always for real."""

    def __init__(self, inner: Embedder, synthetic: set[str] | None = None, seed: int = 11,
                 query: Callable[[str], np.ndarray] | None = None) -> None:
        """Wrap an embedder; texts in `synthetic` get random unit vectors."""
        self.inner = inner
        self.synthetic = synthetic or set()
        self.rng = np.random.default_rng(seed)
        self.query = query or inner.embed_query

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Real vectors for real texts, random unit vectors for synthetic ones."""
        real = [t for t in texts if t not in self.synthetic]
        vecs = dict(zip(real, self.inner.embed(real), strict=True)) if real else {}
        rows = []
        for t in texts:
            if t in vecs:
                rows.append(vecs[t])
            else:
                v = self.rng.standard_normal(DIM).astype(np.float32)
                rows.append(v / np.linalg.norm(v))
        return np.stack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """A real question vector."""
        return self.query(text)


def queries(real: list[FaqEntry], not_covered: list[str], n: int) -> list[str]:
    """Query mix: the entries' own phrasings plus not-covered questions (a fixed sample)."""
    own = [p for e in real for items in e.phrasings.values() for p in items]
    mix = own + not_covered
    return random.Random(3).sample(mix, min(n, len(mix)))


def measure(index: FaqIndex, qs: list[str]) -> tuple[float, float]:
    """p50 and p99 of search latency in milliseconds."""
    times = []
    for q in qs:
        t0 = time.perf_counter()
        index.search(q)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main() -> None:
    """Print search latency for real and synthetic content, worker vs baselines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200, help="questions per measurement")
    parser.add_argument("--embed-synthetic", action="store_true",
                        help="embed the synthetic entries for real (slow; cached in --cache)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="content vector cache (default: the bot's own cache)")
    args = parser.parse_args()
    content = load_content()
    real, nc = content.entries, content.not_covered
    qs = queries(real, nc, args.queries)
    worker = WorkerEmbedder(args.cache or DEFAULT_CACHE)
    try:
        t0 = time.perf_counter()
        assert worker.wait_ready(300), "the embedding worker did not start"
        print(f"embedding worker ready in {(time.perf_counter() - t0) * 1000:.0f} ms; "
              f"load average {os.getloadavg()[0]:.1f} (2 cores shared with other work)")
        local = E5Embedder(cache_path=None)
        local.embed_query("warm up")  # load the model in this process too
        rows: list[tuple[str, bool, Embedder | None]] = [
            ("lexical only (baseline)", False, None),
            ("embedding in this process (before)", True,
             BenchEmbedder(worker, query=local.embed_query)),  # same content vectors
            ("embedding in the worker (the bot)", True, worker)]
        for label, semantic, emb in rows:
            index = FaqIndex.build(real, not_covered=nc, semantic=semantic, embedder=emb)
            p50, p99 = measure(index, qs)
            print(f"REAL content ({len(real)} entries, {len(nc)} not-covered), {label}: "
                  f"{len(qs)} questions: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        synth = synthetic_entries(real)
        texts = {t for e in synth for t in [*e.question.values(),
                                            *(p for ps in e.phrasings.values() for p in ps)]}
        big_emb: Embedder = worker if args.embed_synthetic else BenchEmbedder(worker, texts)
        note = "real vectors" if args.embed_synthetic else "SYNTHETIC content vectors"
        for label, semantic in (("lexical only (baseline)", False),
                                (f"embedding in the worker, {note}", True)):
            t0 = time.perf_counter()
            big = FaqIndex.build(real + synth, not_covered=nc, semantic=semantic,
                                 embedder=big_emb)
            t_big = time.perf_counter() - t0
            p50, p99 = measure(big, qs)
            units = len(big.semantic.unit_vecs) if big.semantic is not None else 0
            print(f"SYNTHETIC: {len(real)} real + {len(synth)} synthetic entries ({units} "
                  f"phrasing vectors), {label} (build {t_big:.1f} s): p50 {p50:.2f} ms, "
                  f"p99 {p99:.2f} ms", flush=True)
        print(f"worker restarts during the run: {worker.crashes}; "
              f"load average {os.getloadavg()[0]:.1f}")
    finally:
        worker.close()


if __name__ == "__main__":
    main()
