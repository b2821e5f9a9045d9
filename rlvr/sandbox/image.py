"""The Docker sandbox image, built locally from this recipe (there is no registry to pull from).

Recipe: `FROM scratch`, plus the host's python3 and /bin/sh with exactly the shared libraries they
load (found with ldd), Python's standard library, a `nobody` user, and /tmp pointing into the work
dir. About 60 MB, built in a few seconds. `rlvr sandbox build-image` builds it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile

IMAGE_REPO = "rlvr-sandbox"
RECIPE_VERSION = "2"
DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
USER 65534:65534
WORKDIR /box
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/box LANG=C.UTF-8
"""
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/box:/bin/sh\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def image_tag() -> str:
    return f"{IMAGE_REPO}:{RECIPE_VERSION}"


def _system_python() -> str:
    """The interpreter to put in the image: Debian's /usr/bin/python3 when present, else this one."""
    for path in ("/usr/bin/python3", sys.executable):
        if os.path.exists(path):
            return os.path.realpath(path)
    raise RuntimeError("no python3 interpreter found to put in the sandbox image")


def _shared_libs(path: str) -> set[str]:
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = set(re.findall(r"=>\s*(/\S+)", out)) | set(re.findall(r"^\s*(/\S+)\s+\(", out, re.M))
    return {lib for lib in libs if os.path.exists(lib)}


def _stdlib_of(python: str) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['stdlib'])"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def build_context() -> bytes:
    """The Docker build context (Dockerfile + rootfs/) as an uncompressed tar."""
    python = _system_python()
    stdlib = _stdlib_of(python) if python != os.path.realpath(sys.executable) else sysconfig.get_paths()["stdlib"]
    binaries = [python, os.path.realpath("/bin/sh")] if os.path.exists("/bin/sh") else [python]
    paths: set[str] = set(binaries)
    for binary in binaries:
        paths |= _shared_libs(binary)
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in ("test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip")]
        for name in names:
            full = os.path.join(root, name)
            paths.add(full)
            if name.endswith(".so"):
                paths |= _shared_libs(full)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        def add_link(name: str, target: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)

        add_bytes("Dockerfile", DOCKERFILE.encode())
        for top in ("bin", "sbin", "lib", "lib64"):
            add_link(f"rootfs/{top}", f"usr/{top}")
        add_link("rootfs/tmp", "box")
        add_link("rootfs/usr/bin/python3", os.path.basename(python))
        add_link("rootfs/usr/bin/python", os.path.basename(python))
        if len(binaries) > 1 and os.path.basename(binaries[1]) != "sh":
            add_link("rootfs/usr/bin/sh", os.path.basename(binaries[1]))
        add_bytes("rootfs/etc/passwd", _PASSWD.encode())
        add_bytes("rootfs/etc/group", _GROUP.encode())
        for d in ("box", "in", "etc", "usr/lib64"):
            info = tarfile.TarInfo(f"rootfs/{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(paths):
            real = os.path.realpath(path)
            # Merged /usr: store everything under usr/ so the top-level symlinks resolve.
            arc = path if path.startswith("/usr/") else "/usr" + path
            tar.add(real, arcname="rootfs" + arc, recursive=False)
    return buf.getvalue()


def build_image(client=None, quiet: bool = True) -> str:
    """Build (or rebuild) the sandbox image; returns its tag."""
    import docker

    client = client or docker.from_env()
    context = build_context()
    digest = hashlib.sha256(context).hexdigest()[:12]
    client.images.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        tag=image_tag(),
        rm=True,
        forcerm=True,
        labels={"rlvr.recipe": RECIPE_VERSION, "rlvr.context": digest},
    )
    if not quiet:
        print(f"built {image_tag()} (context {len(context) >> 20} MB, sha256 {digest})")
    return image_tag()
