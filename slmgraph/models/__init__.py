"""Model backends behind one small interface (:class:`~slmgraph.models.base.Backend`)."""

from slmgraph.models.base import Backend, Completion, Message, Usage, create_backend

__all__ = ["Backend", "Completion", "Message", "Usage", "create_backend"]
