"""dlt-pixlee: a dlt source, client and local simulator for the Pixlee Content API v2."""

from pixlee.api.client import PixleeClient
from pixlee.api.config import DEFAULT_BASE_URL, Bounds, RetryPolicy
from pixlee.api.errors import (
    PixleeAuthError,
    PixleeConfigError,
    PixleeContentError,
    PixleeDeadlineExceeded,
    PixleeError,
    PixleeNotFoundError,
    PixleeRedirectError,
    PixleeRequestError,
    PixleeResponseError,
    PixleeResponseTooLarge,
    PixleeRetriesExhausted,
    PixleeValidationError,
    PixleeWriteOutcomeUnknown,
)
from pixlee.api.write.bulk import ItemResult
from pixlee.api.write.signing import sign
from pixlee.api.write.writer import ProductResult
from pixlee.destinations import pixlee_media, pixlee_products
from pixlee.source import pixlee_source

__all__ = [
    "Bounds",
    "DEFAULT_BASE_URL",
    "ItemResult",
    "PixleeWriteOutcomeUnknown",
    "ProductResult",
    "PixleeAuthError",
    "PixleeClient",
    "PixleeConfigError",
    "PixleeContentError",
    "PixleeDeadlineExceeded",
    "PixleeError",
    "PixleeNotFoundError",
    "PixleeRedirectError",
    "PixleeRequestError",
    "PixleeResponseError",
    "PixleeResponseTooLarge",
    "PixleeRetriesExhausted",
    "PixleeValidationError",
    "RetryPolicy",
    "pixlee_media",
    "pixlee_products",
    "pixlee_source",
    "sign",
]
