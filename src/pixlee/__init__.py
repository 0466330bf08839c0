"""dlt-pixlee: a dlt source, client and local simulator for the Pixlee Content API v2."""

from pixlee.api.client import DEFAULT_BASE_URL, PixleeClient, RetryPolicy
from pixlee.api.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeError,
    PixleeNotFoundError,
    PixleeRequestError,
    PixleeResponseError,
    PixleeRetriesExhausted,
    PixleeValidationError,
)
from pixlee.api.write.signing import sign
from pixlee.api.write.writer import ItemResult, PixleeWriteOutcomeUnknown, ProductResult
from pixlee.destinations import pixlee_media, pixlee_products
from pixlee.source import pixlee_source

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
