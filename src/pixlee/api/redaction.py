"""Keep credentials out of messages and logs: the one choke point.

The read key travels in the query string (`?api_key=`), the private key too on writes, and a
server may echo either (or the `Signature` header) in an error body. So every piece of text
built from a URL, a header or a body passes through :func:`redact` before anyone can see it:

* :class:`pixlee.api.errors.PixleeError` redacts its message when it is made (every error the
  package raises is one of them, so no branch can forget);
* the classification of a response (:mod:`pixlee.api.responses`) redacts its message and
  excerpt, which are what log lines quote;
* :func:`install_log_redaction` filters the loggers that print request lines (urllib3's debug log
  shows each URL with its query string), and every logger of this package is made with
  :func:`redacting_logger`, because a filter on the ``pixlee`` logger does not apply to records
  of its children.

What is masked: `api_key=…`, `private_api_key=…`, `secret_key=…` in a query, form or JSON body,
a `Signature` header value, and every credential registered with :func:`register_secret`
(verbatim and URL-encoded), wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
_MIN_SECRET_LENGTH = 4
# `api_key=v` (query/form), `"api_key": "v"` (JSON), `'secret_key': 'v'` (a dict's repr)
_KEY_VALUE = re.compile(r"(?i)((?:api_key|secret_key)['\"]?\s*[:=]\s*['\"]?)[^&#\s'\",;}]+")
# `Signature: v`, `'Signature': 'v'`, `signature=v`: a base64 HMAC (28 or 44 characters)
_SIGNATURE = re.compile(r"(?i)(\bsignature['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/]{20,}={0,2}")

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a credential so that :func:`redact` masks it wherever it appears."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _known_lock:
        _known_secrets.update({value, quote(value, safe=""), quote_plus(value)})


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every credential masked (see the module's docstring for what counts)."""
    if not text:
        return text
    text = _KEY_VALUE.sub(r"\1" + REDACTED, text)
    text = _SIGNATURE.sub(r"\1" + REDACTED, text)
    with _known_lock:
        candidates = set(_known_secrets)
    candidates.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH)
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
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = SecretRedactingFilter()
# urllib3 logs request lines (with query strings) from `urllib3.connectionpool`; a logger's
# filters do not apply to its children's records, so each logger that may print is listed.
_LOGGERS = ("urllib3.connectionpool", "urllib3", "requests", "dlt")


def redacting_logger(name: str) -> logging.Logger:
    """The logger `name` with the redacting filter attached (for this package's modules)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers that may print request URLs (idempotent)."""
    for name in _LOGGERS:
        redacting_logger(name)
