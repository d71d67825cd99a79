"""FaqStore: holds the current FAQ index and rebuilds it when content files change."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from faq.content import DEFAULT_CONTENT_DIR, ContentError, content_files, load_entries
from faq.engine import EngineConfig, FaqIndex, SearchResult

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


class FaqStore:
    """Current FAQ index, reloaded on the next access after content files change (mtime)."""

    def __init__(
        self,
        path: Path = DEFAULT_CONTENT_DIR,
        check_interval: float = 1.0,
        config: EngineConfig | None = None,
    ) -> None:
        """Load the content at `path` now; re-check file mtimes at most every interval s."""
        self.path = Path(path)
        self.check_interval = check_interval
        self.config = config
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._signature: Signature = self._scan()
        self._index = FaqIndex.build(load_entries(self.path), config=config)

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
        """The current index, rebuilt first if the content changed since the last check."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self._checked_at = now
            self.reload_if_changed()
        return self._index

    def reload_if_changed(self) -> bool:
        """Rebuild when files changed; keep the old index if the new content is invalid."""
        with self._lock:
            sig = self._scan()
            if sig == self._signature:
                return False
            self._signature = sig
            try:
                entries = load_entries(self.path)
            except ContentError as exc:
                log.error("FAQ content not reloaded, keeping previous version: %s", exc)
                return False
            self._index = FaqIndex.build(entries, config=self.config)
            log.info("FAQ content reloaded: %d entries", len(entries))
            return True

    def search(self, text: str, limit: int = 3) -> SearchResult:
        """Search the current index."""
        return self.index().search(text, limit)
