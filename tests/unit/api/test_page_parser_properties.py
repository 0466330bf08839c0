"""Property: whatever a server sends, reading a page gives a page or a one-line `PixleeError`.

Random Pixlee-shaped envelopes (random types where the envelope has its fields, keys missing,
odd unicode: lone surrogates, NULs, emoji; the key itself planted in values), first as decoded
values through `parse_page`, then as bytes (sometimes cut or with invalid bytes spliced in)
through `classify` and `parse_page`. Never another exception, never a multi-line message, never
the key in a message or excerpt.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixlee import PixleeError
from pixlee.api.errors import PixleeContentError
from pixlee.api.paging import NextFlagPaginator, Page, parse_page
from pixlee.api.redaction import register_secret
from pixlee.api.responses import Action, classify

KEY = "k3y-property-0001"
register_secret(KEY)  # as every client does with its keys
PATH = "/albums/7/photos"

odd_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [KEY, f"api_key={KEY}", "\ud800", "a\udc00b", "\x00", "\U0001f600", "é\n\t", "", " "]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), odd_text)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(odd_text, children, max_size=3)
    ),
    max_leaves=12,
)
media = st.dictionaries(
    st.sampled_from(["album_photo_id", "id", "photo_title", "products", "source", "x"]) | odd_text,
    json_values,
    max_size=5,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "next": st.one_of(st.booleans(), st.sampled_from(["true", "false", 1, 0]), json_values),
        "data": st.one_of(st.lists(media, max_size=4), json_values),
        "page": json_values,
        "total": json_values,
        "status": st.one_of(st.sampled_from([200, "200", "500", 404, "404", 429]), json_values),
        "message": odd_text,
    },
)


def _check_error(error: PixleeError) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message
    assert KEY not in message
    if isinstance(error, PixleeContentError):
        assert KEY not in error.excerpt and error.path == PATH


def _read(body: Any, page_no: int) -> Page | None:
    try:
        page = parse_page(body, path=PATH, page_no=page_no)
    except PixleeError as error:
        _check_error(error)
        return None
    assert isinstance(page.has_next, bool) and page.page == page_no
    assert all(isinstance(item, dict) for item in page.items)
    return page


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(envelopes, json_values), page_no=st.integers(1, 10_000))
def test_any_decoded_body_is_a_page_or_a_clear_error(body: Any, page_no: int) -> None:
    page = _read(body, page_no)
    if page is not None:
        try:
            NextFlagPaginator(PATH, max_empty_pages=3).has_next(page)
        except PixleeError as error:  # pragma: no cover - a first page never repeats
            _check_error(error)
            raise


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=envelopes,
    ascii_only=st.booleans(),
    splice=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.binary(max_size=4))),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_any_body_bytes_are_a_page_or_a_clear_error(
    body: Any, ascii_only: bool, splice: tuple[int, bytes] | None, cut: int | None
) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if splice is not None:
        at = splice[0] % (len(raw) + 1)
        raw = raw[:at] + splice[1] + raw[at:]
    if cut is not None:
        raw = raw[: cut % (len(raw) + 1)]
    resolution = classify(f"GET {PATH} page 1", 200, {}, raw)
    assert KEY not in resolution.message and KEY not in resolution.excerpt
    assert "\n" not in resolution.message
    if resolution.action is Action.OK:
        _read(resolution.body, 1)
    elif resolution.action is Action.FAIL:
        _check_error(resolution.error(resolution.message))
    else:
        _check_error(PixleeContentError(resolution.message, path=PATH, excerpt=resolution.excerpt))
