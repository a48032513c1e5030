"""Telemetry: every model call is recorded in the :class:`CallLog`."""

from slmgraph.telemetry.calllog import CallLog, CallRecord, default_log_path

__all__ = ["CallLog", "CallRecord", "default_log_path"]
