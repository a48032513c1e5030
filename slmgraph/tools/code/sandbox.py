"""Run untrusted generated Python: another process, bounded, in an empty folder, offline.

Two levels of isolation, chosen when the sandbox is made:

- ``bwrap`` (bubblewrap, Debian's ``bubblewrap`` package; ``make setup`` installs it): new
  user, PID, network, IPC and UTS namespaces; the only file system is ``/usr`` read-only, a
  private ``/tmp`` and ``/dev``, and the working folder at ``/work``. The network namespace has
  only its own loopback, so a connection to the host's ports is refused; files outside are not
  there to read or write.
- ``rlimits``: resource limits alone (where bwrap is missing or refuses to start). The code runs
  in the empty folder but can see the file system and the network as this user: a warning says
  so once per process, and every outcome records which level ran it.

Both apply the same resource limits (``setrlimit`` in the child, inherited through bwrap): CPU
seconds, address space, the largest file it may write, and processes. Run as root, the child
first drops to a uid of its own, unused by any account (one per run, from 200000 up), because
the kernel never applies the process limit to root (a fork bomb run as root is bounded only by
the machine); with a uid per run, one run's processes neither count against another's limit
nor survive it: every process of that uid is killed when the run ends. The wall-clock limit
kills the whole process group (and with bwrap, the PID namespace dies with its first
process). Output goes to files outside the working folder, bounded by the file-size limit, and
is cut to ``output_bytes`` when read back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Isolation = Literal["auto", "bwrap", "rlimits"]
_UIDS = (200_000, 265_000)  # per-run uids when running as root (no account uses them)
_warned: list[bool] = []


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the code in it failing)."""


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_mb: int = 16
    processes: int = 32
    output_bytes: int = 16_000


@dataclass
class Outcome:
    """What a run of untrusted code did. ``status``: ``ok`` (exit 0), ``error`` (non-zero
    exit), ``timeout`` (wall clock), ``killed`` (a signal: CPU, memory, file size)."""

    status: Literal["ok", "error", "timeout", "killed"]
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: Literal["bwrap", "rlimits"]
    truncated: bool = False
    signal: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _world_reachable(path: Path) -> bool:
    """Can a user other than the owner read ``path`` (every folder above it searchable)?"""
    try:
        real = path.resolve()
        if not real.stat().st_mode & stat.S_IROTH:
            return False
        return all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


def default_interpreter(dropping_privileges: bool) -> Path:
    """The Python the sandbox runs: this one's base interpreter, unless a dropped-privilege
    child could not read it (pyenv under ``/root``), then the system's ``/usr/bin/python3``."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    if not dropping_privileges or _world_reachable(base):
        return base
    system = Path("/usr/bin/python3")
    if system.exists():
        return system
    raise SandboxError(
        f"the sandbox drops root to an unprivileged uid and cannot read {base}; install "
        "a system python3 (apt-get install python3) or run as another user"
    )


def _pids_of(uid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid != uid:
                    continue
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != b"Z":  # a zombie holds nothing; its parent (maybe init) reaps it
                out.append(int(entry.name))
    return out


def _kill_all(uid: int, wait_s: float = 5.0) -> None:
    """Kill every process of ``uid`` (a run's own uid) and wait until none is left."""
    deadline = time.monotonic() + wait_s
    while (pids := _pids_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


class Sandbox:
    """Runs Python source under :class:`Limits`. ``isolation="auto"`` uses bwrap where it
    starts and falls back to resource limits with a warning."""

    def __init__(
        self,
        limits: Limits | None = None,
        isolation: Isolation = "auto",
        interpreter: str | Path | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.drop = os.geteuid() == 0
        self.interpreter = (
            Path(interpreter) if interpreter else default_interpreter(self.drop)
        ).absolute()
        bwrap = shutil.which("bwrap")
        if isolation == "bwrap" and bwrap is None:
            raise SandboxError("bwrap is not installed (apt-get install bubblewrap)")
        self.isolation: Literal["bwrap", "rlimits"] = "rlimits"
        if isolation != "rlimits" and bwrap is not None:
            probe = self._bwrap_probe(bwrap)
            if probe is None:
                self.isolation = "bwrap"
            elif isolation == "bwrap":
                raise SandboxError(f"bwrap does not start here: {probe}")
            else:
                self._warn(f"bwrap does not start here ({probe})")
        elif isolation == "auto":
            self._warn("bwrap is not installed")
        self._bwrap = bwrap

    @staticmethod
    def _warn(why: str) -> None:
        if not _warned:
            _warned.append(True)
            logger.warning(
                "code sandbox: %s; generated code runs under resource limits only, with this "
                "machine's files and network visible (install bubblewrap to isolate it)",
                why,
            )

    def _bwrap_probe(self, bwrap: str) -> str | None:
        with tempfile.TemporaryDirectory(prefix="slmgraph-probe-") as tmp:
            out = self._spawn(bwrap, Path(tmp), "pass", Limits(wall_s=20))
        return None if out.ok else (out.stderr.strip().splitlines() or ["no output"])[-1]

    def run(
        self, source: str, files: Mapping[str, str] | None = None, limits: Limits | None = None
    ) -> Outcome:
        """Run ``source`` as ``main.py`` in a new empty folder (with ``files`` beside it),
        under ``limits`` (default: the sandbox's)."""
        with tempfile.TemporaryDirectory(prefix="slmgraph-sbx-") as tmp:
            return self._spawn(self._bwrap if self.isolation == "bwrap" else None,
                               Path(tmp), source, limits or self.limits, files)  # fmt: skip

    def _argv(self, bwrap: str | None, work: Path) -> list[str]:
        python = [str(self.interpreter), "-E", "-s", "-B", "main.py"]  # no env, no user site
        if bwrap is None:
            return python
        argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                "--ro-bind", "/usr", "/usr"]  # fmt: skip
        for top in ("/bin", "/lib", "/lib64", "/sbin"):
            p = Path(top)
            if p.is_symlink():
                argv += ["--symlink", os.readlink(p), top]
            elif p.is_dir():
                argv += ["--ro-bind", top, top]
        prefix = Path(sys.base_prefix)
        if not str(self.interpreter).startswith("/usr/") and prefix.is_dir():
            argv += ["--ro-bind", str(prefix), str(prefix)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                 "--bind", str(work), "/work", "--chdir", "/work", "--clearenv",
                 "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/work",
                 "--setenv", "LANG", "C.UTF-8", "--"]  # fmt: skip
        return argv + python

    def _limiter(self, limits: Limits) -> Callable[[], None]:
        mb = 1024 * 1024
        nproc = limits.processes + (0 if self.drop else len(_pids_of(os.getuid())))

        def apply() -> None:  # runs in the child, after the uid change, before exec
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        return apply

    def _spawn(
        self,
        bwrap: str | None,
        tmp: Path,
        source: str,
        limits: Limits,
        files: Mapping[str, str] | None = None,
    ) -> Outcome:
        work = tmp / "work"
        work.mkdir()
        for name, text in {**(files or {}), "main.py": source}.items():
            if "/" in name or name.startswith("."):
                raise SandboxError(f"file name {name!r}: give a plain name, no folders")
            (work / name).write_text(text, encoding="utf-8")
        uid = None
        if self.drop:
            uid = secrets.SystemRandom().randrange(*_UIDS)
            while _pids_of(uid):
                uid = secrets.SystemRandom().randrange(*_UIDS)
            for p in (work, *work.iterdir()):
                os.chown(p, uid, uid)
            os.chmod(tmp, 0o755)
        out_path, err_path = tmp / "stdout", tmp / "stderr"
        started = time.perf_counter()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                proc = subprocess.Popen(
                    self._argv(bwrap, work),
                    cwd=work,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env={"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8"},
                    start_new_session=True,
                    user=uid,
                    group=uid,
                    extra_groups=[] if uid is not None else None,
                    preexec_fn=self._limiter(limits),
                )
            except OSError as exc:
                raise SandboxError(f"cannot start the sandbox: {exc}") from None
            timed_out = False
            try:
                proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group
                proc.wait()
                if uid is not None:
                    _kill_all(uid)  # children that left the group (setsid, a fork bomb)
        wall = time.perf_counter() - started
        stdout, cut_out = _read(out_path, limits.output_bytes)
        stderr, cut_err = _read(err_path, limits.output_bytes)
        code = proc.returncode
        sig = signal.Signals(-code).name if code is not None and code < 0 else None
        if bwrap is not None and code is not None and code > 128 and not timed_out:
            # bwrap's init reports a child killed by a signal as 128 + the signal
            try:
                sig = signal.Signals(code - 128).name
            except ValueError:
                sig = None
        status: Literal["ok", "error", "timeout", "killed"] = (
            "timeout"
            if timed_out
            else "ok"
            if code == 0
            else "killed"
            if sig in {"SIGKILL", "SIGXCPU", "SIGXFSZ", "SIGSEGV"}
            else "error"
        )
        return Outcome(
            status, code, stdout, stderr, round(wall, 3), "bwrap" if bwrap else "rlimits",
            cut_out or cut_err, sig,
        )  # fmt: skip


def _read(path: Path, limit: int) -> tuple[str, bool]:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    cut = len(data) > limit
    text = data[:limit].decode("utf-8", "replace")
    return (text + "\n[... output truncated]" if cut else text), cut


_shared: dict[str, Sandbox] = {}


def shared_sandbox(isolation: Isolation = "auto") -> Sandbox:
    """One sandbox per isolation level per process (probing bwrap once)."""
    if isolation not in _shared:
        _shared[isolation] = Sandbox(isolation=isolation)
    return _shared[isolation]
