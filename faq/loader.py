"""FaqStore: holds the current FAQ index and rebuilds it when content files change."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from faq.content import DEFAULT_CONTENT_DIR, ContentError, FaqContent, content_files, load_content
from faq.engine import EngineConfig, FaqIndex, SearchResult
from faq.semantic import Embedder, EmbeddingUnavailable

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


class FaqStore:
    """Current FAQ index, reloaded on the next access after content files change (mtime)."""

    def __init__(
        self,
        path: Path = DEFAULT_CONTENT_DIR,
        check_interval: float = 1.0,
        config: EngineConfig | None = None,
        embedder: Embedder | None = None,
        *,
        background: bool = False,
        build_delay: float = 0.0,
    ) -> None:
        """Load the content at `path` now; re-check file mtimes at most every interval s.

        With `background` (the bot), the content is read and checked now, but the index is
        built in a background thread (`index()` waits for it), and content not yet in the
        embedding cache is embedded in the background by the worker: until then the index is
        lexical only. `semantic_ready` is set once the index has the embeddings. The background
        build starts after `build_delay` s (so that start-up and the first replies do not
        share the CPU with it), or at once when a question needs the index sooner."""
        self.path = Path(path)
        self.embedder = embedder
        self.check_interval = check_interval
        self.config = config
        self.background = background and embedder is not None
        self.semantic_ready = threading.Event()
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._signature: Signature = self._scan()
        content = load_content(self.path)  # invalid content still fails at start
        self._built = threading.Event()
        self._index: FaqIndex | None = None
        self._content: FaqContent | None = None  # content whose first build has not started
        self._start_lock = threading.Lock()
        if self.background:
            self._content = content
            if build_delay > 0:
                timer = threading.Timer(build_delay, self.start_build)
                timer.daemon = True
                timer.start()
            else:
                self.start_build()
        else:
            self._index = self._build(content, self._signature)
            self._built.set()

    def start_build(self) -> None:
        """Start the background build of the first index (once; later calls do nothing)."""
        with self._start_lock:
            content, self._content = self._content, None
        if content is not None:
            threading.Thread(target=self._first_build, args=(content,), daemon=True,
                             name="faq-index").start()

    def _first_build(self, content: FaqContent) -> None:
        """Background: the first index (questions wait for it, nothing else does)."""
        try:
            with self._lock:  # the embedding thread swaps its index in only after this
                self._index = self._build(content, self._signature)
            log.info("FAQ index ready: %d entries", len(content.entries))
        except Exception:  # never leave questions waiting forever
            log.exception("FAQ index could not be built")
        finally:
            self._built.set()

    def _build(self, content: FaqContent, signature: Signature) -> FaqIndex:
        """The index now: full, or (in background mode, with content not cached yet) lexical
        while a background thread embeds the content and then swaps the full index in."""
        if not self.background:
            index = build_index(content, self.config, self.embedder)
            self.semantic_ready.set()
            return index
        from faq.embed_client import CachedOnly, WorkerEmbedder

        worker = self.embedder
        assert isinstance(worker, WorkerEmbedder)
        try:
            index = build_index(content, self.config, CachedOnly(worker))
            self.semantic_ready.set()
            log.info("FAQ embeddings ready (all in the cache)")
            return index
        except EmbeddingUnavailable:
            pass
        self.semantic_ready.clear()
        threading.Thread(target=self._embed_content, args=(content, signature), daemon=True,
                         name="faq-embed-content").start()
        return FaqIndex.build(content.entries, config=self.config,
                              not_covered=content.not_covered, semantic=False)

    def _embed_content(self, content: FaqContent, signature: Signature) -> None:
        """Background: embed the content in the worker, then swap in the full index."""
        started = time.monotonic()
        for attempt in range(1, 6):
            try:
                index = build_index(content, self.config, self.embedder)
                break
            except EmbeddingUnavailable as exc:
                log.warning("FAQ content embedding failed (attempt %d): %s", attempt, exc)
                time.sleep(min(60.0, 2.0 ** attempt))
        else:
            log.error("FAQ content not embedded; answering with lexical search only")
            return
        with self._lock:
            if self._signature != signature:
                return  # content changed meanwhile: its own build takes over
            self._index = index
        self.semantic_ready.set()
        log.info("FAQ embeddings ready after %.1f s: %d entries", time.monotonic() - started,
                 len(content.entries))

    def _scan(self) -> Signature:
        """Names, mtimes and sizes of the content files (cheap stat calls)."""
        sig = []
        for f in content_files(self.path):
            try:
                st = f.stat()
            except OSError:
                continue
            sig.append((f.name, st.st_mtime_ns, st.st_size))
        return tuple(sig)

    def index(self) -> FaqIndex:
        """The current index, rebuilt first if the content changed since the last check
        (waits for the first build)."""
        if not self._built.is_set():
            self.start_build()  # a question before the delayed build: build it now
            self._built.wait()
        if self._index is None:
            raise RuntimeError("the FAQ index could not be built (see the log)")
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self._checked_at = now
            self.reload_if_changed()
        index = self._index
        assert index is not None
        return index

    def reload_if_changed(self) -> bool:
        """Rebuild when files changed; keep the old index if the new content is invalid."""
        with self._lock:
            sig = self._scan()
            if sig == self._signature:
                return False
            self._signature = sig
            try:
                content = load_content(self.path)
            except ContentError as exc:
                log.error("FAQ content not reloaded, keeping previous version: %s", exc)
                return False
            self._index = self._build(content, sig)
            log.info("FAQ content reloaded: %d entries", len(content.entries))
            return True

    def search(self, text: str, limit: int = 3) -> SearchResult:
        """Search the current index."""
        return self.index().search(text, limit)


def build_index(
    content: FaqContent, config: EngineConfig | None = None, embedder: Embedder | None = None
) -> FaqIndex:
    """The search index over loaded content (entries and known not-covered questions)."""
    return FaqIndex.build(content.entries, config=config, not_covered=content.not_covered,
                          embedder=embedder)
