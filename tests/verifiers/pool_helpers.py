"""A test-only verifier for the pool tests: the response is a command that misbehaves on purpose.

It is imported inside the pool's sandboxed workers (the pool binds this one file in), so it must not
import anything from the test suite. Commands:
    echo           correct when the response equals the reference
    sleep:S        sleep S seconds, then answer (a hang, as far as a short deadline is concerned)
    spin           busy-loop forever
    exit           os._exit(3) mid-item
    kill           SIGKILL itself (what an OOM killer does)
    segv           read address 0 through ctypes (a crash in C code)
    alloc:MB       allocate MB megabytes (past the address-space cap: a MemoryError)
    print          print junk on stdout and stderr, then answer correct
    garbage        write a bogus frame on every pipe it can find, as a compromised parser would
    probe          report what the worker can see and do, as JSON in `detail` (reference: a secret path)
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import time
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier


def _attempt(fn) -> str:
    try:
        return f"ok: {str(fn())[:200]}"
    except Exception as e:  # noqa: BLE001 - reporting the failure is the point
        return f"failed: {type(e).__name__}"


def _probe(secret_path: str, host_port: int | None) -> dict[str, Any]:
    def read_secret() -> str:
        with open(secret_path) as f:
            return f.read()

    def write_source() -> None:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pwned.txt"), "w") as f:
            f.write("x")

    return {
        "uid": os.getuid(),
        "env": sorted(os.environ),
        "root": sorted(os.listdir("/")),
        "secret": _attempt(read_secret),
        "bashrc": _attempt(lambda: open("/root/.bashrc").read()),
        "internet": _attempt(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2).close()),
        "host_loopback": _attempt(lambda: socket.create_connection(("127.0.0.1", host_port), timeout=2).close())
        if host_port
        else "skipped",
        "write_source": _attempt(write_source),
        "fds": sorted(os.listdir("/proc/self/fd")),
    }


def _garbage() -> None:
    for fd in range(3, 256):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.write(fd, b"\x00\x00\x00\x05hello")
        except OSError:
            pass


class ProbeVerifier(Verifier):
    name = "pool_probe"

    def _verify(self, response: str, reference: Any) -> Verdict:
        command, _, arg = response.partition(":")
        if command == "sleep":
            time.sleep(float(arg))
        elif command == "spin":
            while True:
                pass
        elif command == "exit":
            os._exit(3)
        elif command == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif command == "segv":
            ctypes.string_at(0)
        elif command == "alloc":
            block = bytearray(int(arg) << 20)
            return Verdict("correct", 1.0, str(len(block)))
        elif command == "print":
            print("junk on stdout", flush=True)
            print("junk on stderr", file=sys.stderr, flush=True)
        elif command == "garbage":
            _garbage()
        elif command == "probe":
            secret, _, port = str(reference).partition("|")
            return Verdict("correct", 1.0, None, json.dumps(_probe(secret, int(port) if port else None)))
        elif command == "echo":
            return Verdict("correct" if arg == reference else "incorrect", float(arg == reference), arg)
        return Verdict("correct", 1.0, command)
