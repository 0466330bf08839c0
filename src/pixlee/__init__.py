"""dlt-pixlee: a dlt source, client and local simulator for the Pixlee Content API v2."""

from pixlee.client import DEFAULT_BASE_URL, PixleeClient, RetryPolicy
from pixlee.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeError,
    PixleeNotFoundError,
    PixleeRequestError,
    PixleeResponseError,
    PixleeRetriesExhausted,
    PixleeValidationError,
)
from pixlee.signing import sign
from pixlee.source import pixlee_source

__all__ = [
    "DEFAULT_BASE_URL",
    "PixleeAuthError",
    "PixleeClient",
    "PixleeConfigError",
    "PixleeError",
    "PixleeNotFoundError",
    "PixleeRequestError",
    "PixleeResponseError",
    "PixleeRetriesExhausted",
    "PixleeValidationError",
    "RetryPolicy",
    "pixlee_source",
    "sign",
]
