"""FAQ answer latency: p50/p99 of FaqIndex.search over the real content and over
1,000 SYNTHETIC entries (generated from the real vocabulary, labelled synthetic)."""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_entries
from faq.engine import FaqIndex, default_analyzer

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


def queries(real: list[FaqEntry]) -> list[str]:
    """Query mix: the entries' own phrasings plus our out-of-scope calibration questions."""
    data = yaml.safe_load((HERE / "faq_calibration.yaml").read_text(encoding="utf-8"))
    own = [p for e in real for items in e.phrasings.values() for p in items]
    return own + list(data["out_of_scope"])


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
    real = load_entries()
    t0 = time.perf_counter()
    index = FaqIndex.build(real)
    t_build = time.perf_counter() - t0
    qs = queries(real)
    p50, p99 = measure(index, qs)
    print(f"jieba init: {t_jieba * 1000:.0f} ms; index build ({len(real)} entries): "
          f"{t_build * 1000:.0f} ms")
    print(f"REAL content ({len(real)} entries), {len(qs)} queries x3: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    synth = synthetic_entries(real)
    t0 = time.perf_counter()
    big = FaqIndex.build(real + synth)
    t_big = time.perf_counter() - t0
    p50, p99 = measure(big, qs)
    print(f"SYNTHETIC: {len(real)} real + {len(synth)} synthetic entries (build "
          f"{t_big * 1000:.0f} ms): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
