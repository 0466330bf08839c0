"""The one error the report raises: a sentence that says what is wrong and what to do."""

from __future__ import annotations


class ReportError(Exception):
    """The report cannot be built (no such pipeline, nothing loaded, a bad option)."""
