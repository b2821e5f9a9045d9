"""A hard wall-time bound on a call in the current thread, from any thread, without signals.

`call_with_deadline(fn, seconds)` runs `fn()` in the calling thread; a single watchdog thread raises `Deadline` inside
it (CPython's `PyThreadState_SetAsyncExc`) once `seconds` have passed. This is what bounds sympy work whose running
time we cannot predict (a root of a 79,000-bit integer, the floor of a power tower): `signal.alarm` works only in the
main thread, and a worker process per call costs milliseconds we do not want to pay per verification.

What it does not do: the exception is delivered between Python bytecodes, so one long C call (a huge integer
multiplication) finishes first. The parser's size guards keep every such call small; this module bounds the rest.
The exception can never leak out of the guarded call: disarming happens under the watchdog's lock, and a pending
exception that was raised but not yet delivered is cancelled before `call_with_deadline` returns.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline(BaseException):  # noqa: N818 - an event; BaseException so that `except Exception` cannot swallow it
    """Raised inside a guarded call that ran past its deadline."""


# Two prototypes of one C function: with an exception class to raise, and with NULL to cancel a pending one.
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


def _cancel_pending(tid: int) -> None:
    _clear_async_exc(tid, None)


class _Watchdog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.heap: list[tuple[float, int]] = []  # (deadline, token)
        self.armed: dict[int, int] = {}  # token -> thread id
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        with self.lock:
            token = next(self.tokens)
            self.armed[token] = threading.get_ident()
            heapq.heappush(self.heap, (time.monotonic() + seconds, token))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="rlvr-deadline", daemon=True)
                self.thread.start()
            if self.heap[0][1] == token:  # the watchdog sleeps until the earliest deadline: wake it only for a new one
                self.wake.notify()
            return token

    def disarm(self, token: int) -> None:
        with self.lock:
            self.armed.pop(token, None)

    def _run(self) -> None:
        with self.lock:
            while True:
                while self.heap and self.heap[0][1] not in self.armed:
                    heapq.heappop(self.heap)  # disarmed in time
                if not self.heap:
                    self.wake.wait()
                    continue
                due, token = self.heap[0]
                now = time.monotonic()
                if now < due:
                    self.wake.wait(due - now)
                    continue
                heapq.heappop(self.heap)
                tid = self.armed.pop(token)
                _set_async_exc(tid, Deadline)


_WATCHDOG = _Watchdog()


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """`fn()`, or `Deadline` raised once it has run `seconds` of wall time. Nested calls are not supported."""
    tid = threading.get_ident()
    token = _WATCHDOG.arm(seconds)
    try:
        return fn()
    finally:
        _WATCHDOG.disarm(token)
        _cancel_pending(tid)
