"""HMAC signatures for Pixlee's POST endpoints.

Pixlee verifies `Signature = base64(HMAC(secret, body))` over the exact bytes it receives, so the
body is serialised once (:func:`minified_json`) and those same bytes are signed and sent.
Minified means `","`/`":"` separators, `/` not escaped (Python never escapes it) and non-ASCII
kept as UTF-8 (``ensure_ascii=False``) — the reference's test vector pins the first two.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Literal

Algorithm = Literal["sha1", "sha256"]
SIGNATURE_ALGORITHM_HEADER = "Signature-Algorithm"
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


def minified_json(payload: Any) -> bytes:
    """The exact body bytes to sign and send."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(secret: str | bytes, body: str | bytes, algorithm: Algorithm = "sha1") -> str:
    """Base64 HMAC of `body` with `secret` (sha1 by default; sha256 for `hmac-sha256`)."""
    if algorithm not in _DIGESTS:
        raise ValueError(f"algorithm must be 'sha1' or 'sha256', got {algorithm!r}")
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(key, message, _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_headers(secret: str, body: bytes, algorithm: Algorithm = "sha1") -> dict[str, str]:
    """Headers for a signed POST: `Signature`, and `Signature-Algorithm` for sha256."""
    headers = {"Signature": sign(secret, body, algorithm)}
    if algorithm == "sha256":
        headers[SIGNATURE_ALGORITHM_HEADER] = "hmac-sha256"
    return headers
