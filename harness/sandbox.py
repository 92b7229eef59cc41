"""The sandbox: the walls around everything a submission controls.

A submission is untrusted: its sources, its compile, and every process its programs start.
Grading one (`./socklab grade --impl PATH`, `./socklab batch`, Gradescope) happens like this:

    grader (root)                      creates the submission's cgroup, then enters
      room: bwrap, own net + pid ns    a private tmpfs W (size-capped: the submission's disk),
        grader in the room (root)      loopback only, and a pid namespace that dies with it;
          compile: bwrap + setpriv     cmake and cc as an unprivileged uid, seeing the system
                                       read-only, the course's build files, the snapshot of
                                       the submission and its build folder, and nothing else;
          pytest (root) + peers        the harness, in the room's network namespace;
            program: bwrap + setpriv   each run in a pid namespace of its own, as the
                                       unprivileged uid, seeing the system read-only, its own
                                       binary, the check's scratch folder and a small /tmp.

What a submission never sees: solutions/, tests/ (hidden or not), the harness's sources,
other submissions, any report folder. Every process it starts is in the cgroup (memory,
processes and CPU capped in total) and dies with its pid namespace. The reports are written
by the grader alone, outside every wall.

Where namespaces are refused (some containers), the fallback is a separate unprivileged uid
and file permissions ("user" mode); grading your own labs/ or the solutions uses no walls
("none"). Every report says which mode graded it (docs/instructors.md has the table).
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

MiB = 1 << 20
GiB = 1 << 30

# The environment every sandboxed program and compile gets, and nothing else of the grader's
# (no PYTHONPATH, no PYTEST_CURRENT_TEST: a program must not know which check runs it).
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
            "LANG": "C", "LC_ALL": "C"}
# What else a program may find in its environment: set by a check (TZ in lab 08), by a mode
# (the short-I/O shim, sanitizers), by valgrind for the program it runs in a [memory] check
# (GLIB*_FORCE_NEW: no pooled C++ allocations, so that memcheck sees each), or by bwrap
# itself (PWD).
TEST_ENV = ("TZ", "PWD", "LD_PRELOAD", "SOCKLAB_SHORT_IO", "SOCKLAB_TRACE", "ASAN_OPTIONS",
            "UBSAN_OPTIONS", "TSAN_OPTIONS", "GLIBCXX_FORCE_NEW", "GLIBCPP_FORCE_NEW")

# The few files of /etc that programs and compilers read: name lookups for "localhost",
# the dynamic loader's cache, the compiler's alternatives, the time zone.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "hosts",
             "nsswitch.conf", "gai.conf", "services", "protocols", "localtime", "host.conf")

# The course's files a submission may build against: what a student has, minus the tests.
COURSE_BUILD_FILES = ("CMakeLists.txt", "CMakePresets.json", "cmake", "common", "labs.txt",
                      "labs", "harness/shim")

SNAPSHOT_MAX_FILES = 2000
SNAPSHOT_MAX_BYTES = 32 * MiB


class SandboxError(Exception):
    """The sandbox could not be set up (a bad submission folder, a machine without bwrap)."""


@dataclass
class Caps:
    """What one submission may use, in total unless said otherwise."""
    memory: int = 2 * GiB       # every process of the submission together (cgroup)
    processes: int = 256        # tasks, threads included (cgroup pids.max)
    cpus: float = 1.0           # CPU time per wall-clock second (cgroup CPU quota)
    disk: int = 1 * GiB         # the private tmpfs holding its build and every check's files
    tmp: int = 64 * MiB         # each program's own /tmp
    compile_seconds: int = 120  # one configure or one lab's build


@dataclass
class Walls:
    """How programs are run: the mode, the uid, the cgroup to join. Written to JSON by the
    grader and read by the pytest plugin (--sandbox FILE)."""
    mode: str = "none"           # namespaces | user | none
    uid: int = 0
    gid: int = 0
    cgroup_procs: list[str] = field(default_factory=list)  # cgroup.procs files to join
    readable: list[str] = field(default_factory=list)      # bound read-only into every run
    tmp_size: int = Caps.tmp

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "Walls":
        return cls(**json.loads(Path(path).read_text()))

    def describe(self) -> str:
        return describe_mode(self.mode)

    # -- running a program inside ----------------------------------------------------------
    def wrap(self, argv: list[str], *, writable: list[Path], info_fd: Optional[int] = None,
             chdir: Optional[Path] = None, readable: Optional[list[str]] = None,
             tmp_size: Optional[int] = None) -> list[str]:
        """argv, run behind the walls: in the cgroup, (in namespaces mode) in its own mount,
        pid, IPC and UTS namespaces seeing only the system, the `readable` paths (default:
        the walls' own) and `writable`, and as the unprivileged uid. With info_fd, bwrap
        writes its JSON info (child-pid) there."""
        inner = drop_privileges(self.uid, self.gid) + argv
        if self.mode == "namespaces":
            view = system_view(tmp_size or self.tmp_size)
            binds = [("--ro-bind", str(p)) for p in (self.readable if readable is None else readable)]
            binds += [("--bind", str(p)) for p in writable]
            view += traversable_parents([p for _, p in binds])
            for kind, path in binds:
                view += [kind, path, path]
            if chdir:
                view += ["--chdir", str(chdir)]
            if info_fd is not None:
                view += ["--info-fd", str(info_fd)]
            inner = [bwrap(), *view, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                     "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                     "--hostname", "sandbox", "--", *inner]
        return join_cgroup(self.cgroup_procs, inner)


def describe_mode(mode: str) -> str:
    return {
        "namespaces": "sandboxed: own mount, pid and network namespaces, an unprivileged uid, "
                      "a cgroup capping memory, processes and CPU, a size-capped scratch",
        "user": "sandboxed (fallback, namespaces refused here): an unprivileged uid, file "
                "permissions, rlimits and a cgroup where possible; files every user may read "
                "stay readable",
        "none": "no sandbox: your own labs on your own machine",
    }[mode]


# -- the pieces ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError("bwrap is missing: install bubblewrap (scripts/setup does)")
    return path


def system_view(tmp_size: int) -> list[str]:
    """bwrap arguments for a read-only view of the system: /usr and its top-level links, a
    few files of /etc, a fresh /proc and /dev, and a small private /tmp."""
    args = ["--ro-bind", "/usr", "/usr"]
    for entry in sorted(os.listdir("/")):
        path = f"/{entry}"
        if os.path.islink(path) and os.readlink(path).startswith("usr/"):
            args += ["--symlink", os.readlink(path), path]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args + ["--proc", "/proc", "--dev", "/dev",
                   "--perms", "1777", "--size", str(tmp_size), "--tmpfs", "/tmp"]


def traversable_parents(paths: list[str]) -> list[str]:
    """bwrap makes the folders above a bind 0700 (root's); the unprivileged uid must be able
    to pass through them, so each is made first, 0755 (in the sandbox's own root)."""
    parents = sorted({str(parent) for path in paths for parent in Path(path).parents
                      if str(parent) != "/"}, key=lambda p: p.count("/"))
    args = []
    for parent in parents:
        args += ["--perms", "0755", "--dir", parent]
    return args


def drop_privileges(uid: int, gid: int) -> list[str]:
    """setpriv: become uid/gid with no supplementary groups, no capabilities, and no way to
    gain any back (no_new_privs). Nothing to do for a grader that is not root."""
    if uid == 0 or os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def join_cgroup(procs_files: list[str], argv: list[str]) -> list[str]:
    """argv, started by a shell that first moves itself into the cgroup(s)."""
    if not procs_files:
        return argv
    targets = " ".join(shlex.quote(p) for p in procs_files)
    return ["sh", "-c", f'echo $$ | tee -a {targets} >/dev/null && exec "$@"', "sandbox", *argv]


@functools.lru_cache(maxsize=None)
def namespaces_work() -> bool:
    """Whether bwrap can make the namespaces here (some containers refuse them)."""
    if shutil.which("bwrap") is None:
        return False
    try:
        done = subprocess.run([bwrap(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                               "--unshare-pid", "--unshare-net", "--unshare-ipc", "--", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def choose_mode() -> str:
    forced = os.environ.get("SOCKLAB_SANDBOX")  # for the harness's own tests of the fallback
    if forced in ("namespaces", "user"):
        return forced
    return "namespaces" if namespaces_work() else "user"


UIDS = range(64000, 65000)
_held_locks: list[int] = []  # a uid is ours while this process holds its lock


def reserve_uids(count: int) -> list[int]:
    """count uids of UIDS that no other grading on this machine holds, held until this
    process ends (a lock file each): two gradings never share a uid, and so never share its
    process limit (RLIMIT_NPROC counts per uid) or each other's files."""
    folder = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path(tempfile.gettempdir())
    start = int.from_bytes(os.urandom(2), "little") % len(UIDS)
    found = []
    for i in range(len(UIDS)):
        uid = UIDS[(start + i) % len(UIDS)]
        fd = os.open(folder / f"socklab-uid-{uid}", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held_locks.append(fd)
        found.append(uid)
        if len(found) == count:
            return found
    raise SandboxError(f"no free uid in {UIDS.start}-{UIDS.stop - 1}: too many gradings at once")


def sandbox_uid() -> int:
    """An unprivileged uid that owns no file outside the sandbox, this grading's alone (or the
    one $SOCKLAB_SANDBOX_UID names: the self-tests reserve theirs, and find their processes
    by it)."""
    if os.geteuid() != 0:
        return os.geteuid()
    chosen = os.environ.get("SOCKLAB_SANDBOX_UID", "")
    if chosen.isdigit() and int(chosen) in UIDS:
        return int(chosen)
    return reserve_uids(1)[0]


def describe_status_plain(returncode: int) -> str:
    code = status_of(returncode)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def status_of(returncode: int) -> int:
    """bwrap reports a child killed by signal N as exit status 128 + N, as a shell does;
    the harness's convention is -N."""
    if 128 < returncode <= 128 + 64:
        return -(returncode - 128)
    return returncode


# -- the cgroup: one submission's processes, capped in total ---------------------------------

class Cgroup:
    """A cgroup for one submission, with memory, processes and CPU capped in total: cgroup v1
    (one folder per controller) or v2 (one folder). Whatever cannot be made here is left
    out, and `enforced` says what holds."""

    V1 = Path("/sys/fs/cgroup")

    def __init__(self, name: str, caps: Caps):
        self.dirs: list[Path] = []
        self.enforced: list[str] = []
        if (self.V1 / "cgroup.controllers").exists():
            self._v2(name, caps)
        else:
            self._v1(name, caps)

    def _make(self, path: Path, settings: dict[str, str]) -> bool:
        try:
            path.mkdir(parents=True, exist_ok=True)
            for key, value in settings.items():
                if (path / key).exists():
                    (path / key).write_text(value)
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return False
        self.dirs.append(path)
        return True

    def _v1(self, name: str, caps: Caps) -> None:
        period = 100_000
        wanted = {
            "memory": {"memory.limit_in_bytes": str(caps.memory),
                       "memory.memsw.limit_in_bytes": str(caps.memory)},
            "pids": {"pids.max": str(caps.processes)},
            "cpu": {"cpu.cfs_period_us": str(period),
                    "cpu.cfs_quota_us": str(int(period * caps.cpus))},
        }
        for controller, settings in wanted.items():
            root = self.V1 / controller
            if (root / "cgroup.procs").exists() and self._make(root / "socklab" / name, settings):
                self.enforced.append(controller)

    def _v2(self, name: str, caps: Caps) -> None:
        root = self.V1 / "socklab"
        try:
            root.mkdir(exist_ok=True)
            available = (self.V1 / "cgroup.controllers").read_text().split()
            wanted = [c for c in ("memory", "pids", "cpu") if c in available]
            (self.V1 / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
        except OSError:
            return
        settings = {"memory.max": str(caps.memory), "memory.swap.max": "0",
                    "pids.max": str(caps.processes),
                    "cpu.max": f"{int(100_000 * caps.cpus)} 100000"}
        if self._make(root / name, settings):
            self.enforced = wanted

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self) -> None:
        for _ in range(100):  # a fork bomb may fork while we kill: repeat until empty
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):  # a killed task leaves its cgroup a moment after SIGKILL
                try:
                    d.rmdir()
                    break
                except OSError:
                    if not self.pids():
                        try:
                            d.rmdir()
                        except OSError:
                            pass
                        break
                    self.kill_all()


# -- the submission's files ------------------------------------------------------------------

def snapshot(tree: Path, dest: Optional[Path] = None) -> str:
    """Copies the submission's regular files (never a link, never a device) into dest, within
    a size and count limit, and returns the SHA-256 of what was copied: the grade is of these
    bytes, whatever happens to the tree afterwards. Without dest: the digest alone."""
    if not tree.is_dir():
        raise SandboxError(f"{tree}: not a folder")
    digest = hashlib.sha256()
    count = size = 0
    for dirpath, dirnames, filenames in os.walk(tree, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(tree)
        for name in sorted(filenames):
            src = Path(dirpath) / name
            st = src.lstat()
            if not src.is_file() or src.is_symlink():
                continue
            count += 1
            size += st.st_size
            if count > SNAPSHOT_MAX_FILES or size > SNAPSHOT_MAX_BYTES:
                raise SandboxError(f"{tree}: more than {SNAPSHOT_MAX_FILES} files or "
                                   f"{SNAPSHOT_MAX_BYTES // MiB} MiB")
            data = src.read_bytes()
            if dest is not None:
                target = dest / rel_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            digest.update(f"{rel_dir / name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def copy_program(src: Path, dest: Path, limit: int = 64 * MiB) -> bool:
    """Copies one built program out of the sandbox's build folder: a regular file, not a
    link, at most `limit` bytes. False if there is no such file."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not (st.st_mode & 0o170000 == 0o100000) or st.st_size > limit:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read(limit))
    dest.chmod(0o755)
    return True


def private_dir(prefix: str) -> Path:
    """A fresh folder only root (the grader) can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    return path


def give_to(path: Path, walls: Walls) -> None:
    """Makes a folder the sandboxed programs' own (the one place they may write)."""
    if os.geteuid() == 0 and walls.uid:
        os.chown(path, walls.uid, walls.gid, follow_symlinks=False)
    path.chmod(0o700)
