"""A stand-in embedding worker for supervision tests: speaks the real protocol, answers with
deterministic unit vectors, and misbehaves on purpose: it aborts (like the native engine's heap
overflow) on a text containing CRASH, never answers one containing HANG, and answers garbage
to one containing GARBAGE. With --slow-start it takes 0.5 s to become ready; with --slow-query
each request takes 50 ms."""

from __future__ import annotations

import hashlib
import os
import sys
import time

import numpy as np

from faq.embed_protocol import ProtocolError, encode_frame, read_frame, vectors_body, write_all

DIM = 384


def vector(text: str) -> np.ndarray:
    """A deterministic unit vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def main() -> None:
    """Serve until stdin closes."""
    out, inp = sys.stdout.fileno(), sys.stdin.fileno()
    if "--slow-start" in sys.argv:
        time.sleep(0.5)
    write_all(out, encode_frame({"op": "ready", "pid": os.getpid()}))
    while True:
        try:
            header, _ = read_frame(inp)
        except ProtocolError:
            return
        texts = header.get("texts", [])
        joined = " ".join(texts)
        if "CRASH" in joined.upper():  # the search folds a question's case before it embeds
            os.abort()
        if "HANG" in joined:
            time.sleep(3600)
        if "GARBAGE" in joined:
            write_all(out, b"\x00\x00\x00\x02{}" + b"\xff" * 10)
            continue
        if "--slow-query" in sys.argv:
            time.sleep(0.05)  # a question takes a while: the next ones queue up behind it
        vecs = np.stack([vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)
        write_all(out, encode_frame({"id": header.get("id"), "ok": True, "rows": len(texts),
                                     "dim": DIM}, vectors_body(vecs)))


if __name__ == "__main__":
    main()
