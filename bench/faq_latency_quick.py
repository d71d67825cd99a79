"""Bounded FAQ latency re-measure (a few minutes instead of embedding 1,000 entries from
scratch): 300 sampled queries over the real content with the real, disk-cached embedder, and
over 35 real + 1,000 SYNTHETIC entries whose content vectors are random (SYNTHETIC, labelled)
while each query is embedded for real; content vector values do not change the per-query cost.
Each configuration also runs with lexical features only (the baseline) and with the query
vectors precomputed (the engine's own work around the one embedding, model time excluded)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_latency import measure, queries, synthetic_entries

from faq.content import load_content
from faq.engine import FaqIndex
from faq.semantic import Embedder, shared_embedder


class RandomContent:
    """SYNTHETIC random unit vectors for content texts; real query embeddings."""

    def __init__(self, real: Embedder) -> None:
        """Wrap the real embedder (used for queries only)."""
        self.real = real
        self.rng = np.random.default_rng(7)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Random unit vectors (SYNTHETIC)."""
        v = self.rng.standard_normal((len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def embed_query(self, text: str) -> np.ndarray:
        """The real query embedding."""
        return self.real.embed_query(text)


class Precomputed:
    """Query vectors embedded once and then reused: timing excludes the model."""

    def __init__(self, inner: Embedder) -> None:
        """Wrap an embedder."""
        self.inner = inner
        self.q: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Content vectors from the wrapped embedder."""
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """The query vector, embedded on first use."""
        if text not in self.q:
            self.q[text] = self.inner.embed_query(text)
        return self.q[text]


def main() -> None:
    """Print p50/p99 per configuration."""
    content = load_content()
    real, nc = content.entries, content.not_covered
    emb = shared_embedder()
    sample = queries(real, nc, 300)
    synth = synthetic_entries(real)
    for label, entries, content_emb in (("REAL", real, emb),
                                        ("35 real + 1,000 SYNTHETIC", real + synth,
                                         RandomContent(emb))):
        for mode, semantic, embedder in (("lexical only (baseline)", False, content_emb),
                                         ("with embeddings", True, content_emb),
                                         ("model time excluded", True, Precomputed(content_emb))):
            index = FaqIndex.build(entries, not_covered=nc, semantic=semantic, embedder=embedder)
            if isinstance(embedder, Precomputed):
                measure(index, sample)
            p50, p99 = measure(index, sample)
            print(f"{label}, {mode}: {len(sample)} queries: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    t0 = time.perf_counter()
    for q in sample[:100]:
        emb.embed_query(q)
    print(f"one query embedding alone: mean {(time.perf_counter() - t0) * 10:.2f} ms")


if __name__ == "__main__":
    main()
