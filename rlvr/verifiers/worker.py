"""The verifier pool's worker: a loop that runs inside the sandbox, plus the framing both sides speak.

Protocol over the worker's stdin/stdout: each message is a frame, a 4-byte big-endian length followed
by that many bytes of UTF-8 JSON holding one object (ASCII-escaped, so lone surrogates in model text
survive the trip). JSON, never pickle: the worker parses model text, so everything it writes back is
untrusted and the host validates it field by field (`verdict_from_wire`).

    host -> worker   {"target": "pkg.module:Class", "options": {...}}      once, first
    worker -> host   {"ready": true} | {"fatal": "...", "config": bool}     once
    host -> worker   {"id": n, "response": "...", "reference": <JSON>}      per item
    worker -> host   {"id": n, "verdict": {"status", "reward", "extracted", "detail"}}

The worker answers items one at a time and exits when its stdin closes. Whatever a verifier prints
goes to stderr (fd 1 is re-pointed there), so it cannot corrupt the frames.

Not handled here: deadlines and crashes (the host kills a worker that misses its deadline).
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
from typing import Any, BinaryIO

from rlvr.verifiers.base import Verdict

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 << 20  # a response of a few MB of text is plausible; 64 MB is not
_DETAIL_CHARS = 2000


class ProtocolError(ValueError):
    """A frame or message that breaks the protocol: the peer is broken or hostile."""


class FrameTooLarge(ValueError):
    """A message does not fit in one frame (MAX_FRAME_BYTES)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    if len(data) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"message of {len(data)} bytes exceeds the {MAX_FRAME_BYTES}-byte frame limit")
    return HEADER.pack(len(data)) + data


def decode_payload(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"frame is not UTF-8 JSON: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"frame holds a {type(message).__name__}, not an object")
    return message


class FrameReader:
    """Incremental frame parser for bytes read from a pipe in arbitrary chunks (host side)."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next_frame(self) -> dict[str, Any] | None:
        """The next complete message, or None if more bytes are needed. Raises ProtocolError on garbage."""
        if len(self.buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self.buffer)
        if size > self.max_bytes:
            raise ProtocolError(f"frame of {size} bytes announced; the limit is {self.max_bytes}")
        if len(self.buffer) < HEADER.size + size:
            return None
        payload = bytes(self.buffer[HEADER.size : HEADER.size + size])
        del self.buffer[: HEADER.size + size]
        return decode_payload(payload)


def verdict_from_wire(obj: Any) -> Verdict:
    """Validate an untrusted verdict object into a Verdict; raise ProtocolError on anything else."""
    if not isinstance(obj, dict) or set(obj) - {"steps", "step_error"} != {"status", "reward", "extracted", "detail"}:
        raise ProtocolError(f"malformed verdict: {str(obj)[:200]!r}")
    status, reward, extracted, detail = obj["status"], obj["reward"], obj["extracted"], obj["detail"]
    steps = obj.get("steps", [])
    if not isinstance(steps, list) or not all(_is_step(s) for s in steps):
        raise ProtocolError(f"malformed verdict steps: {str(steps)[:200]!r}")
    if not isinstance(status, str) or isinstance(reward, bool) or not isinstance(reward, (int, float)):
        raise ProtocolError(f"malformed verdict: {str(obj)[:200]!r}")
    step_error = obj.get("step_error", "")
    texts_ok = isinstance(detail, str) and isinstance(step_error, str)
    if not (extracted is None or isinstance(extracted, str)) or not texts_ok:
        raise ProtocolError(f"malformed verdict: {str(obj)[:200]!r}")
    try:
        return Verdict(
            status,
            float(reward),
            extracted,
            detail[:_DETAIL_CHARS],  # type: ignore[arg-type]
            tuple((a, b, float(c)) for a, b, c in steps),
            step_error[:_DETAIL_CHARS],
        )
    except ValueError as e:  # unknown status, reward outside [0, 1] or NaN
        raise ProtocolError(f"invalid verdict: {e}") from None


def _is_step(s: Any) -> bool:
    """[start, end, score]: two ints and a score in [0, 1]."""
    return (isinstance(s, list) and len(s) == 3 and all(type(x) is int for x in s[:2])
            and type(s[2]) in (int, float) and 0.0 <= s[2] <= 1.0)  # fmt: skip


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_message(stream: BinaryIO) -> dict[str, Any] | None:
    header = _read_exact(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes announced; the limit is {MAX_FRAME_BYTES}")
    payload = _read_exact(stream, size)
    if payload is None:
        return None
    return decode_payload(payload)


def _write_message(fd: int, message: dict[str, Any]) -> None:
    view = memoryview(encode_frame(message))
    while view:
        view = view[os.write(fd, view) :]


def _load(target: str, options: dict[str, Any]):
    """The verifier `target` built with `options`; the option `with_steps` sets `Verifier.with_steps` instead."""
    module, _, cls = target.partition(":")
    with_steps = bool(options.pop("with_steps", False))
    verifier = getattr(importlib.import_module(module), cls)(**options)
    verifier.with_steps = with_steps
    return verifier


def serve(stdin: BinaryIO, out_fd: int) -> int:
    """Answer the init message, then verify items until stdin closes. Returns the exit code."""
    init = _read_message(stdin)
    if init is None:
        return 0
    try:
        verifier = _load(str(init["target"]), dict(init.get("options") or {}))
    except BaseException as e:  # noqa: BLE001 - report every start-up failure to the host, then exit
        config = isinstance(e, (TypeError, ValueError))  # a bad option, most likely: the caller's mistake
        _write_message(out_fd, {"fatal": f"{type(e).__name__}: {e}"[:_DETAIL_CHARS], "config": config})
        return 1
    _write_message(out_fd, {"ready": True})
    while (msg := _read_message(stdin)) is not None:
        try:
            verdict = verifier.verify(msg["response"], msg["reference"])
        except BaseException as e:  # noqa: BLE001 - Verifier.verify catches Exception; this is the rest
            verdict = Verdict("error", 0.0, None, f"verifier raised {type(e).__name__}: {e}"[:_DETAIL_CHARS])
        _write_message(out_fd, {"id": msg["id"], "verdict": verdict.to_dict()})
    return 0


def main() -> int:
    """Entry point inside the sandbox: protect the protocol fds from stray prints, then serve."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # thread pools would count against the sandbox's process limit
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return serve(proto_in, proto_out)


if __name__ == "__main__":
    raise SystemExit(main())
