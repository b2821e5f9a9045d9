"""The sandbox API: validation, statuses, the pool's concurrency bound, backend selection, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import rlvr.sandbox as sandbox_mod
from rlvr.sandbox import Limits, SandboxUnavailable, get_sandbox

BACKENDS = [pytest.param("bwrap", marks=pytest.mark.bwrap), pytest.param("docker", marks=pytest.mark.docker), "process"]


@pytest.mark.parametrize("field", ["wall_s", "cpu_s", "memory_mb", "pids", "output_bytes", "disk_mb"])
@pytest.mark.parametrize("bad", [0, -1, "5", True])
def test_limits_name_the_bad_field(field, bad):
    with pytest.raises(ValueError, match=f"Limits.{field}"):
        Limits(**{field: bad})


@pytest.mark.parametrize("name", ["../x.py", "/etc/x", "a//b", "", "a/./b", "x\0y"])
def test_file_names_must_stay_inside_the_work_dir(name):
    with pytest.raises(ValueError, match="relative path"):
        get_sandbox("process").run(["true"], files={name: "x"})


def test_argv_must_be_a_list_of_strings():
    for bad in ("python3 -c 1", [], ["python3", 1]):
        with pytest.raises(ValueError, match="argv"):
            get_sandbox("process").run(bad)


@pytest.mark.bwrap
def test_a_closed_shared_sandbox_is_replaced():
    """Closing the shared sandbox (a verifier's owner may) does not leave later users a sandbox that refuses runs."""
    sb = get_sandbox("bwrap")
    sb.close()
    assert sb.closed and sb.run(["python3", "-c", "print(1)"]).status == "error"
    assert get_sandbox("bwrap") is not sb
    assert get_sandbox("bwrap").run(["python3", "-c", "print(1)"]).status == "ok"


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="bwrap, docker, process, auto"):
        get_sandbox("firejail")


def test_auto_never_falls_back_to_process(monkeypatch):
    monkeypatch.setattr(sandbox_mod, "unavailable_reason", lambda b: None if b == "process" else f"{b} missing")
    get_sandbox.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable) as e:
            get_sandbox("auto")
        assert "bwrap missing" in str(e.value) and "docker missing" in str(e.value)
    finally:
        get_sandbox.cache_clear()


def test_missing_bwrap_says_how_to_install(monkeypatch):
    from rlvr.sandbox import bwrap

    monkeypatch.setattr(bwrap, "_bwrap_path", lambda: None)
    bwrap.unavailable_reason.cache_clear()
    try:
        assert "apt-get install bubblewrap" in bwrap.unavailable_reason()
    finally:
        bwrap.unavailable_reason.cache_clear()


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_feeds_stdin_files_and_separates_streams(backend):
    sb = get_sandbox(backend)
    code = (
        "import sys\nprint(open('pkg/data.txt').read() + sys.stdin.read())\nprint('err', file=sys.stderr)\nsys.exit(3)"
    )
    res = sb.run(["python3", "main.py"], files={"main.py": code, "pkg/data.txt": b"from-file:"}, stdin="from-stdin")
    assert (res.status, res.exit_code) == ("nonzero_exit", 3)
    assert res.stdout == "from-file:from-stdin\n" and res.stderr == "err\n"
    assert res.to_dict()["status"] == "nonzero_exit" and res.wall_s > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_stdin_and_output_round_trip(backend):
    data = "x" * 300_000
    res = get_sandbox(backend).run(["python3", "-c", "import sys; sys.stdout.write(sys.stdin.read())"], stdin=data)
    assert res.ok and res.stdout == data


@pytest.mark.bwrap
def test_bwrap_setup_failure_is_error_not_the_programs_fault():
    res = get_sandbox("bwrap").run(["/no/such/interpreter"])
    assert res.status == "error" and res.exit_code is None
    assert "no/such/interpreter" in res.detail


@pytest.mark.bwrap
def test_a_program_cannot_fake_an_infrastructure_error():
    fake = "import sys; sys.stderr.write('bwrap: execvp foo: No such file or directory\\n'); sys.exit(1)"
    assert get_sandbox("bwrap").run(["python3", "-c", fake]).status == "nonzero_exit"


@pytest.mark.parametrize("backend", [pytest.param("bwrap", marks=pytest.mark.bwrap), "process"])
def test_pool_bounds_concurrency_from_many_threads(backend):
    sb = sandbox_mod.make_sandbox(backend, max_concurrency=2)
    code = "import time; a = time.monotonic(); time.sleep(0.3); print(a, time.monotonic())"
    results = []
    threads = [threading.Thread(target=lambda: results.append(sb.run(["python3", "-c", code]))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sb.close()
    assert all(r.ok for r in results), results
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2


@pytest.mark.docker
def test_docker_containers_do_not_outlive_a_killed_caller():
    import docker

    client = docker.from_env()
    script = (
        "from rlvr.sandbox import Limits, get_sandbox\n"
        "sb = get_sandbox('docker'); print(sb.owner, flush=True)\n"
        "sb.run(['python3', '-c', 'import time; time.sleep(120)'], limits=Limits(wall_s=120, cpu_s=120))\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    owner = caller.stdout.readline().strip()
    label = {"label": f"rlvr.sandbox.owner={owner}"}
    deadline = time.monotonic() + 30
    while not client.containers.list(filters=label, ignore_removed=True) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.containers.list(filters=label, ignore_removed=True), "the caller never started its container"
    os.kill(caller.pid, signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 30
    while client.containers.list(all=True, filters=label, ignore_removed=True) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.containers.list(all=True, filters=label, ignore_removed=True) == []


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlvr.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_sandbox_run_prints_json(tmp_path):
    prog = tmp_path / "add.py"
    prog.write_text("import sys\nprint(sum(map(int, sys.stdin.read().split())))\n")
    (tmp_path / "in.txt").write_text("1 2 3")
    out = _cli("sandbox", "run", "--backend", "process", "--stdin", str(tmp_path / "in.txt"), str(prog))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) | {"wall_s": 0} == {
        "status": "ok",
        "exit_code": 0,
        "stdout": "6\n",
        "stderr": "",
        "wall_s": 0,
        "detail": "",
    }


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    missing = _cli("sandbox", "run", str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    prog = tmp_path / "p.py"
    prog.write_text("print(1)")
    bad = _cli("sandbox", "run", "--backend", "chroot", str(prog))
    assert bad.returncode == 2 and "choose one of" in bad.stderr
    failing = _cli("sandbox", "run", "--backend", "process", "--timeout", "1", str(prog), "--", "x")
    assert failing.returncode == 0


def test_cli_help_lists_subcommands():
    out = _cli("--help")
    assert out.returncode == 0
    for command in ("train", "sandbox", "verify"):
        assert command in out.stdout


def test_import_rlvr_is_light():
    """`import rlvr` (and its sandbox and verifier registries) pulls in no heavy dependency."""
    heavy = ("torch", "docker", "gymnasium", "sympy", "triton")
    code = f"import sys, rlvr, rlvr.sandbox, rlvr.verifiers; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.bwrap
def test_worker_can_bind_a_tree_under_tmp():
    """A venv or checkout under /tmp (CI clones there) is bound read-only into a long-lived worker sandbox."""
    import tempfile

    from rlvr.sandbox.base import kill_group
    from rlvr.sandbox.bwrap import start_worker

    tree = tempfile.mkdtemp(prefix="rlvr-bindtest-", dir="/tmp")
    try:
        os.chmod(tree, 0o755)
        with open(os.path.join(tree, "hello.txt"), "w") as f:
            f.write("from a tree under /tmp")
        os.chmod(os.path.join(tree, "hello.txt"), 0o644)
        worker = start_worker(["/usr/bin/cat", f"{tree}/hello.txt"], [tree], Limits(), slot=0)
        try:
            out, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                kill_group(worker)
        assert out.decode() == "from a tree under /tmp", err.decode()
    finally:
        import shutil

        shutil.rmtree(tree, ignore_errors=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_names_and_argv_follow_the_same_rules_on_every_backend(backend):
    sb = get_sandbox(backend)
    longest = "n" * 255
    files = {longest: "a", ".stdin": "file, not stdin", "d/" + longest: "b", "main.py": "print(1)"}
    reads = f"open({longest!r}).read(), open('.stdin').read(), open('d/{longest}').read()"
    code = f"import sys; print({reads}, sys.stdin.read())"
    res = sb.run(["python3", "-c", code], files=files, stdin="stdin")
    assert res.ok and res.stdout == "a file, not stdin b stdin\n", res
    for bad in ({"n" * 256: ""}, {"a": "", "a/b": ""}, {"\udc80": ""}):
        with pytest.raises(ValueError, match="file name"):
            sb.run(["true"], files=bad)
    for argv in (["echo", "a\0b"], ["echo", "x" * 200_000], ["echo", *["x" * 100_000] * 11]):
        with pytest.raises(ValueError, match="argv"):
            sb.run(argv)


@pytest.mark.bwrap
def test_a_spare_loads_the_code_compiled_on_the_host_and_ignores_a_foreign_one():
    """precompile() compiles once, with the sandbox's interpreter, and every spare loads that code (no compile per
    spare). Shown by handing the spares code compiled from another source: the run executes it. Code of another
    bytecode magic is ignored: the spare compiles the file itself."""
    from rlvr.sandbox.bwrap import BwrapSandbox
    from rlvr.sandbox.bwrap_box import compile_ahead

    source = "print('from the file')\n"
    sb = BwrapSandbox(max_concurrency=1)
    try:
        sb.precompile("m.py", source)
        magic, name, blob = sb._compiled
        assert name == "m.py" and blob, "the host did not compile the source ahead"
        assert sb.run(["python3", "m.py"], files={"m.py": source}).stdout == "from the file\n"
        _, _, other = compile_ahead({"m.py": "print('from the marshalled code')\n"})
        sb._compiled = (magic, "m.py", other)
        sb.run(["true"])  # takes the spare started before: the next one has the new argv
        assert sb.run(["python3", "m.py"], files={"m.py": source}).stdout == "from the marshalled code\n"
        sb._compiled = ("00000000", "m.py", other)
        sb.run(["true"])
        assert sb.run(["python3", "m.py"], files={"m.py": source}).stdout == "from the file\n"
    finally:
        sb.close()


@pytest.mark.bwrap
def test_a_program_on_a_spare_sees_what_a_fresh_python3_sees():
    """The spare's interpreter starts with -S; what site provides is there all the same: the site-packages
    directories on sys.path (as a python3 started in the sandbox has them) and exit/quit."""
    sb = get_sandbox("bwrap")
    probe = "import sys; print(sys.path[1:]); exit(3)"
    warm = sb.run(["python3", "-c", probe])
    fresh = sb.run(["sh", "-c", f'exec python3 -c "{probe}"'])
    assert (warm.exit_code, fresh.exit_code) == (3, 3), (warm, fresh)
    assert warm.stdout == fresh.stdout and ("site-packages" in warm.stdout or "dist-packages" in warm.stdout)
