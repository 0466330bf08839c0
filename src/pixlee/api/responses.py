"""What one exchange with Pixlee means, as a value (like Airbyte's `ErrorResolution`).

:func:`classify` turns a status, headers and body into a :class:`Resolution`: ok, retry,
rate-limited, fail, or content error, with its message already redacted. The session
(:mod:`pixlee.api.session`) decides from that value alone whether to try again; nothing here
sends, sleeps or raises.

Pixlee's quirks read here: `status` inside the body as an int or a string ("404", "500"), errors
with HTTP 200, a CDN's HTML page or cut body on 5xx, `Retry-After` in seconds or as a date.
A 2xx body that is not JSON is a *content error* (the server sent exactly that; asking again
gets the same), except a body cut short (an object without its closing brace), which the
network did. A page with invalid UTF-8 or a lone surrogate escape in one caption is decoded
with U+FFFD in their place (`Resolution.repaired`), so one caption does not cost the page.
"""

from __future__ import annotations

import enum
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson

from pixlee.api.errors import (
    PixleeAuthError,
    PixleeError,
    PixleeNotFoundError,
    PixleeRequestError,
    PixleeResponseError,
)
from pixlee.api.redaction import redact

Side = Literal["read", "write"]
Body = bytes | bytearray  # a body as read (a bytearray, not copied again)
EXCERPT_CHARS = 160
_REDACTION_MARGIN = 512  # longer than any credential
_HEAD_BYTES = 4096  # what an error message may quote from a body
_SURROGATE = re.compile("[\ud800-\udfff]")
_PERMANENT_500 = "No usable value"  # Pixlee's plain-text 500 for an unusable photo_uri
_READ_KEY_HELP = (
    "Check `api_key` under [sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__API_KEY): it must "
    "be the account's API key from Settings → Pixlee API."
)


class Action(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # transient: 5xx, reset, timeout, a cut body, `status` 5xx in the body
    RATE_LIMITED = "rate_limited"  # 429 (HTTP or in the body): retried after a pause
    FAIL = "fail"  # a definite answer another attempt would not change
    CONTENT_ERROR = "content_error"  # a body that cannot be read as Pixlee's envelope


@dataclass(frozen=True)
class Resolution:
    """The meaning of one attempt. `message` and `excerpt` are redacted on creation."""

    action: Action
    what: str
    message: str = ""
    status: int | None = None
    body: dict[str, Any] | None = None  # OK: the decoded JSON object
    # OK on a read: the body's bytes as they came (`PixleeSession.get_raw`)
    content: Body | None = field(default=None, repr=False)
    # OK on a read whose body a `read` callable took (then `body` is None; see `classify`)
    parsed: Any = field(default=None, repr=False)
    text: str | None = None  # OK on a write whose 2xx body is not a JSON object
    retry_after: float | None = None  # a usable `Retry-After`, in seconds
    error: type[PixleeError] = PixleeResponseError  # what FAIL raises
    excerpt: str = ""
    reached_server: bool = True  # False only when the request provably never left
    repaired: str | None = None  # why a lenient decode was needed (U+FFFD replacements)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))
        object.__setattr__(self, "excerpt", redact(self.excerpt))

    @property
    def retryable(self) -> bool:
        return self.action in (Action.RETRY, Action.RATE_LIMITED)


def classify(
    what: str,
    status: int,
    headers: Mapping[str, str],
    content: Body,
    *,
    side: Side = "read",
    now: Callable[[], float] = time.time,
    read: Callable[[Body], Any] | None = None,
) -> Resolution:
    """The meaning of a complete response (redirects are the session's, never seen here).

    `read` is tried first on a 2xx read's body: an answer other than None is the OK page
    (`parsed`), and only a body it refuses is decoded here. It must refuse whatever this module
    would not call OK (an error `status` inside, not one JSON object, a cut body)."""
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        return Resolution(Action.RATE_LIMITED, what, f"{what}: HTTP 429 (rate limited)", status,
                          retry_after=retry_after)  # fmt: skip
    text = _text(content[:_HEAD_BYTES])
    if status >= 500:
        return _server_error(what, status, text, side)
    if status >= 400:
        return _client_error(what, status, text, side)
    if not 200 <= status < 300:
        message = f"{what}: unexpected HTTP {status}: {snippet(text)}"
        return Resolution(Action.FAIL, what, message, status, excerpt=snippet(text))
    if read is not None and side == "read":
        parsed = read(content)
        if parsed is not None:
            return Resolution(Action.OK, what, status=status, content=content, parsed=parsed)
    return _success(what, status, headers, content, side)


def _success(
    what: str, status: int, headers: Mapping[str, str], content: Body, side: Side
) -> Resolution:
    value, repaired = decode_json(content)
    if value is NOT_JSON and looks_cut(content):
        message = f"{what}: HTTP {status} with a body cut short ({len(content)} bytes)"
        return Resolution(Action.RETRY, what, message, status, excerpt=tail_excerpt(content))
    if not isinstance(value, dict):
        if side == "write":  # the writer checks the documented shapes ("Product updated.")
            return Resolution(Action.OK, what, status=status, text=_text(content).strip())
        return _not_an_envelope(what, status, headers, content, value)
    in_body = status_in_body(value)
    if in_body is not None and in_body >= 400:
        return _error_in_body(what, in_body, content, side)
    raw = content if side == "read" else None
    return Resolution(Action.OK, what, status=status, body=value, content=raw, repaired=repaired)


def _not_an_envelope(
    what: str, status: int, headers: Mapping[str, str], content: Body, value: Any
) -> Resolution:
    if value is NOT_JSON:
        kind = headers.get("Content-Type", "no content type")
        described = f"a body that is not JSON ({kind})"
    else:
        described = f"JSON that is not an object envelope ({type(value).__name__})"
    excerpt = snippet(_text(content[:_HEAD_BYTES]))
    message = f"{what}: HTTP {status} with {described}: {excerpt}"
    return Resolution(Action.CONTENT_ERROR, what, message, status, excerpt=excerpt)


def _error_in_body(what: str, status: int, content: Body, side: Side) -> Resolution:
    """Pixlee sometimes answers HTTP 200 with `"status": "500"` (or 404…) in the body."""
    if status == 429:
        return Resolution(Action.RATE_LIMITED, what, f"{what}: status 429 in the body", status)
    head = _text(content[:_HEAD_BYTES])
    if status >= 500:
        excerpt = snippet(head)
        message = f"{what}: status {status} in the body: {excerpt}"
        return Resolution(Action.RETRY, what, message, status, excerpt=excerpt)
    return _client_error(what, status, head, side)


def _server_error(what: str, status: int, text: str, side: Side) -> Resolution:
    excerpt = snippet(text)
    if side == "write" and text.startswith(_PERMANENT_500):
        message = f"Pixlee rejected {what} (HTTP {status}): {excerpt}"
        return Resolution(Action.FAIL, what, message, status, error=PixleeRequestError,
                          excerpt=excerpt)  # fmt: skip
    message = f"{what}: HTTP {status}: {excerpt}"
    return Resolution(Action.RETRY, what, message, status, excerpt=excerpt)


def _client_error(what: str, status: int, text: str, side: Side) -> Resolution:
    detail = snippet(text)
    error: type[PixleeError] = PixleeRequestError
    if status in (401, 403):
        error = PixleeAuthError
        message = _auth_message(what, status, detail, side)
    elif status == 404:
        error = PixleeNotFoundError
        message = f"Pixlee answered 404 on {what}: {detail}"
    else:
        message = f"Pixlee rejected {what} with HTTP {status}: {detail}"
    return Resolution(Action.FAIL, what, message, status, error=error, excerpt=detail)


def _auth_message(what: str, status: int, detail: str, side: Side) -> str:
    if side == "read":
        return f"Pixlee rejected the API key (HTTP {status}) on {what}. {_READ_KEY_HELP} " + (
            f"Response: {detail}"
        )
    if status == 401:
        return (
            f"Pixlee rejected the private API key (HTTP 401) on {what}: check `private_api_key` "
            f"under [sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY). "
            f"Response: {detail}"
        )
    return (
        f"Pixlee rejected the request signature (HTTP 403) on {what}: check `secret_key` under "
        f"[sources.pixlee_source] (or SOURCES__PIXLEE_SOURCE__SECRET_KEY) and the signature "
        f"algorithm. Response: {detail}"
    )


# --- bodies --------------------------------------------------------------------------------------

NOT_JSON: Any = object()


def decode_json(content: Body) -> tuple[Any, str | None]:
    """The decoded body, and why it needed a lenient decode (None if it did not).

    Strict first (orjson, several times faster than json on ~80-field media). Only if that
    fails, Python's json decodes it with invalid UTF-8 bytes and lone surrogate escapes
    replaced by U+FFFD, so that one caption does not make a page unreadable (NaN and Infinity
    stay refused: Pixlee never sends them). `NOT_JSON` when neither can read it.
    """
    try:
        return orjson.loads(content), None
    except orjson.JSONDecodeError as exc:
        reason = str(exc.msg if hasattr(exc, "msg") else exc)
    try:
        value = json.loads(_text(content), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return NOT_JSON, None
    return _replace_surrogates(value), reason


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _replace_surrogates(value: Any) -> Any:
    """Every string (keys too) without lone surrogates; iterative, so depth cannot overflow."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            cleaned = {_SURROGATE.sub("\ufffd", k): v for k, v in item.items()}
            container[key] = cleaned
            stack.extend((cleaned, k) for k in cleaned)
    return root[0]


def looks_cut(content: Body) -> bool:
    """An object that never closes: the body was cut on the way (worth another attempt)."""
    stripped = content.strip()
    return stripped.startswith(b"{") and not stripped.endswith(b"}")


def status_in_body(body: Mapping[str, Any]) -> int | None:
    """Pixlee puts `status` in bodies as an int or a string ("404"); read either."""
    raw = body.get("status")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from `Retry-After` (a number or an HTTP date); None when it is not usable.

    Negative, NaN, infinite or unparsable values get the normal backoff instead: honouring
    `-5` or `nan` as 0 retried eight times in 0.3 s.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _text(content: Body) -> str:
    """A body as text for a message (invalid bytes shown as U+FFFD)."""
    return content.decode("utf-8", errors="replace")


def snippet(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, one-line, redacted piece of a body for a message.

    Redacted before it is cut, over a window wide enough that a credential starting inside
    the piece is masked whole (a cut first could leave half a key unrecognised).
    """
    window = text[: limit + _REDACTION_MARGIN]
    cleaned = redact(" ".join(window.split()))
    return cleaned[:limit] + ("…" if len(cleaned) > limit or len(text) > len(window) else "")


def tail_excerpt(content: Body, limit: int = EXCERPT_CHARS) -> str:
    """The end of a body (where a cut shows), redacted the same way."""
    window = redact(" ".join(_text(content[-(limit + _REDACTION_MARGIN) :]).split()))
    return ("…" if len(window) > limit else "") + window[-limit:]
