from __future__ import annotations

import os

import pytest


def _processes_with(marker: str) -> list[int]:
    """The pids whose command line contains `marker`."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="session")
def processes_with():
    """processes_with(marker) -> the pids whose command line contains `marker`."""
    return _processes_with
