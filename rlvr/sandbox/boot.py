"""PID 1 of a bwrap sandbox: waits for one job on stdin, runs it, reaps everything, exits. Stdlib only.

Runs inside the sandbox as `python3 -S -c <this source> ...` (bwrap --as-pid-1), so it is the init of the run's pid
namespace: it reaps every orphan while the program runs, and when it exits the kernel kills whatever is left and
only then lets bwrap reap it. So when bwrap exits, nothing of the run is alive and no zombie of the run's uid is
left anywhere (host init never gets involved).

Job, on stdin: 4-byte big-endian length, a JSON header {"argv", "files": [[name, size], ...], "stdin": size,
"wall_s"}, then the files' bytes and the stdin bytes, in that order. On stdout, once up: one byte 2 ("ready").
Then, before any output of the program: one byte, 0 = "the program starts now", or 1 followed by one line =
"setup failed" (the program never ran: unknown interpreter, files that do not fit). Exit code: the program's,
128 + n when it died of signal n.

Programs run as `python3 main.py ...` or `python3 -c CODE ...` start in a forked child of this interpreter (already
up, stdlib warm): no interpreter start per run, so a started spare answers in a few ms. argv[1], when given, is a
JSON object {work-dir file name: Python source} to compile ahead: a program file with exactly that content runs
from the compiled code (the code verifier's harness, ~700 lines, is not compiled again per program). argv[2], when
given, is the interpreter's bytecode magic (hex), followed by (name, base64 marshal of that file's code) pairs the
host compiled once with this same interpreter (/usr is the host's): a spare then loads the code instead of compiling
it (~15 ms a spare); a code object of another magic or file name is ignored and the source compiled here.
The child is a fresh process with sys.argv, sys.path[0], `__main__` and the standard streams as a new `python3`
would set them; what differs is the modules already imported here (a program that shadows one of them with a file
in its work dir gets the stdlib one), and `site`: the interpreter starts with -S (2-3 ms less a spare), then adds
what site would (the site-packages directories, exit/quit/help/copyright) without running .pth files
(sys.flags.no_site is 1). Any other argv is exec'd.
"""

import _frozen_importlib_external
import atexit
import binascii
import json
import marshal
import os
import signal
import site
import struct
import sys
import threading
import types

# What site would add (the interpreter runs with -S, see above), without .pth files.
sys.path += [p for p in site.getsitepackages() if os.path.isdir(p) and p not in sys.path]
site.setquit()
site.setcopyright()
site.sethelper()

# Warm for the code verifier's harness (rlvr/verifiers/code_harness.py: base64, ctypes, typing and what it
# preloads) and for what competition programs import most. Their import is paid once per spare, in the
# background, instead of once per program (tens of ms here). Not decimal or fractions: rarely used, and each
# spare would pay them (~2 ms) whether its program imports them or not.
WARM = "base64 bisect collections ctypes functools heapq itertools math select string time typing"
for _name in WARM.split():
    __import__(_name)


def read_exact(n):
    data = bytearray()
    while len(data) < n:
        chunk = os.read(0, min(n - len(data), 1 << 20))
        if not chunk:
            os._exit(0)  # the host closed our stdin without a job: a spare that is no longer wanted
        data += chunk
    return bytes(data)


def fail(message):
    os.write(1, b"\x01" + message.replace("\n", " ").encode("utf-8", "replace") + b"\n")
    os._exit(125)


def stop(*_):
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    os._exit(137)


def write_files(entries):
    os.umask(0o022)
    for name, size in entries:
        data = read_exact(size) if size else b""
        path = "/box/" + name
        try:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.close(fd)
        except OSError as e:
            fail(f"cannot write {name!r} into the work dir: {e}")


def resolve(program):
    if "/" in program:
        return program if os.access(program, os.X_OK) and not os.path.isdir(program) else None
    for d in os.environ.get("PATH", "").split(":"):
        path = os.path.join(d or ".", program)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def precompile(sources, compiled):
    """{work-dir name: source} the host asked to compile ahead (the code harness), and {name: marshalled code} it
    compiled already: {absolute path: (bytes, code)}."""
    out = {}
    for name, source in sources.items():
        data, path = source.encode("utf-8", "surrogatepass"), "/box/" + name
        code = loaded(compiled.get(name), path)
        try:
            out[path] = (data, code or compile(data, path, "exec", dont_inherit=True))
        except (SyntaxError, ValueError):
            pass  # compiled again per run, which reports the error as python3 would
    return out


def loaded(blob, path):
    """The code object the host marshalled for `path`, or None (none given, or not one for this file)."""
    try:
        code = marshal.loads(binascii.a2b_base64(blob)) if blob else None
    except (ValueError, EOFError, TypeError, binascii.Error):
        return None
    return code if isinstance(code, types.CodeType) and code.co_filename == path else None


def compiled_args(args):
    """argv[2:]: the host's magic, then (name, base64 marshal) pairs; nothing when the magic is not ours."""
    if not args or args[0] != _frozen_importlib_external.MAGIC_NUMBER.hex():
        return {}
    return dict(zip(args[1::2], args[2::2], strict=False))


# argv[1] may be --fork-server=FD (see `serve`); the precompiled sources and compiled code follow.
SERVER_FD = None
if sys.argv[1:2] and sys.argv[1].startswith("--fork-server="):
    SERVER_FD = int(sys.argv.pop(1).partition("=")[2])
PRECOMPILED = precompile(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}, compiled_args(sys.argv[2:]))


def in_process(argv):
    """Whether argv is `python3 FILE ...` or `python3 -c CODE ...` of this very interpreter."""
    if len(argv) < 2 or resolve(argv[0]) is None:
        return False
    same = os.path.realpath(resolve(argv[0])) == os.path.realpath(sys.executable)
    return same and ((argv[1] == "-c" and len(argv) >= 3) or not argv[1].startswith("-"))


def run_python(argv):
    """In the forked child: run the program as `python3` would; returns its exit code."""
    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    if argv[1] == "-c":
        source, filename, sys.argv[:] = argv[2], "<string>", ["-c", *argv[3:]]
        sys.path[0] = ""
    else:
        filename = os.path.abspath(argv[1])
        try:
            with open(filename, "rb") as f:
                source = f.read()
        except OSError as e:
            sys.stderr.write(f"{sys.executable}: can't open file {filename!r}: [Errno {e.errno}] {e.strerror}\n")
            return 2
        sys.argv[:] = argv[1:]
        sys.path[0] = os.path.dirname(filename)
        main.__file__ = filename
        main.__cached__ = None
    sys.modules["__main__"] = main
    known = PRECOMPILED.get(filename)
    try:
        code = known[1] if known and known[0] == source else compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit as e:
        return exit_code(e)
    except BaseException as e:
        tb = None if isinstance(e, SyntaxError) and e.__traceback__.tb_next is None else e.__traceback__.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)  # without this frame, as python3 prints it
        return 1
    return 0


def exit_code(e):
    """The exit status python3 gives an uncaught SystemExit (printing a non-integer code, as it does)."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    try:
        print(e.code, file=sys.stderr)
    except Exception:  # noqa: BLE001 - like the interpreter: a code that cannot print still exits 1
        pass
    return 1


def leave(code):
    """The interpreter's exit without its final garbage collection (10 ms for this heap): join the non-daemon
    threads, run atexit handlers, flush the standard streams, exit."""
    try:
        threading._shutdown()
    except BaseException:  # noqa: BLE001 - as at interpreter exit, a failing thread join does not change the code
        pass
    try:
        atexit._run_exitfuncs()
    except SystemExit as e:
        code = exit_code(e)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream: python3 would exit 120
            code = 120 if code == 0 else code
    os._exit(code)


def main():
    os.write(1, b"\x02")  # up and waiting: lets the host know the spare is ready (never after the job came)
    (size,) = struct.unpack(">I", read_exact(4))
    job = json.loads(read_exact(size))
    argv = job["argv"]
    write_files(job["files"])
    stdin = os.memfd_create("stdin", 0)
    data = memoryview(read_exact(job["stdin"]) if job["stdin"] else b"")
    while data:
        data = data[os.write(stdin, data) :]
    os.lseek(stdin, 0, os.SEEK_SET)
    os.dup2(stdin, 0)
    os.close(stdin)
    warm = in_process(argv)
    if not warm and resolve(argv[0]) is None:
        fail(f"cannot run {argv[0]!r}: no such executable in the sandbox")
    signal.signal(signal.SIGALRM, stop)  # a backstop: the host kills the run at wall_s already
    signal.setitimer(signal.ITIMER_REAL, float(job["wall_s"]) + 2.0)
    os.write(1, b"\x00")
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        if warm:
            leave(run_python(argv))
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, f"exec failed: {e}\n".encode())
        os._exit(127)
    code = 1
    while True:
        try:
            died, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if died == pid:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            break
    stop_rest(code)


def stop_rest(code):
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    os._exit(code)


# --- fork-server mode: one long-lived sandbox that forks a fresh nested sandbox per program ------------------------

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4


def serve(fd):
    """The fork server: the init of a bwrap sandbox (no user-namespace ban, so that it can nest) whose only job is to
    fork. It never runs model code and never sees a job: each request on socket `fd` is a JSON spec (the rlimits
    and disk size of one nest) with four fds (the nest's stdin, stdout and stderr pipes and a control socket), and
    is answered by a forked child, the nest's *keeper*, that builds a fresh sandbox inside this one (`nest`). EOF on
    `fd` (the host is gone or done) ends the server and, being pid 1, everything in its sandbox."""
    import fcntl  # noqa: F401 - warm for nest_init
    import resource  # noqa: F401
    import socket

    global SERVER
    server = SERVER = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, reap)  # keepers are reaped as they end: no zombie counts against RLIMIT_NPROC
    while True:
        msg, fds, _, _ = socket.recv_fds(server, 1 << 16, 4)
        if not msg:
            os._exit(0)
        if len(fds) == 4 and os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server.close()
            keep(json.loads(msg), *fds)
        for f in fds:
            os.close(f)


def reap(*_):
    """Reap the keepers that ended; for each, one byte 'r' to the host: then not even a zombie of the nest is left."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return
        try:
            SERVER.send(b"r")
        except OSError:
            pass


def keep(spec, stdin, stdout, stderr, ctl):
    """The keeper: new user, mount, pid, network, ipc, uts and cgroup namespaces (the uid stays the sandbox's,
    65534, with no capability outside them), a fresh tmpfs on /box, then the nest's init (`nest_init`); its pidfd
    goes to the host on `ctl` (so that the host can kill the nest at its deadline), then its exit code, once the
    kernel has reaped it, which it does only when nothing of the nest is left. A set-up failure goes to stderr."""
    import socket

    for i, f in enumerate((stdin, stdout, stderr)):
        os.dup2(f, i)
        os.close(f)
    ctl = socket.socket(fileno=ctl)
    try:
        uid, gid = os.getuid(), os.getgid()
        libc("unshare", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
             | CLONE_NEWCGROUP)  # fmt: skip
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        libc("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)
        options = f"size={spec['disk']},mode=0755,uid={uid},gid={gid}".encode()
        libc("mount", b"tmpfs", b"/box", b"tmpfs", MS_NOSUID | MS_NODEV, options)
        libc("sethostname", b"sandbox", 7)
        pid = os.fork()
    except OSError as e:
        os.write(2, f"rlvr sandbox: cannot build the nested sandbox: {e}\n".encode())
        os._exit(125)
    if pid == 0:
        ctl.close()
        nest_init(spec)
    socket.send_fds(ctl, [b"p"], [os.pidfd_open(pid)])
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    ctl.send(bytes([128 - code if code < 0 else code]))
    os._exit(0)


def nest_init(spec):
    """Pid 1 of the nest: its own /proc, loopback up, no further user namespaces, the run's rlimits, every
    capability dropped (bounding set included) and no_new_privs, then the one-shot protocol (`main`)."""
    import fcntl
    import resource
    import socket

    try:
        libc("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", 0x1 | 0x8 | 0x40))  # SIOCSIFFLAGS: UP|LOOPBACK|RUNNING
        os.chdir("/box")
        for name, value in spec["rlimits"].items():
            resource.setrlimit(getattr(resource, name), tuple(value))
        libc("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        cap = 0
        while LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
            cap += 1
        header = struct.pack("II", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        libc("capset", header, bytes(24))  # effective, permitted, inheritable: none (two 32-bit words each)
    except (OSError, ValueError) as e:
        os.write(2, f"rlvr sandbox: cannot set up the nested sandbox: {e}\n".encode())
        os._exit(125)
    main()


def libc(name, *args):
    """Call libc's `name`; OSError with errno when it returns -1."""
    import ctypes

    if getattr(LIBC, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


if SERVER_FD is None:
    main()
else:
    import ctypes

    LIBC = ctypes.CDLL(None, use_errno=True)
    serve(SERVER_FD)
