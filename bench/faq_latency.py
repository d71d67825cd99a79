"""FAQ answer latency: p50/p99 of FaqIndex.search over the real content and over
1,000 SYNTHETIC entries (generated from the real vocabulary, labelled synthetic), with the
sentence embeddings (the shipped configuration) and, as a baseline, lexical features only."""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_content
from faq.engine import FaqIndex, default_analyzer
from faq.semantic import E5Embedder

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


def queries(real: list[FaqEntry], not_covered: list[str]) -> list[str]:
    """Query mix: the entries' own phrasings plus the not-covered questions."""
    own = [p for e in real for items in e.phrasings.values() for p in items]
    return own + not_covered


def measure(index: FaqIndex, qs: list[str], rounds: int = 3) -> tuple[float, float]:
    """p50 and p99 of search latency in milliseconds."""
    times = []
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            index.search(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main() -> None:
    """Print build time and search latency for real and synthetic content."""
    t0 = time.perf_counter()
    default_analyzer().segmenter.cut("初始化")
    t_jieba = time.perf_counter() - t0
    content = load_content()
    real, nc = content.entries, content.not_covered
    embedder = E5Embedder(cache_path=None)  # as the bot runs it; no disk cache: builds are measured
    t0 = time.perf_counter()
    embedder.embed(["初始化"])
    t_model = time.perf_counter() - t0
    qs = queries(real, nc)
    print(f"jieba init: {t_jieba * 1000:.0f} ms; embedding model load: {t_model * 1000:.0f} ms")
    for label, semantic in (("lexical only (baseline)", False), ("with embeddings", True)):
        t0 = time.perf_counter()
        index = FaqIndex.build(real, not_covered=nc, semantic=semantic, embedder=embedder)
        t_build = time.perf_counter() - t0
        p50, p99 = measure(index, qs)
        print(f"REAL content ({len(real)} entries, {len(nc)} not-covered), {label}: build "
              f"{t_build * 1000:.0f} ms; {len(qs)} queries x3: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    synth = synthetic_entries(real)
    for label, semantic in (("lexical only (baseline)", False), ("with embeddings", True)):
        t0 = time.perf_counter()
        big = FaqIndex.build(real + synth, not_covered=nc, semantic=semantic, embedder=embedder)
        t_big = time.perf_counter() - t0
        p50, p99 = measure(big, qs, rounds=1)
        print(f"SYNTHETIC: {len(real)} real + {len(synth)} synthetic entries, {label} (build "
              f"{t_big:.1f} s): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
