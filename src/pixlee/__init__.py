"""dlt-pixlee: a dlt source, client and local simulator for the Pixlee Content API v2.

The public names are imported on first use (PEP 562), so `import pixlee` — and the `pixlee`
command's `--help` — does not load dlt, pyarrow and the HTTP stack until something needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "Bounds": "pixlee.api.config",
    "DEFAULT_BASE_URL": "pixlee.api.config",
    "PixleeClient": "pixlee.api.client",
    "RetryPolicy": "pixlee.api.config",
    "PixleeAuthError": "pixlee.api.errors",
    "PixleeConfigError": "pixlee.api.errors",
    "PixleeContentError": "pixlee.api.errors",
    "PixleeDeadlineExceeded": "pixlee.api.errors",
    "PixleeError": "pixlee.api.errors",
    "PixleeNotFoundError": "pixlee.api.errors",
    "PixleeRedirectError": "pixlee.api.errors",
    "PixleeRequestError": "pixlee.api.errors",
    "PixleeResponseError": "pixlee.api.errors",
    "PixleeResponseTooLarge": "pixlee.api.errors",
    "PixleeRetriesExhausted": "pixlee.api.errors",
    "PixleeValidationError": "pixlee.api.errors",
    "PixleeWriteOutcomeUnknown": "pixlee.api.errors",
    "sign": "pixlee.api.write.signing",
    "ItemResult": "pixlee.api.write.bulk",
    "ProductResult": "pixlee.api.write.writer",
    "pixlee_media": "pixlee.destinations",
    "pixlee_products": "pixlee.destinations",
    "pixlee_source": "pixlee.source",
}

__all__ = [
    "Bounds",
    "DEFAULT_BASE_URL",
    "ItemResult",
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
    "PixleeWriteOutcomeUnknown",
    "ProductResult",
    "RetryPolicy",
    "pixlee_media",
    "pixlee_products",
    "pixlee_source",
    "sign",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pixlee' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
