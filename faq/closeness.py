"""Semantic closeness of a question to the FAQ entries: sentence embeddings of every entry
question and phrasing and of the not-covered questions, one query embedding per question."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faq.content import FaqEntry
from faq.semantic import Embedder, EmbeddingUnavailable


@dataclass
class Closeness:
    """Embeddings of every question/phrasing (with its entry) and of the not-covered list."""

    embedder: Embedder
    unit_vecs: np.ndarray  # (units, dim), L2-normalised
    unit_doc: np.ndarray  # entry index of each row
    neg_vecs: np.ndarray  # (not-covered questions, dim)

    @classmethod
    def build(cls, embedder: Embedder, entries: list[FaqEntry],
              not_covered: list[str]) -> Closeness:
        """Embed the entries' questions and phrasings and the not-covered questions."""
        texts, docs = [], []
        for n, entry in enumerate(entries):
            phrasings = [p for items in entry.phrasings.values() for p in items]
            for text in [*entry.question.values(), *phrasings]:
                texts.append(text)
                docs.append(n)
        return cls(embedder=embedder, unit_vecs=embedder.embed(texts),
                   unit_doc=np.asarray(docs, dtype=np.int64),
                   neg_vecs=embedder.embed(not_covered))

    def query(self, text: str, n_docs: int) -> tuple[np.ndarray, float] | None:
        """Embed the question once: each entry's best phrasing cosine, and the best cosine
        with a known not-covered question (nan when there are none); None when the embedding
        worker cannot answer now (that question is searched lexically)."""
        try:
            q = self.embedder.embed_query(text)
        except EmbeddingUnavailable:
            return None
        best = np.full(n_docs, -1.0)
        if len(self.unit_vecs):
            # units are stored entry by entry: one reduceat gives each entry's best cosine.
            # einsum, not `@`: a matrix-vector product through multithreaded BLAS stalls on a
            # busy machine (33 ms instead of 8 ms for 15,000 phrasings on 2 loaded cores)
            sims = np.einsum("ij,j->i", self.unit_vecs, q)
            starts = np.flatnonzero(np.r_[True, self.unit_doc[1:] != self.unit_doc[:-1]])
            best[self.unit_doc[starts]] = np.maximum.reduceat(sims, starts)
        neg = (float(np.einsum("ij,j->i", self.neg_vecs, q).max()) if len(self.neg_vecs)
               else float("nan"))
        return best, neg

    @staticmethod
    def features(best: np.ndarray, neg: float, doc: int) -> tuple[float, float, float]:
        """(best cosine with `doc`, its gap to not-covered, its gap to other entries)."""
        mine = float(best[doc])
        # with nothing to compare against, a gap is neutral (0) rather than the whole score
        other = float(np.delete(best, doc).max()) if len(best) > 1 else mine
        return mine, mine - (mine if math.isnan(neg) else neg), mine - other


def relative(sims: np.ndarray) -> np.ndarray:
    """Semantic closeness of each entry relative to the others for this question: 1 for the
    closest, 0 at the median, negative below."""
    top = float(sims.max())
    mid = float(np.median(sims))
    return (sims - mid) / max(top - mid, 1e-6)
