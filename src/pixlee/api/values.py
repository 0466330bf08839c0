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


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def as_bool(value: Any) -> bool | None:
    """A boolean as Pixlee or a CSV cell spells it (true/false, 1/0, yes/no); None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    return None
