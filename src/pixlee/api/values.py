"""Values as Pixlee sends them, read defensively.

Pixlee's payloads drift: ids arrive as strings in write responses and as ints in listings.
"""

from __future__ import annotations

from typing import Any


def to_int(value: Any) -> Any:
    """Numeric strings become ints (POST responses send ids as strings); anything else is kept."""
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
            return int(text)
    return value
