"""Durable checkpoints: where a run on a named thread (``run(..., thread_id=T, checkpointer=...)``,
``slmgraph run/ask --thread T``) keeps its state after every step, so that a run killed in the
middle resumes from its last step instead of starting over.

Two stores, both LangGraph's own savers (no checkpoint format of ours):

- SQLite (``langgraph-checkpoint-sqlite``, a core dependency): the default, a file beside the
  call log (``checkpoints.sqlite`` in the call log's folder), WAL mode, so a killed process
  loses no step it finished.
- PostgreSQL (``langgraph-checkpoint-postgres``, the ``postgres`` extra): a ``postgresql://`` URL;
  a PostgreSQL call log keeps its checkpoints in the same database by default.

Opening checks the store at once (tables created, one write), so a store that cannot be written
fails before the first model call, with one line that names it and the fix.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.telemetry.calllog import CallLog, default_log_path
from slmgraph.telemetry.store import is_url, redact

__all__ = ["CHECKPOINTS_ENV", "CheckpointError", "Checkpoints", "default_checkpoints"]

#: Overrides where checkpoints go (a file or a ``postgresql://`` URL).
CHECKPOINTS_ENV = "SLMGRAPH_CHECKPOINTS"

FIX = "point --checkpoints or $SLMGRAPH_CHECKPOINTS at a writable file or a PostgreSQL URL"


class CheckpointError(SlmgraphError):
    """The checkpoint store cannot be opened, read or written."""


def default_checkpoints(call_log: CallLog | None = None) -> str:
    """``$SLMGRAPH_CHECKPOINTS``; else the PostgreSQL database of a PostgreSQL call log; else
    ``checkpoints.sqlite`` beside the call log (or beside the default call log)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    if env:
        return env
    if call_log is not None and call_log.url:
        return call_log.url
    folder = call_log.path.parent if call_log is not None else default_log_path().parent
    if call_log is not None and str(call_log.path) == ":memory:":
        folder = default_log_path().parent
    return str(folder / "checkpoints.sqlite")


class Checkpoints:
    """An open checkpoint store: ``saver`` is the LangGraph checkpointer to compile or run with.
    Close it when the run is over (or use it as a context manager)."""

    def __init__(self, where: str | Path) -> None:
        self.where = str(where)
        self.url = self.where if is_url(self.where) else None
        self._conn: Any = None
        self.saver: Any = self._open_pg() if self.url else self._open_sqlite(Path(self.where))

    def __repr__(self) -> str:
        return f"Checkpoints({redact(self.where)!r})"

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _open_sqlite(self, path: Path) -> Any:
        from langgraph.checkpoint.sqlite import SqliteSaver

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise CheckpointError(f"cannot open the checkpoints at {path}: {exc}; {FIX}") from None
        self._conn = conn
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
            saver = SqliteSaver(conn)
            saver.setup()
            # A write, so that a read-only file or a full disk fails here, not mid-run.
            conn.execute("CREATE TABLE IF NOT EXISTS slmgraph_meta (key TEXT PRIMARY KEY, v TEXT)")
            conn.execute("INSERT OR REPLACE INTO slmgraph_meta VALUES ('opened', datetime())")
            conn.commit()
        except sqlite3.DatabaseError as exc:
            self.close()
            what = "is not a checkpoint database" if "not a database" in str(exc) else str(exc)
            raise CheckpointError(f"the checkpoints at {path} {what}; {FIX}") from None
        return saver

    def _open_pg(self) -> Any:
        assert self.url is not None
        try:
            import psycopg
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
        except ImportError:
            raise CheckpointError(
                "PostgreSQL checkpoints need the postgres extra: pip install -e '.[postgres]'"
            ) from None
        where = redact(self.url)
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,
                connect_timeout=10,
            )
        except psycopg.Error as exc:
            raise CheckpointError(f"cannot connect to the checkpoints at {where}: {exc}") from None
        self._conn = conn
        try:
            saver = PostgresSaver(conn)
            saver.setup()
        except psycopg.Error as exc:
            self.close()
            raise CheckpointError(
                f"cannot create the checkpoint tables at {where}: {exc}; {FIX}"
            ) from None
        return saver
