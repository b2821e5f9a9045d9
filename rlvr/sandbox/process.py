"""The plain-process backend. UNSAFE: it does not isolate anything.

It exists for development on machines with neither bubblewrap nor Docker. A program run here sees
the host's file system (whatever the uid can read), the network, and can leave setsid'd processes
behind. What it does enforce: rlimits (CPU, address space, processes, file size), a scrubbed
environment, a fresh temporary work dir, the wall-clock and output limits, a kill of the process
group at the deadline, and — when started by root — an unprivileged per-slot uid.
`get_sandbox("auto")` never picks it; ask for it by name.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from rlvr.sandbox.base import (
    HOST_TOOLS_ENV,
    MINIMAL_PATH,
    ExecResult,
    Limits,
    Sandbox,
    classify,
    drop_privileges_prefix,
    rlimit_prefix,
    run_local,
    sandbox_uid,
)


class ProcessSandbox(Sandbox):
    """Runs the program as a plain child process with rlimits. Unsafe: no isolation (see module docstring)."""

    name = "process"

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        uid = sandbox_uid(slot)
        work = tempfile.mkdtemp(prefix="rlvr-process-")
        try:
            for name, data in files.items():
                path = os.path.join(work, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, 0o755)
            if os.geteuid() == 0:
                for root, dirs, names in os.walk(work):
                    for n in [*dirs, *names]:
                        os.chown(os.path.join(root, n), uid, uid)
                os.chown(work, uid, uid)
            env = {"PATH": MINIMAL_PATH, "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
            cmd = rlimit_prefix(limits) + drop_privileges_prefix(uid) + argv
            exit_code, out, timed_out, wall = run_local(cmd, stdin, limits, env={**HOST_TOOLS_ENV, **env}, cwd=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        status, detail = classify(exit_code, out.raw("stderr"), timed_out=timed_out, over_output=out.over)
        return ExecResult(status, exit_code, out.text("stdout"), out.text("stderr"), wall, detail)
