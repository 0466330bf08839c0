"""Files for POST /media/file: read with a size limit, typed by their first bytes.

Pixlee documents no upload limit; `MAX_FILE_BYTES` (100 MiB) keeps a mistaken upload (a whole
video archive) from being streamed for minutes only to be refused. Raise it per call with
`max_file_bytes`. The media type is sniffed from the file's magic bytes before its name is
trusted, and must be one Pixlee accepts.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from pixlee.api.errors import PixleeValidationError
from pixlee.api.write.payloads import CONTENT_TYPES, content_type

MAX_FILE_BYTES = 100 * 1024 * 1024
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (0, b"FLV", "video/x-flv"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/x-ms-wmv"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp3g", "video/3gpp"),
    (4, b"ftyp", "video/mp4"),
)


def sniff(data: bytes) -> str | None:
    """The media type from the first bytes (the file's own word beats its name)."""
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"AVI "):
        return "image/webp" if data[8:12] == b"WEBP" else "video/x-msvideo"
    for offset, magic, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


def read_upload(file: str | Path | bytes, filename: str | None, limit: int) -> tuple[bytes, str]:
    """The bytes and a file name; size checked before reading a path into memory."""
    if isinstance(file, bytes | bytearray):
        data, name = bytes(file), filename or "upload"
    else:
        path = Path(file)
        if not path.is_file():
            raise PixleeValidationError(f"file: no such file {str(path)!r}")
        size = path.stat().st_size
        if size > limit:
            raise PixleeValidationError(f"file: {size} bytes is over the {limit}-byte limit")
        data, name = path.read_bytes(), filename or path.name
    if not data:
        raise PixleeValidationError("file: is empty")
    if len(data) > limit:
        raise PixleeValidationError(f"file: {len(data)} bytes is over the {limit}-byte limit")
    return data, name


def upload_content_type(data: bytes, name: str, declared: str | None) -> str:
    """The declared type if given (and accepted), else the sniffed or guessed one."""
    if declared is not None:
        return str(content_type(declared))
    mime = sniff(data) or mimetypes.guess_type(name)[0]
    if mime not in CONTENT_TYPES:
        raise PixleeValidationError(
            f"file: type {mime or 'unknown'} is not accepted by Pixlee; accepted: "
            f"{', '.join(sorted(CONTENT_TYPES))} (pass content_type= if the file is one of them)"
        )
    return str(mime)
