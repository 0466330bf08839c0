"""Every failure of a command as one line that says what to do; Ctrl-C as exit code 130.

dlt wraps what goes wrong inside a run (`PipelineStepFailed` → `ResourceExtractionError` → …)
and its own messages run to dozens of lines (a missing credential lists every place it looked).
Users of a command want the cause and the fix: the chain is searched for the cause we know how
to explain, and whatever is printed passes through the one redaction choke point.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report an interrupted command
INTERRUPTED_MESSAGE = "interrupted; rerun to continue (nothing half-done was committed)"
_MAX_MESSAGE = 600


def fail(message: str) -> NoReturn:
    """Print `Error: <message>` on stderr (one line, secrets masked) and exit 1."""
    print(f"Error: {one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_FAILED)


def one_line(message: str) -> str:
    """The message without line breaks or runs of spaces, redacted, at most ~600 characters."""
    from pixlee.api.redaction import redact

    text = " ".join(redact(message).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Run a command: a failure becomes one line and exit 1, Ctrl-C exit 130."""
    from click.exceptions import Exit  # typer.Exit: a command's own exit code

    try:
        yield
    except (SystemExit, Exit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a command reports every failure, then exits
        if _interrupted(exc):
            print(INTERRUPTED_MESSAGE, file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None
        fail(explain(exc))


def explain(exc: BaseException) -> str:
    """What went wrong, from the most telling exception in `exc`'s chain."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    from pixlee.api.errors import PixleeError

    chain = list(_chain(exc))
    for cause in chain:
        if isinstance(cause, PixleeError):
            return str(cause)
        if isinstance(cause, ConfigFieldMissingException):
            return missing_configuration(cause)
        locked = _locked_database(cause)
        if locked is not None:
            return locked
    root = chain[-1]
    first_line = (str(root).strip().splitlines() or [""])[0]
    return f"{type(root).__name__}: {first_line}" if first_line else type(root).__name__


def missing_configuration(exc: Any) -> str:
    """Where to put each missing setting, named as a toml section and an environment variable."""
    places = [_where(field, traces) for field, traces in exc.traces.items()]
    return "missing configuration: " + "; ".join(places)


def _where(field: str, traces: list[Any]) -> str:
    from dlt.common.configuration.exceptions import LookupTraces

    nested = [trace for trace in traces if isinstance(trace, LookupTraces)]
    if nested:  # a whole configuration (e.g. a destination's credentials) is missing
        inner = [t for group in nested for ts in group.traces.values() for t in ts]
        sections = _most_specific(inner) or [field]
        field, sections = sections[-1], sections[:-1]
    else:
        sections = _most_specific(traces)
    section = ".".join(sections)
    env = "__".join([*sections, field]).upper()
    where = f"under [{section}] " if section else ""
    return f"set `{field}` {where}in .dlt/secrets.toml (or the environment variable {env})"


def _most_specific(traces: list[Any]) -> list[str]:
    """The longest section path tried without a pipeline-name prefix (dlt tries those first)."""
    paths = [list(getattr(trace, "sections", []) or []) for trace in traces]
    if not paths:
        return []
    longest = max(len(path) for path in paths)
    return [path for path in paths if len(path) == longest][-1]


def _locked_database(exc: BaseException) -> str | None:
    """DuckDB's "Could not set lock on file …: Conflicting lock is held in … (PID n)"."""
    text = str(exc)
    marker = "Could not set lock on file"
    if marker not in text:
        return None
    detail = text[text.index(marker) :].splitlines()[0]
    return (
        f"the DuckDB file is in use by another process: {detail}. Close that process "
        "(a notebook, `dlt pipeline … show`, a DuckDB shell) or wait for it, then rerun."
    )


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C, also when dlt turned it into its `SignalReceivedException` (a KeyboardInterrupt)
    and wrapped that in a failed pipeline step."""
    return any(isinstance(cause, KeyboardInterrupt) for cause in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: dlt's `.exception`, `__cause__`, `__context__`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "exception", None)
        current = (
            (wrapped if isinstance(wrapped, BaseException) else None)
            or current.__cause__
            or current.__context__
        )
