"""dlt-pixlee: a dlt source, client and local simulator for the Pixlee Content API v2."""

from pixlee.client import DEFAULT_BASE_URL, PixleeClient, RetryPolicy
from pixlee.destinations import pixlee_media, pixlee_products
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
from pixlee.writes import ItemResult, PixleeWriteOutcomeUnknown, ProductResult

__all__ = [
    "DEFAULT_BASE_URL",
    "ItemResult",
    "PixleeWriteOutcomeUnknown",
    "ProductResult",
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
    "pixlee_media",
    "pixlee_products",
    "pixlee_source",
    "sign",
]
