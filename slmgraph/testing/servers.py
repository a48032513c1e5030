"""Throwaway database servers for tests and benchmarks: PostgreSQL from the ``pgserver``
package, MariaDB from Debian's ``mariadb-server`` (``make setup`` installs it as root)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def postgres_server(root: Path) -> Iterator[str]:
    """A PostgreSQL 16 server in ``root`` (pgserver): yields its admin URL (Unix socket)."""
    import pgserver  # the dev extra

    get_server: Any = getattr(pgserver, "get_server")  # noqa: B009  (not re-exported)

    server: Any = get_server(root, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def mariadb_server(root: Path) -> Iterator[Path]:
    """A throwaway MariaDB server on a Unix socket under ``root`` (Debian's mariadb-server,
    which `make setup` installs): yields the socket; root connects without a password."""
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if install is None or server is None:
        raise FileNotFoundError("mariadb-server is not installed (make setup installs it)")
    data, sock = root / "data", root / "mariadb.sock"
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}", f"--socket={sock}", "--skip-networking",
         "--user=root", "--skip-log-bin", f"--pid-file={root / 'mariadb.pid'}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
