"""Errors the client and source raise.

Each one carries a one-line message a user can act on. None of them can hold a credential:
:class:`PixleeError` passes every message through :func:`pixlee.api.redaction.redact` when it is
made, so a branch that forgets to redact a URL or an echoed body still cannot leak a key.
"""

from __future__ import annotations

from pixlee.api.redaction import redact


def _one_line(message: str) -> str:
    """Messages are read in logs, run summaries and CLI errors: one line, no runs of spaces."""
    return " ".join(message.split())


class PixleeError(Exception):
    """Base class of every error raised by this package (its message is redacted on creation)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(_one_line(str(message))))


class PixleeConfigError(PixleeError):
    """Configuration is missing or wrong; raised before any request is sent."""


class PixleeAuthError(PixleeError):
    """Pixlee answered 401 or 403: the key is wrong or lacks access. Never retried."""


class PixleeNotFoundError(PixleeError):
    """Pixlee answered 404 for an album, SKU, media or endpoint."""


class PixleeRequestError(PixleeError):
    """Pixlee rejected the request (a 4xx other than 401/403/404/429). Never retried."""


class PixleeResponseError(PixleeError):
    """Pixlee answered something that is not the documented envelope (HTML, bad JSON, …)."""


class PixleeContentError(PixleeResponseError):
    """One response body cannot be read as Pixlee's envelope: not JSON, not the envelope's shape,
    or a listing that does not end (`next` missing, pages repeating, `next` stuck on empty pages).

    Not retried: the server sent exactly this, and asking again gets the same. A caller reading
    many albums catches it per album and page and goes on with the others. `path` is the API
    path (no query, so no key), `page` the page number of a listing (None outside listings),
    `excerpt` a short, redacted piece of the body.
    """

    def __init__(self, message: str, *, path: str = "", page: int | None = None, excerpt: str = ""):
        super().__init__(message)
        self.path = path
        self.page = page
        self.excerpt = redact(excerpt)


class PixleeResponseTooLarge(PixleeContentError):
    """A body (after decompression) was larger than `max_response_bytes`; reading stopped there."""


class PixleeRedirectError(PixleeResponseError):
    """A redirect that is never followed: to another origin, a write, or too many hops."""


class PixleeRetriesExhausted(PixleeError):
    """A transient failure (429, 5xx, reset, cut body, deadline) outlasted the retry budget."""


class PixleeWriteOutcomeUnknown(PixleeRetriesExhausted):
    """A write may or may not have happened: it failed after its body was sent, or Pixlee
    answered 2xx without one of its documented success shapes.

    Not retried when repeating it could create a duplicate; check Pixlee before resubmitting.
    """


class PixleeDeadlineExceeded(PixleeError):
    """The run's overall deadline (`run_deadline_seconds`) passed: no new request was started."""


class PixleeValidationError(PixleeError, ValueError):
    """Input to a write call is invalid; raised before anything is sent."""
