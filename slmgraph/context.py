"""The run context: LangGraph's ``context_schema`` for slmgraph graphs.

Per-run resources — the query-writer's database, the team's code sandbox, the operator's
browser — travel here, not in the state: the state is data a checkpoint can save, a resource is
an open handle. A resource is registered by a plug-in (:func:`slmgraph.registry.register_resource`)
and opened from the run's state on first use (the database from the state key ``db``), once per
run; the runner closes what was opened when the run ends. A caller that already holds a
resource passes it in ``resources`` and it is used as is (and not closed).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slmgraph.errors import RunError, SlmgraphError

logger = logging.getLogger(__name__)

State = Mapping[str, Any]


@dataclass(frozen=True)
class Resource:
    """A per-run resource: opened from the run's state on first use, closed when the run ends."""

    name: str
    open: Callable[[State], Any]
    close: Callable[[Any], None] | None = None
    description: str = ""
    reads: tuple[str, ...] = ()
    plugin: str = ""


#: Resources by name (filled by :func:`slmgraph.registry.register_resource`).
RESOURCES: dict[str, Resource] = {}


@dataclass
class RunContext:
    """What one run carries besides its state: ids for the call log, and its resources."""

    run_id: str | None = None
    session_id: str | None = None
    #: Resources by registered name; given by the caller, or opened on first use.
    resources: dict[str, Any] = field(default_factory=dict)
    _opened: list[str] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def resource(self, name: str, state: Mapping[str, Any], node: str | None = None) -> Any:
        """The run's resource ``name``, opened from ``state`` the first time it is asked for.

        A resource that cannot be opened is a :class:`RunError` naming the node, so the run
        ends in its defined failure state."""
        with self._lock:
            if name in self.resources:
                return self.resources[name]
            spec = RESOURCES.get(name)
            if spec is None:
                raise RunError(f"no resource named {name!r} is registered", node=node)
            try:
                value = spec.open(state)
            except RunError as exc:
                raise RunError(str(exc), node=node or exc.node) from None
            except SlmgraphError as exc:
                raise RunError(f"cannot open {name}: {exc}", node=node) from None
            self.resources[name] = value
            self._opened.append(name)
            return value

    def close(self) -> None:
        """Close the resources this context opened (newest first); errors are logged."""
        with self._lock:
            opened, self._opened = self._opened, []
            for name in reversed(opened):
                value = self.resources.pop(name, None)
                spec = RESOURCES.get(name)
                if spec is None or spec.close is None or value is None:
                    continue
                try:
                    spec.close(value)
                except Exception as exc:  # closing must not turn a finished run into a failure
                    logger.warning("closing resource %r failed: %s", name, exc)


#: Runs started without a context (LangGraph Studio, a bare ``graph.invoke``) get one per run
#: id here; the oldest are closed once more than this many are open.
_MAX_ORPHANS = 8
_orphans: OrderedDict[str, RunContext] = OrderedDict()
_orphans_lock = threading.Lock()


def context_for(key: str) -> RunContext:
    """A context for a run that came without one (keyed by its run or thread id)."""
    with _orphans_lock:
        ctx = _orphans.get(key)
        if ctx is None:
            ctx = _orphans[key] = RunContext(run_id=key)
            while len(_orphans) > _MAX_ORPHANS:
                _, old = _orphans.popitem(last=False)
                old.close()
        else:
            _orphans.move_to_end(key)
        return ctx


__all__ = ["RESOURCES", "Resource", "RunContext", "context_for"]
