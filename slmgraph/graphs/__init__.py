"""Spec -> LangGraph, routing pieces, and the built-in graph specs (``*.yaml``)."""
