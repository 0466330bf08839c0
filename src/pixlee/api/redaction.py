"""Keep credentials out of messages and logs.

The read key travels in the query string (`?api_key=`), so any URL that reaches an exception
message or a log line would leak it. Everything that formats a URL goes through
:func:`redact_url`, and :func:`install_log_redaction` filters urllib3's debug log, which prints
request lines with their query strings.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "***"
_QUERY_SECRET = re.compile(r"(?i)(api_key=)[^&#\s'\"]*")

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a credential so that :func:`redact` masks it wherever it appears."""
    if value and len(value) >= 4:
        with _known_lock:
            _known_secrets.add(value)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask `api_key=` query values and every registered (or given) secret in `text`."""
    text = _QUERY_SECRET.sub(r"\1" + REDACTED, text)
    with _known_lock:
        candidates = set(_known_secrets)
    candidates.update(s for s in secrets if s)
    for secret in sorted(candidates, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_url(url: str) -> str:
    """A URL safe to print: the `api_key` query value replaced by ``***``."""
    return redact(url)


class SecretRedactingFilter(logging.Filter):
    """Rewrites a log record's message so that no credential survives formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = SecretRedactingFilter()
_LOGGERS = ("urllib3.connectionpool", "urllib3", "requests", "dlt", "pixlee")


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers that may print request URLs (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
