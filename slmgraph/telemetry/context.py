"""Context of the model call in progress (which run, node and tier), set by the graph builder.

Context variables rather than arguments so that backends and the call log learn *who* is calling
without every node threading ids through its code; LangGraph runs each node in a context copy.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

current_run: ContextVar[str | None] = ContextVar("slmgraph_run", default=None)
current_node: ContextVar[str | None] = ContextVar("slmgraph_node", default=None)
current_graph: ContextVar[str | None] = ContextVar("slmgraph_graph", default=None)
current_session: ContextVar[str | None] = ContextVar("slmgraph_session", default=None)


class StepCalls:
    """The model calls of one node's task in a run on a durable thread.

    Each call gets a replay key: the task (thread and LangGraph's task path, the same when a
    resumed run redoes the task) and the tier with its ordinal there. A run resumed after a
    kill (``replay`` set to the call log) finds the calls the killed task had already made and
    replays them instead of calling (and logging) again: 0 duplicated rows, the same answers.
    """

    def __init__(self, task: str, replay: Any = None) -> None:
        self.task = task
        self.replay = replay
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        #: Calls answered from the log in this task.
        self.replayed = 0

    def key(self, tier: str) -> str:
        with self._lock:
            n = self._counts.get(tier, 0) + 1
            self._counts[tier] = n
        return f"{self.task}|{tier}#{n}"


current_step: ContextVar[StepCalls | None] = ContextVar("slmgraph_step", default=None)
