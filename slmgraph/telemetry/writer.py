"""The call log's batched writer (``durability="batch"``): ``put`` queues a row and returns; a
thread inserts whatever has queued in one transaction. The queue is bounded, so a killed
process loses at most ``MAX_QUEUED + MAX_BATCH`` rows; a failed insert is a warning on stderr
at once (logging's last-resort handler prints it when the application set up none) and is
raised at the next ``join``."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("slmgraph.telemetry.calllog")

#: ``put`` blocks while MAX_QUEUED rows wait; one transaction takes at most MAX_BATCH.
MAX_QUEUED = 256
MAX_BATCH = 256

Row = dict[str, Any]


class BatchWriter:
    """Rows from any thread to ``insert`` on one writer thread; ``describe(exc, n)`` words the
    warning for ``n`` rows that could not be written."""

    def __init__(
        self, insert: Callable[[list[Row]], None], describe: Callable[[BaseException, int], str]
    ) -> None:
        self._insert = insert
        self._describe = describe
        self._queue: queue.Queue[Row | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def put(self, row: Row) -> None:
        if not self.running:
            with self._lock:
                if not self.running:
                    self._thread = threading.Thread(
                        target=self._drain, name="slmgraph-calllog", daemon=True
                    )
                    self._thread.start()
        self._queue.put(row)  # blocks while MAX_QUEUED rows wait: the loss window is bounded

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Row] = []
            stop = item is None
            if item is not None:
                batch.append(item)
            while not stop and len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                else:
                    batch.append(nxt)
            try:
                if batch:
                    self._insert(batch)
            except BaseException as exc:  # kept and raised at the next join: never silent
                self._error = exc
                logger.warning("%s", self._describe(exc, len(batch)))
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                return

    def join(self) -> None:
        """Wait until every queued row is inserted; raise the last insert error, if any."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def stop(self) -> None:
        """Write what is queued and end the thread (``put`` starts a new one)."""
        if self.running:
            assert self._thread is not None
            self._queue.put(None)
            self._thread.join()
        self._thread = None
