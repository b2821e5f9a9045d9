"""Removes a Docker sandbox's containers and its temp dir once its owner process is gone.

Started by `DockerSandbox` with a pipe on stdin. EOF means the owner exited or was killed (even by
SIGKILL): then every container labelled with the owner's id is force-removed, used ones and spares,
listing again until two lists in a row come back empty, to also catch a container whose create
request the owner sent just before it died. The owner's `close()` writes `CLOSED` first: it has
removed its containers itself, and one pass is enough. Then the sandbox's temp dir (all its
containers' input dirs) is removed. Runs in its own session so that a Ctrl-C
aimed at the owner does not stop it first.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time

CLOSED = b"closed"
_SETTLE_S = 1.0
_GIVE_UP_S = 60.0


def main(label: str, owner: str, tmpdir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    clean = sys.stdin.buffer.read() == CLOSED
    import docker

    client = docker.from_env(timeout=60)
    deadline = time.monotonic() + _GIVE_UP_S
    passes, empty = (1 if clean else 2), 0
    while empty < passes and time.monotonic() < deadline:
        found = client.api.containers(all=True, quiet=True, filters={"label": f"{label}={owner}"})
        empty = 0 if found else empty + 1
        for container in found:
            try:
                client.api.remove_container(container["Id"], force=True)
            except docker.errors.APIError:
                pass  # already gone, or removal in progress: the next list shows it again if it is not
        if empty < passes:
            time.sleep(_SETTLE_S if not found else 0.1)
    shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
