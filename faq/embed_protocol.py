"""The embedding worker's wire format: length-prefixed frames over a pipe.

A frame is a 4-byte big-endian length and a JSON header, then a 4-byte length and a body of
raw little-endian float32 vectors (empty in requests). Nothing is unpickled, so a broken or
hostile worker can at worst send a malformed frame, which the client treats as a crash.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

MAX_HEADER = 16 * 1024 * 1024
MAX_BODY = 256 * 1024 * 1024
_LEN = struct.Struct(">I")


class ProtocolError(RuntimeError):
    """The peer closed the pipe, timed out or sent a malformed frame."""


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    """One frame: header as JSON, then the body bytes."""
    raw = json.dumps(header, ensure_ascii=True).encode("ascii")
    return _LEN.pack(len(raw)) + raw + _LEN.pack(len(body)) + body


def vectors_body(vectors: np.ndarray) -> bytes:
    """Vectors as a frame body (float32, little-endian, row-major)."""
    return np.ascontiguousarray(vectors, dtype="<f4").tobytes()


def body_vectors(body: bytes, rows: int, dim: int) -> np.ndarray:
    """The vectors of a frame body, checked against the announced shape."""
    if rows < 0 or dim <= 0 or len(body) != rows * dim * 4:
        raise ProtocolError(f"body of {len(body)} bytes is not {rows}x{dim} float32")
    return np.frombuffer(body, dtype="<f4").reshape(rows, dim).astype(np.float32)


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write everything to a (possibly non-blocking) fd before the monotonic deadline."""
    view = memoryview(data)
    while view:
        _wait(fd, write=True, deadline=deadline)
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        except (BrokenPipeError, OSError) as exc:
            raise ProtocolError(f"pipe closed: {exc}") from exc
        view = view[n:]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read exactly n bytes from a (possibly non-blocking) fd before the monotonic deadline."""
    chunks: list[bytes] = []
    left = n
    while left:
        _wait(fd, write=False, deadline=deadline)
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        except OSError as exc:
            raise ProtocolError(f"pipe closed: {exc}") from exc
        if not chunk:
            raise ProtocolError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
    """Read one frame: (header, body)."""
    (hlen,) = _LEN.unpack(read_exact(fd, 4, deadline))
    if hlen > MAX_HEADER:
        raise ProtocolError(f"header of {hlen} bytes")
    try:
        header = json.loads(read_exact(fd, hlen, deadline))
    except ValueError as exc:
        raise ProtocolError(f"bad header: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    (blen,) = _LEN.unpack(read_exact(fd, 4, deadline))
    if blen > MAX_BODY:
        raise ProtocolError(f"body of {blen} bytes")
    return header, read_exact(fd, blen, deadline)


def _wait(fd: int, *, write: bool, deadline: float | None) -> None:
    """Block until fd is ready, or raise ProtocolError at the deadline."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    while True:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise ProtocolError("timed out")
        if poller.poll(None if timeout is None else max(1, int(timeout * 1000))):
            return  # ready, or hung up/errored: the read or write then says which
