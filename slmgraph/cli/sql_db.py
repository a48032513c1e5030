"""What ``ask`` checks about a SQLite ``--db`` before it builds a graph, so that a wrong file is
one line naming the problem (and the way out) instead of an error of the graph's first node:
missing, a directory, unreadable, empty, not SQLite, truncated (shorter than its header says),
corrupt, or locked by another process past a bounded wait.

The checks cost a stat, a 100-byte read, one read-only connection and SQLite's
``quick_check`` under a time budget: on a large file the check gives up (it does not fail)
when the budget is spent, and corruption further in is reported by the query that reads it.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import quote

from slmgraph.tools.sql.database import Database, DatabaseError, _file_of, open_database

#: Seconds to wait for another process's write lock before giving up.
LOCK_WAIT_S = 5.0
#: Seconds ``PRAGMA quick_check`` may take before it is left unfinished.
CHECK_BUDGET_S = 0.5
_MAGIC = b"SQLite format 3\x00"
_HEADER = 100


def open_sqlite(db: str) -> Database:
    """The SQLite database ``db`` names (a path or ``sqlite:///`` URL), checked and open."""
    path = _file_of(db)
    _check_file(path)
    _probe(path)
    try:
        database = open_database(db)
        database.schema()  # what the graph's first node reads; cached for it per file version
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    return database


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DatabaseError(
            f"no SQLite database at {path}: check the path (`slmgraph demo-db` builds a demo one)"
        ) from None
    except OSError as exc:
        raise DatabaseError(f"cannot open {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DatabaseError(f"{path} is a directory, not a SQLite file: name the file in it")
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseError(f"{path} is not a regular file: --db takes a SQLite database file")
    try:
        with path.open("rb") as f:
            head = f.read(_HEADER)
    except OSError as exc:
        raise DatabaseError(
            f"cannot read {path}: {exc.strerror} (check its permissions and owner)"
        ) from None
    if st.st_size == 0:
        raise DatabaseError(f"{path} is empty (0 bytes), not a SQLite database")
    if not head.startswith(_MAGIC):
        raise DatabaseError(
            f"{path} is not a SQLite database (it does not begin with the SQLite header)"
        )
    if len(head) < _HEADER:
        raise DatabaseError(
            f"{path} is truncated: {st.st_size} bytes, shorter than SQLite's {_HEADER}-byte "
            "header; copy it again or restore it from a backup"
        )
    # The header's page count is valid when its version-valid-for number equals the change
    # counter (SQLite file format, section 1.3.7); a file shorter than it has lost its tail.
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if head[92:96] == head[24:28] and pages and st.st_size < pages * page_size:
        raise DatabaseError(
            f"{path} is truncated: {st.st_size} bytes, but its header says {pages} pages of "
            f"{page_size} bytes ({pages * page_size}); copy it again or restore it from a backup"
        )


def _probe(path: Path) -> None:
    """Open the file read-only, wait up to :data:`LOCK_WAIT_S` for a lock another process
    holds, and run ``quick_check`` for at most :data:`CHECK_BUDGET_S`."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_S)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        deadline = time.monotonic() + CHECK_BUDGET_S
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            verdict = conn.execute("PRAGMA quick_check(1)").fetchone()
        except sqlite3.OperationalError as exc:
            if str(exc) != "interrupted":  # "interrupted": a large file, checked no further
                raise
        else:
            if verdict and verdict[0] != "ok":
                raise _corrupt(path, str(verdict[0]))
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    finally:
        conn.close()


def _sqlite_error(path: Path, exc: sqlite3.Error) -> DatabaseError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseError(
            f"{path} is locked by another process (still locked after {LOCK_WAIT_S:g} s): "
            "retry when its write transaction ends"
        )
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return _corrupt(path, text)  # "file is not a database", "... disk image is malformed"
    if "unable to open" in text:
        return DatabaseError(f"cannot open {path} read-only: {text}")
    return DatabaseError(f"{path}: {text}")


def _corrupt(path: Path, detail: str) -> DatabaseError:
    detail = " ".join(detail.split())[:200]
    return DatabaseError(
        f"{path} is corrupt (SQLite: {detail}): restore it from a backup, or salvage it with "
        "the sqlite3 shell's .recover"
    )


__all__ = ["CHECK_BUDGET_S", "LOCK_WAIT_S", "open_sqlite"]
