"""Test scripts are parsed on the host by threads at once (the code verifier checks a batch in threads): CPython 3.11
shares the AST converter's recursion counter between threads, so unguarded parses fail now and then with
"SystemError: AST constructor recursion depth mismatch" when a garbage collection switches threads mid-parse."""

from __future__ import annotations

import gc
import threading

from rlvr.verifiers import code_reference

SCRIPTS = [
    "\n".join(
        ["def check(candidate):"]
        + [
            f"    assert candidate({i}, [{', '.join(str(j) for j in range(k))}]) == {{'a': ({i}, {k})}}"
            for k in range(12)
        ]
        + ["check(f)", f"assert abs(f({i}, [1.5]) - {i}.25) < 1e-6"]
    )
    for i in range(40)
]


class _Cycle:
    def __del__(self):  # a finalizer: collections run Python code, and threads can switch there
        pass


def test_scripts_split_from_many_threads_at_once_under_gc_pressure():
    errors: list[str] = []

    def work():
        for _ in range(6):
            for script in SCRIPTS:
                junk = [_Cycle() for _ in range(20)]
                for j in junk:
                    j.self = j
                try:
                    code_reference.split_script(script)
                except SystemError as e:
                    errors.append(str(e))

    before = gc.get_threshold()
    gc.set_threshold(50, 2, 2)
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.set_threshold(*before)
    assert errors == []
