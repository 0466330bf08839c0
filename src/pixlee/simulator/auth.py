"""Key checks and request signatures, written independently of the client's signing code.

POSTs carry ``Signature: base64(HMAC(secret, exact body bytes))``: SHA-1 by default, SHA-256
when ``Signature-Algorithm: hmac-sha256``. The server verifies the bytes it received, never a
re-serialization, so a client that signs one encoding and sends another is caught. Digests
are compared with ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_ALGORITHMS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256}


def keys_match(given: str | None, expected: str) -> bool:
    """Constant-time key comparison (a missing key never matches)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def signature_valid(
    secret: str, body: bytes, signature: str | None, algorithm: str | None = None
) -> bool:
    """Whether ``signature`` is the base64 HMAC of ``body`` under ``secret``."""
    if not signature:
        return False
    digest = _ALGORITHMS.get((algorithm or "hmac-sha1").strip().lower())
    if digest is None:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode(), body, digest).digest()
    return hmac.compare_digest(given, expected)
