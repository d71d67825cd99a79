"""The bot's side of the embedding worker: a supervised child process behind the `Embedder`
interface.

`WorkerEmbedder` starts `python -m faq.embed_worker` and talks to it over pipes, one request
at a time. A request that fails (the worker crashed, hung past its timeout, or answered
garbage) raises `EmbeddingUnavailable`, so the caller falls back to lexical search; the
worker is killed and started again after a backoff (0.5 s doubling to 30 s, reset by the next
success). `alive()` tells a health check whether a worker is up and ready.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faq.embed_protocol import (
    ProtocolError,
    body_vectors,
    encode_frame,
    read_frame,
    write_all,
)
from faq.sanitize import clean_text
from faq.semantic import DEFAULT_CACHE, DIM, EmbeddingUnavailable, read_cache

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 5.0  # one question's trip to the worker, including waiting for the pipe
# A question's embedding sees its first characters only: the engine's cost grows with the
# length (about 1.5 s for 160 characters of Chinese on a busy 2-core machine, 3.5 s for 500);
# lexical search still reads the whole (bounded) question.
QUERY_CHARS = 160
CONTENT_TIMEOUT = 300.0  # one chunk of content texts
START_TIMEOUT = 120.0  # loading the model
FIRST_WAIT = 20.0  # a question may wait this long for the first worker to load its model
CHUNK = 8  # content texts per request, so questions never wait long behind the cache build
CONTENT_ATTEMPTS = 3  # a content chunk is tried on this many workers before giving up
QUERY_BATCH = 8  # questions sent to the worker together at most


class _Slot:
    """One question waiting for its vector (set by whoever sends it to the worker)."""

    __slots__ = ("error", "text", "vector")

    def __init__(self, text: str) -> None:
        """A question's text, not yet embedded."""
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


def worker_command(cache_path: Path | None, threads: int = 1) -> list[str]:
    """The command line of a worker process."""
    cmd = [sys.executable, "-m", "faq.embed_worker", "--threads", str(threads)]
    if cache_path is not None:
        cmd += ["--cache", str(cache_path)]
    return cmd


class WorkerEmbedder:
    """Embedder whose native engine runs in a supervised worker process (thread-safe)."""

    def __init__(
        self,
        cache_path: Path | None = DEFAULT_CACHE,
        *,
        threads: int = 1,
        query_timeout: float = QUERY_TIMEOUT,
        content_timeout: float = CONTENT_TIMEOUT,
        start_timeout: float = START_TIMEOUT,
        first_wait: float = FIRST_WAIT,
        backoff: tuple[float, float] = (0.5, 30.0),
        command: list[str] | None = None,
    ) -> None:
        """Prepare; the worker starts with `start()` (or the first request that needs it)."""
        self.cache_path = cache_path
        self.query_timeout = query_timeout
        self.content_timeout = content_timeout
        self.start_timeout = start_timeout
        self.first_wait = first_wait
        self.backoff = backoff
        self.command = command or worker_command(cache_path, threads)
        self.crashes = 0  # workers lost (crash, hang, garbage); for logs, tests and benches
        self.starts = 0
        self._cond = threading.Condition()
        self._io = threading.Lock()  # one request at a time on the pipe
        self._proc: subprocess.Popen[bytes] | None = None
        self._starting: subprocess.Popen[bytes] | None = None
        self._failures = 0
        self._next_start = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._memo: dict[str, np.ndarray] | None = None
        self._batch_lock = threading.Lock()
        self._queued: list[_Slot] = []  # questions waiting for the pipe

    # -- supervision ---------------------------------------------------------------------
    def start(self) -> None:
        """Start supervising (the worker starts in the background); idempotent."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._supervise, daemon=True,
                                                name="faq-embed-supervisor")
                self._thread.start()

    def alive(self) -> bool:
        """Whether a worker process is running and ready for requests."""
        with self._cond:
            return self._proc is not None and self._proc.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """Start if needed and wait up to `timeout` s for a ready worker."""
        self.start()
        with self._cond:
            return self._cond.wait_for(lambda: self._proc is not None or self._closed, timeout) \
                and self._proc is not None

    def close(self) -> None:
        """Stop the worker and the supervisor."""
        with self._cond:
            self._closed = True
            procs = [p for p in (self._proc, self._starting) if p is not None]
            self._proc = None
            self._cond.notify_all()
        for proc in procs:
            _stop(proc)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _supervise(self) -> None:
        """Keep one worker running: start it, watch it, restart it after a backoff."""
        while True:
            dead = None
            with self._cond:
                while not self._closed and self._proc is not None:
                    if self._proc.poll() is not None:
                        dead = self._proc
                        self._lost(dead, f"exited with code {dead.returncode}")
                        break
                    self._cond.wait(0.5)
                closed = self._closed
                delay = self._next_start - time.monotonic()
                if not closed and dead is None and delay > 0:
                    self._cond.wait(delay)
                    continue
            if dead is not None:
                _stop(dead)
                continue
            if closed:
                return
            self._spawn()

    def _spawn(self) -> None:
        """Start one worker and wait for its ready frame."""
        try:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    close_fds=True, cwd=str(Path(__file__).resolve().parents[1]))
        except OSError as exc:
            log.error("FAQ embedding worker could not start: %s", exc)
            with self._cond:
                self._failed()
            return
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        os.set_blocking(proc.stdout.fileno(), False)
        with self._cond:
            if self._closed:
                _stop(proc)
                return
            self._starting = proc
        try:
            header, _ = read_frame(proc.stdout.fileno(), time.monotonic() + self.start_timeout)
            if header.get("op") != "ready":
                raise ProtocolError(f"unexpected first frame {header!r}")
        except ProtocolError as exc:
            _stop(proc)
            with self._cond:
                self._starting = None
                if self._closed:
                    return
                self._failed()
            log.error("FAQ embedding worker did not start: %s", exc)
            return
        with self._cond:
            self._starting = None
            if self._closed:
                _stop(proc)
                return
            self._proc = proc
            self.starts += 1
            self._cond.notify_all()
        log.info("FAQ embedding worker ready (pid %s)", proc.pid)

    def _failed(self) -> None:
        """Count a failure and set the next start time (call with the condition held)."""
        self._failures += 1
        low, high = self.backoff
        self._next_start = time.monotonic() + min(high, low * 2 ** (self._failures - 1))
        self._cond.notify_all()

    def _lost(self, proc: subprocess.Popen[bytes], reason: str) -> None:
        """Forget a broken worker (call with the condition held); it is killed elsewhere."""
        if self._proc is proc:
            self._proc = None
            self.crashes += 1
            log.warning("FAQ embedding worker lost (%s); questions use lexical search until "
                        "it restarts", reason)
            self._failed()

    # -- requests ------------------------------------------------------------------------
    def _request(self, op: str, texts: list[str], timeout: float,
                 wait_ready: float = 0.0) -> np.ndarray:
        """Send one request and return its vectors, or raise EmbeddingUnavailable."""
        self._ready(wait_ready)
        deadline = time.monotonic() + timeout
        if not self._io.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise EmbeddingUnavailable("embedding worker busy")
        try:
            return self._exchange(op, texts, deadline)
        finally:
            self._io.release()

    def _ready(self, wait_ready: float) -> None:
        """Start supervising, waiting up to `wait_ready` s for a ready worker."""
        if wait_ready > 0:
            self.wait_ready(wait_ready)
        else:
            self.start()

    def _exchange(self, op: str, texts: list[str], deadline: float) -> np.ndarray:
        """One request and its answer on the pipe (call holding `_io`)."""
        with self._cond:
            proc = self._proc
            if proc is None or self._closed:
                raise EmbeddingUnavailable("embedding worker not running")
            self._seq += 1
            rid = self._seq
        assert proc.stdin is not None and proc.stdout is not None
        try:
            write_all(proc.stdin.fileno(),
                      encode_frame({"id": rid, "op": op, "texts": texts}), deadline)
            header, body = read_frame(proc.stdout.fileno(), deadline)
            if header.get("id") != rid:
                raise ProtocolError(f"answer to request {header.get('id')}, not {rid}")
            if not header.get("ok"):
                raise EmbeddingUnavailable(f"worker refused: {header.get('error')}")
            vecs = body_vectors(body, int(header.get("rows", -1)), int(header.get("dim", 0)))
        except ProtocolError as exc:
            with self._cond:
                self._lost(proc, str(exc))
            _stop(proc)
            raise EmbeddingUnavailable(f"embedding worker failed: {exc}") from exc
        with self._cond:
            self._failures = 0
        return vecs

    def embed_query(self, text: str) -> np.ndarray:
        """Vector of one (cleaned) query; raises EmbeddingUnavailable when the worker is not
        up or fails on it (the worker is then restarted).

        Questions asked while another is with the worker wait for it and then go together
        in one request (one engine call): nobody waits longer than behind one request, and
        the worker's time per question drops when questions come in bursts."""
        slot = _Slot(clean_text(text, max_chars=QUERY_CHARS) or " ")
        with self._cond:  # the very first worker may still be loading: wait a little for it
            first = self.starts == 0 and self._failures == 0
        self._ready(self.first_wait if first else 0.0)
        deadline = time.monotonic() + self.query_timeout
        with self._batch_lock:
            self._queued.append(slot)
        if not self._io.acquire(timeout=max(0.0, deadline - time.monotonic())):
            with self._batch_lock:
                if slot in self._queued:
                    self._queued.remove(slot)
            if slot.vector is not None:
                return slot.vector
            raise EmbeddingUnavailable("embedding worker busy")
        try:
            if slot.vector is None and slot.error is None:  # nobody took it: lead a batch
                with self._batch_lock:  # this question and the next ones waiting
                    others = [s for s in self._queued if s is not slot][:QUERY_BATCH - 1]
                    batch = [slot, *others]
                    self._queued = [s for s in self._queued if s not in batch]
                try:
                    vecs = self._exchange("query", [s.text for s in batch], deadline)
                    for s, vec in zip(batch, vecs, strict=True):
                        s.vector = vec
                except EmbeddingUnavailable as exc:
                    for s in batch:
                        s.error = exc
                    raise
        finally:
            self._io.release()
        if slot.error is not None:
            raise EmbeddingUnavailable(str(slot.error))
        assert slot.vector is not None
        return slot.vector

    def _known(self) -> dict[str, np.ndarray]:
        """Content vectors known in this process (read from the disk cache once)."""
        if self._memo is None:
            self._memo = read_cache(self.cache_path) if self.cache_path is not None else {}
        return self._memo

    def cached(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of content texts from the cache alone; raises EmbeddingUnavailable when
        any is missing (nothing is computed)."""
        keys = [clean_text(t) or " " for t in texts]
        with self._cond:
            known = self._known()
            missing = [k for k in keys if k not in known]
            if missing:
                raise EmbeddingUnavailable(f"{len(missing)} content texts not embedded yet")
            return _stack([known[k] for k in keys])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of content texts, computing the missing ones in the worker (blocks; a
        chunk is retried on a restarted worker, then EmbeddingUnavailable)."""
        keys = [clean_text(t) or " " for t in texts]
        with self._cond:
            known = dict(self._known())
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start:start + CHUNK]
            for attempt in range(1, CONTENT_ATTEMPTS + 1):
                try:
                    vecs = self._request("content", chunk, self.content_timeout,
                                         wait_ready=self.start_timeout)
                    break
                except EmbeddingUnavailable:
                    if attempt == CONTENT_ATTEMPTS:
                        raise
            with self._cond:
                for key, vec in zip(chunk, vecs, strict=True):
                    self._known()[key] = known[key] = vec
        if missing:
            try:
                self._request("save", [], self.content_timeout)
            except EmbeddingUnavailable as exc:
                log.warning("FAQ embedding cache not saved: %s", exc)
        return _stack([known[k] for k in keys])


class CachedOnly:
    """An embedder view that never computes content vectors: the cache, or
    EmbeddingUnavailable. Queries go to the worker as usual."""

    def __init__(self, worker: WorkerEmbedder) -> None:
        """Wrap a worker embedder."""
        self.worker = worker

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Cached content vectors, or EmbeddingUnavailable."""
        return self.worker.cached(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """Vector of one query (through the worker)."""
        return self.worker.embed_query(text)


def _stack(vectors: list[np.ndarray]) -> np.ndarray:
    """Rows as one (n, DIM) float32 array."""
    if not vectors:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.stack(vectors).astype(np.float32, copy=False)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a worker (if still running), reap it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a kill -9 that does not land
        log.error("FAQ embedding worker %s did not exit", proc.pid)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass


_SHARED: dict[Path | None, WorkerEmbedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_worker(cache_path: Path | None = DEFAULT_CACHE) -> WorkerEmbedder:
    """One worker embedder per cache file in this process (closed at exit)."""
    with _SHARED_LOCK:
        worker = _SHARED.get(cache_path)
        if worker is None or worker._closed:
            worker = _SHARED[cache_path] = WorkerEmbedder(cache_path)
        return worker


@atexit.register
def _close_shared() -> None:
    """Stop the shared workers when the process exits."""
    for worker in list(_SHARED.values()):
        worker.close()
