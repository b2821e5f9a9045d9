"""Removes a Docker sandbox's containers once its owner process is gone.

Started by `DockerSandbox` with a pipe on stdin; the owner never writes to it, so EOF means the
owner exited or was killed (even by SIGKILL). Then every container labelled with the owner's id is
force-removed. Runs in its own session so that a Ctrl-C aimed at the owner does not stop it first.
"""

from __future__ import annotations

import signal
import sys


def main(label: str, owner: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()
    import docker

    client = docker.from_env(timeout=60)
    for container in client.containers.list(all=True, filters={"label": f"{label}={owner}"}):
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
