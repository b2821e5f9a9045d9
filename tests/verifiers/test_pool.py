"""The verifier pool: same verdicts as in-process, hard per-item timeouts, crash recovery, isolation, cleanup.

The misbehaving verifier is `pool_helpers.ProbeVerifier` (its response is a command: sleep, spin, exit,
segv, probe, ...), registered here and imported inside the sandboxed workers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

import rlvr
from rlvr.sandbox.bwrap import worker_uid
from rlvr.verifiers import get_verifier, register
from rlvr.verifiers.pool import VerifierPool

# Importable by a plain name whatever pytest's import mode: the pool binds just this one file into workers.
sys.path.insert(0, str(Path(__file__).parent))
register("pool_probe", "pool_helpers:ProbeVerifier")
DATA = Path(__file__).parent / "data"
TIMEOUT_S = 2.0


def _our_worker_pids() -> list[int]:
    """Host pids running as one of this process's worker uids (bwrap backend)."""
    uids = {worker_uid(slot) for slot in range(256)}
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError):
            continue
        if uid in uids:
            found.append(int(entry))
    return found


def _gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if os.path.exists(f"/proc/{p}")]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _running(pid: int) -> bool:
    """Alive and not a zombie (our dead children stay in /proc until the pool reaps them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _echo(i: int) -> tuple[str, str]:
    return (f"echo:{i}", str(i))


@pytest.fixture(scope="module", params=[pytest.param("bwrap", marks=pytest.mark.bwrap), "process"])
def probe_pool(request):
    with VerifierPool("pool_probe", workers=2, backend=request.param, item_timeout_s=TIMEOUT_S, memory_mb=512) as pool:
        yield pool


@pytest.mark.bwrap
@pytest.mark.parametrize("name", ["math", "choice", "instruction"])
def test_batch_matches_in_process(name):
    cases = [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    pairs = [(c["response"], c["reference"]) for c in cases[:: max(1, len(cases) // 60)]]
    expected = get_verifier(name).verify_batch(pairs, max_workers=1)
    with VerifierPool(name, workers=2) as pool:
        assert pool.verify_batch(pairs) == expected


def test_hang_gets_timeout_while_others_complete(probe_pool):
    batch = [_echo(0), ("sleep:60", ""), _echo(1), ("spin", ""), _echo(2), _echo(3)]
    start = time.monotonic()
    verdicts = probe_pool.verify_batch(batch)
    elapsed = time.monotonic() - start
    assert [v.status for v in verdicts] == ["correct", "timeout", "correct", "timeout", "correct", "correct"]
    assert "longer than" in verdicts[1].detail
    assert elapsed < 30, elapsed  # the hung items were cut at 2 s each, not at 60 s or never


@pytest.mark.parametrize("command", ["exit", "kill", "segv", "garbage"])
def test_crashed_worker_is_replaced(probe_pool, command):
    before = set(probe_pool.worker_pids())
    verdicts = probe_pool.verify_batch([(command, ""), _echo(1), _echo(2)])
    assert verdicts[0].status == "error", verdicts[0]
    assert [v.status for v in verdicts[1:]] == ["correct", "correct"]
    assert [v.status for v in probe_pool.verify_batch([_echo(i) for i in range(4)])] == ["correct"] * 4
    assert set(probe_pool.worker_pids()) != before


def test_oversize_response_gets_its_own_verdict(probe_pool):
    """A response above the 64 MiB frame is the response's failing (unparsed); the rest of the batch goes on."""
    verdicts = probe_pool.verify_batch([("x" * (64 << 20), ""), _echo(1), _echo(2)])
    assert verdicts[0].status == "unparsed" and "frame" in verdicts[0].detail, verdicts[0]
    assert [v.status for v in verdicts[1:]] == ["correct", "correct"]
    assert probe_pool.verify(_echo(3)[0], "x" * (64 << 20)).status == "error"  # the data's size, not the model's


def test_worker_that_died_idle_is_replaced_before_the_next_item(probe_pool):
    assert [v.status for v in probe_pool.verify_batch([_echo(0), _echo(1)])] == ["correct"] * 2
    pids = probe_pool.worker_pids()  # killed from outside while idle (the OOM killer, an operator)
    assert pids
    for pid in pids:
        os.killpg(pid, 9)
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # and their pipes closed
    verdicts = probe_pool.verify_batch([_echo(i) for i in range(4)])
    assert [v.status for v in verdicts] == ["correct"] * 4, verdicts


def test_memory_cap_and_stray_output(probe_pool):
    big = probe_pool.verify("alloc:2000", "")  # over the 512 MB cap
    assert big.status == "error" and "MemoryError" in big.detail, big
    assert probe_pool.verify("alloc:10", "").status == "correct"
    assert probe_pool.verify("print", "").status == "correct"  # prints cannot corrupt the framing


def test_many_threads_at_once(probe_pool):
    results: dict[int, str] = {}

    def call(i: int) -> None:
        results[i] = probe_pool.verify(*_echo(i)).status if i % 7 else probe_pool.verify(f"echo:{i}", "x").status

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: "correct" if i % 7 else "incorrect" for i in range(40)}


@pytest.mark.bwrap
def test_worker_is_isolated(probe_pool, tmp_path):
    if probe_pool.backend != "bwrap":
        pytest.skip("only the bwrap backend isolates")
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        verdict = probe_pool.verify("probe", f"{secret}|{server.getsockname()[1]}")
    seen = json.loads(verdict.detail)
    assert seen["uid"] == 65534
    assert seen["secret"].startswith("failed") and seen["bashrc"].startswith("failed")
    assert seen["internet"].startswith("failed") and seen["host_loopback"].startswith("failed")
    assert seen["write_source"].startswith("failed")
    assert set(seen["env"]) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "PWD",
    }
    source_top = Path(rlvr.__file__).resolve().parts[1]  # the bound source tree's top directory (/work, /tmp, …)
    assert source_top in seen["root"] and "home" not in seen["root"]
    assert len(seen["fds"]) <= 6, seen["fds"]  # 0-2, the two protocol fds, the listing's own


@pytest.mark.bwrap
def test_close_leaves_no_process():
    pool = VerifierPool("pool_probe", workers=2, item_timeout_s=TIMEOUT_S)
    assert pool.verify_batch([_echo(1), ("sleep:0.1", "")])[0].correct
    leaders = pool.worker_pids()
    assert len(_our_worker_pids()) >= 2
    pool.close()
    assert _gone(leaders) == []
    assert _gone(_our_worker_pids()) == []
    with pytest.raises(RuntimeError, match="closed"):
        pool.verify("echo:1", "1")


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="must exceed the code verifier's total_timeout_s"):
        VerifierPool("code", item_timeout_s=10, total_timeout_s=30)
    with pytest.raises(ValueError, match="unknown verifier"):
        VerifierPool("nope")
    with pytest.raises(ValueError, match="unknown pool backend"):
        VerifierPool("math", backend="docker")
    with pytest.raises(ValueError, match="could not start.*TypeError"):
        VerifierPool("math", workers=1, backend="process", no_such_option=1)


@pytest.mark.ray
@pytest.mark.bwrap
def test_ray_backend():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with VerifierPool("pool_probe", workers=2, backend="ray", item_timeout_s=TIMEOUT_S) as pool:
            verdicts = pool.verify_batch([_echo(0), ("spin", ""), _echo(1), ("exit", ""), _echo(2), _echo(3)])
            assert [v.status for v in verdicts] == ["correct", "timeout", "correct", "error", "correct", "correct"]
            assert [v.status for v in pool.verify_batch([_echo(i) for i in range(4)])] == ["correct"] * 4
            leaders = pool.worker_pids()  # one sandboxed worker inside each actor, on this one-node cluster
            assert len(leaders) == 2
        assert _gone(leaders, timeout=15) == []  # killing an actor takes its sandbox along (--die-with-parent)
    finally:
        ray.shutdown()
