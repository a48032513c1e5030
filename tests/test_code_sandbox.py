"""The code sandbox (tools/code/sandbox.py) against hostile code: each attack is stopped or
contained, and the test process is unharmed. Escapes (files, network) need bubblewrap, which
`make setup` installs; resource attacks are also run under resource limits alone."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from slmgraph.tools.code.sandbox import Limits, Sandbox, SandboxError

HAS_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bwrap absent (make setup installs it)")
LIMITS = Limits(wall_s=5, cpu_s=2, memory_mb=256, file_mb=4, processes=16, output_bytes=2000)


@pytest.fixture(scope="module", params=["bwrap", "rlimits"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    if request.param == "bwrap" and not HAS_BWRAP:
        pytest.skip("bwrap absent (make setup installs it)")
    return Sandbox(LIMITS, isolation=request.param)


@pytest.fixture(scope="module")
def jail() -> Sandbox:
    if not HAS_BWRAP:
        pytest.skip("bwrap absent (make setup installs it)")
    return Sandbox(LIMITS, isolation="bwrap")


def _unharmed() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0  # we can still fork
    assert len(bytearray(64 * 1024 * 1024)) > 0  # and allocate


def test_code_runs_and_its_output_comes_back(sandbox: Sandbox) -> None:
    out = sandbox.run(
        "import helper\nprint(helper.twice(21))", {"helper.py": "twice = lambda x: 2 * x"}
    )
    assert out.ok and out.stdout == "42\n" and out.isolation == sandbox.isolation


def test_an_error_is_an_outcome_not_an_exception(sandbox: Sandbox) -> None:
    out = sandbox.run("raise ValueError('boom')")
    assert out.status == "error" and out.returncode == 1 and "ValueError: boom" in out.stderr


def test_an_infinite_loop_stops_at_the_cpu_limit(sandbox: Sandbox) -> None:
    out = sandbox.run("while True: pass")
    assert out.status == "killed" and out.signal == "SIGXCPU" and out.wall_s < LIMITS.wall_s


def test_a_sleeper_stops_at_the_wall_clock(sandbox: Sandbox) -> None:
    out = sandbox.run("import time\ntime.sleep(60)")
    assert out.status == "timeout" and out.wall_s < LIMITS.wall_s + 3


def test_a_memory_hog_is_refused(sandbox: Sandbox) -> None:
    out = sandbox.run("chunks = []\nwhile True: chunks.append(bytearray(10**7))")
    assert out.status == "error" and "MemoryError" in out.stderr
    _unharmed()


def test_a_fork_bomb_is_bounded_and_leaves_nothing_behind(sandbox: Sandbox) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    out = sandbox.run(bomb)
    assert out.status in {"timeout", "killed"}
    _unharmed()
    after = sandbox.run("print('next run')")  # the next run starts: nothing left holds its slots
    assert after.ok and after.stdout == "next run\n"


def test_output_and_files_are_bounded(sandbox: Sandbox) -> None:
    out = sandbox.run("import sys\nwhile True: sys.stdout.write('x' * 10000)")
    assert out.truncated and len(out.stdout) < LIMITS.output_bytes + 100
    big = sandbox.run("open('f', 'wb').write(b'x' * (64 * 1024 * 1024))")
    assert big.status in {"error", "killed"} and "File too large" in big.stderr


def test_the_working_folder_starts_empty(sandbox: Sandbox) -> None:
    out = sandbox.run("import os\nprint(sorted(os.listdir('.')))")
    assert out.stdout.strip() == "['main.py']"


@pytest.fixture
def listener() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


@needs_bwrap
def test_no_connection_reaches_the_hosts_loopback(jail: Sandbox, listener: int) -> None:
    out = jail.run(
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        f"s.connect(('127.0.0.1', {listener}))\nprint('connected')"
    )
    assert out.status == "error" and "connected" not in out.stdout
    assert "ConnectionRefusedError" in out.stderr


@needs_bwrap
def test_files_outside_cannot_be_read(jail: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)  # readable by anyone on the host: only the sandbox keeps it out
    for path in (secret, Path("/etc/hostname"), Path.home() / ".bashrc"):
        out = jail.run(f"print(open({str(path)!r}).read())")
        assert out.status == "error" and "s3cret" not in out.stdout, path


@needs_bwrap
def test_writes_outside_the_working_folder_do_not_land(jail: Sandbox, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o777)
    targets = [tmp_path / "escaped.txt", Path("/tmp") / f"escaped-{os.getpid()}.txt"]
    code = "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError as e:\n    print(e)\n"
        for t in targets
    )
    code += "open('/usr/escaped.txt', 'w')\n"
    out = jail.run(code)
    assert "Read-only file system" in out.stderr
    assert not any(t.exists() for t in targets)


@needs_bwrap
def test_auto_isolation_picks_bwrap_where_it_runs() -> None:
    assert Sandbox(LIMITS).isolation == "bwrap"


def test_bad_file_names_are_refused() -> None:
    with pytest.raises(SandboxError, match="plain name"):
        Sandbox(LIMITS, isolation="rlimits").run("pass", {"../x.py": ""})
