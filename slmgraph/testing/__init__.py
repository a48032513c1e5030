"""Helpers for testing graphs offline: a tiny random-weight GGUF, scripted tiers."""

from slmgraph.testing.tiny_gguf import write_tiny_gguf

__all__ = ["write_tiny_gguf"]
