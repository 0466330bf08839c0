"""Errors the client and source raise.

Each one carries a message a user can act on. None of them ever holds a credential: URLs are
redacted before they reach a message (see :mod:`pixlee.api.redaction`).
"""

from __future__ import annotations


class PixleeError(Exception):
    """Base class of every error raised by this package."""


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


class PixleeRetriesExhausted(PixleeError):
    """A transient failure (429, 5xx, reset, truncated body) outlasted the retry budget."""


class PixleeValidationError(PixleeError, ValueError):
    """Input to a write call is invalid; raised before anything is sent."""


class PixleeContentError(PixleeResponseError):
    """A page whose body cannot be used (undecodable, not the documented envelope): a content
    problem of that page, not a network fault, so it is not retried and costs only its album.

    `path` is the request path (no query string, so no key), `page` the page number (None for
    a single object), `excerpt` a short redacted piece of the body.
    """

    def __init__(self, message: str, *, path: str, page: int | None, excerpt: str) -> None:
        super().__init__(message)
        self.path = path
        self.page = page
        self.excerpt = excerpt
