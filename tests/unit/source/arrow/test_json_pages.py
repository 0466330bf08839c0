"""`JsonPages` (response bodies → Arrow) against `MediaTables` (orjson dicts → Arrow).

Each check holds exactly: the same tables, columns, types, values and linkage, or the page
falls back to today's path. Bodies come from the simulator, from hypothesis perturbing them
(missing keys, nulls, type drift, odd unicode, empty lists, deep nesting, new keys), and from
hand-made edge pages aimed at each thing the reader must refuse.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixlee.simulator import Simulator
from pixlee.source.arrow.tables import NotArrowable
from tests.unit.source.arrow.support import (
    assert_same,
    check_body,
    hinted,
    learned,
    listing_bodies,
    live,
    reader,
    reference,
)


@pytest.fixture(scope="module")
def album_bodies(shared_sim: Simulator) -> list[list[bytes]]:
    return [
        listing_bodies(shared_sim, f"/albums/{album['id']}/photos", {})
        for album in shared_sim.truth_albums()
    ]


@pytest.fixture(scope="module")
def sku_bodies(shared_sim: Simulator) -> list[tuple[str, list[bytes]]]:
    return [
        (sku, listing_bodies(shared_sim, "/albums/from_sku", {"sku": sku}))
        for sku in shared_sim.skus()[:3]
    ]


def _first_page(album_bodies: list[list[bytes]]) -> bytes:
    return next(body for bodies in album_bodies for body in bodies if b'"products":[{' in body)


def test_simulator_pages_read_as_todays_tables(album_bodies: list[list[bytes]]) -> None:
    """Every page of every album, learned from the first page only: none falls back."""
    base = _first_page(album_bodies)
    first_load = reference([(orjson.loads(base)["data"], None)], hinted)
    assert not isinstance(first_load, type)
    for known in (hinted, live(first_load)):  # a first load, and one after a load
        pages = reader(known)
        pages.learn(orjson.loads(base))
        taken = [check_body(pages, body, known) for bodies in album_bodies for body in bodies]
        assert all(taken), f"{taken.count(False)} of {len(taken)} simulator pages fell back"


def test_a_batch_of_pages_builds_as_one(album_bodies: list[list[bytes]]) -> None:
    """Several pages in one build: row ids continue across pages, as `MediaTables` numbers
    the rows of one batch, and each page's extra columns stay on its own rows."""
    bodies = album_bodies[0]
    assert len(bodies) >= 2
    pages = reader()
    pages.learn(orjson.loads(bodies[0]))
    extras = [{"sku": f"S{i}"} if i % 2 == 0 else {"sku": f"S{i}", "n": i} for i in range(3)]
    parsed = [(pages.parse(body), extras[i % 3]) for i, body in enumerate(bodies)]
    mine = pages.build(parsed, "load-1")
    dicts = [(orjson.loads(body)["data"], extras[i % 3]) for i, body in enumerate(bodies)]
    expected = reference(dicts, hinted)
    assert not isinstance(expected, type)
    assert_same(mine, expected)


def test_sku_pages_with_their_sku_column(sku_bodies: list[tuple[str, list[bytes]]]) -> None:
    pages = reader()
    pages.learn(orjson.loads(sku_bodies[0][1][0]))
    taken = [
        check_body(pages, body, hinted, {"sku": sku})
        for sku, bodies in sku_bodies
        for body in bodies
    ]
    assert all(taken)


def test_nothing_is_read_before_a_schema_is_learned(album_bodies: list[list[bytes]]) -> None:
    parsed = reader().parse(album_bodies[0][0])
    assert parsed.items is None and parsed.reason == "no schema learned yet"
    with pytest.raises(NotArrowable):
        reader().build([(parsed, None)], "load-1")


def _body(base: bytes, edit: Any) -> bytes:
    envelope = orjson.loads(base)
    edit(envelope)
    return json.dumps(envelope, separators=(",", ":")).encode()


def _set(path: str, value: Any, every: bool = False) -> Any:
    """An edit setting `a.b` on the first item (or every item) that has the parent."""

    def edit(envelope: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for item in envelope["data"]:
            node: Any = item
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
                node = node[0] if isinstance(node, list) and node else node
            if isinstance(node, dict):
                node[last] = value
                if not every:
                    return

    return edit


def _drop(key: str) -> Any:
    def edit(envelope: dict[str, Any]) -> None:
        for item in envelope["data"]:
            item.pop(key, None)

    return edit


def _raw(replace: tuple[bytes, bytes]) -> Any:
    return replace


def _every_price_an_int_one_huge(envelope: dict[str, Any]) -> None:
    """Read as doubles under the plain page's schema (refused: past 2**53 a double may have
    been an int), as ints under the edited page's (cast as dlt casts them: rounded)."""
    products = [product for item in envelope["data"] for product in item.get("products") or []]
    for product in products:
        product["price"] = 7
    products[0]["price"] = 2**63 - 1


# (edit, whether the fast path must take the page): False where it may fall back.
EDGES: dict[str, tuple[Any, bool]] = {
    "empty page": (lambda e: e.update(data=[], next=False), True),
    "next missing": (lambda e: e.pop("next"), False),
    "next as text": (lambda e: e.update(next="true"), False),
    "status 500 in body": (lambda e: e.update(status=500), False),
    "data null": (lambda e: e.update(data=None), False),
    "an item null": (lambda e: e["data"].append(None), False),
    "an id as text": (_set("album_photo_id", "123"), False),
    "a time as text": (_set("created_at", "2020-01-01 10:00:00"), False),
    "an unknown key": (_set("brand_new", 1), False),
    "a list of lists": (_set("mentions", [["a"], ["b"]]), False),
    "a float in an int column": (_set("native_likes", 1.5), False),
    "a price past 2**53": (_set("products.price", 2**53 + 1), False),
    "prices all ints": (_set("products.price", 7, every=True), True),
    "prices all ints, one past 2**53": (_every_price_an_int_one_huge, False),
    "pinned text null on every row": (_set("photo_title", None, every=True), True),
    "pinned column absent everywhere": (_drop("notes"), True),
    "scalar list with nulls": (_set("mentions", ["a", None, "b"]), True),
    "empty lists everywhere": (_set("tag_album_ids", [], every=True), True),
    "null lists everywhere": (_set("tag_album_ids", None, every=True), True),
    "reviews as text": (_set("products.reviews_info.reviews", ["good", "bad"]), False),
    "reviews as objects": (
        _set("products.reviews_info.reviews", [{"rating": 5}, {"text": "ok"}]),
        False,
    ),
    "reviews as numbers": (_set("products.reviews_info.reviews", [1, 2.5]), False),
    "odd unicode": (_set("photo_title", "\u2028\x00\u00e9\U0001f30a\\\"'</"), True),
    "an empty key": (_set("", 1), False),
    # `{` and ESC both name a field `_`: `MediaTables` refuses the object after the plain one
    # (found by test_perturbed_pages in CI)
    "an object under a name taken": (_set("action_link", {"{": False, "\u001b": {}}), False),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_pages(name: str, album_bodies: list[list[bytes]]) -> None:
    """Each edit, read with the schema learned from the plain page and then with one learned
    from the edited page itself: equal tables or a fall-back, never anything else."""
    edit, fits = EDGES[name]
    base = _first_page(album_bodies)
    body = _body(base, edit)
    first = reference([(orjson.loads(base)["data"], None)], hinted)
    assert not isinstance(first, type)
    for known in (hinted, live(first)):
        pages = reader(known)
        pages.learn(orjson.loads(base))
        took = check_body(pages, body, known)
        assert took or not fits, f"{name}: fell back"
        if not took:
            try:
                parsed = learned(pages, body)
            except orjson.JSONDecodeError:
                continue
            if parsed.items is not None:
                check_body(pages, body, known)


# Bodies the JSON reader would accept (or read differently) where orjson refuses them, or,
# for a duplicate key, keeps the last value: each must take the dict path.
RAW_EDGES: dict[str, Callable[[bytes], bytes]] = {
    "a byte-order mark": lambda b: b"\xef\xbb\xbf" + b,
    "NaN": lambda b: re.sub(rb'"latitude":[-0-9.]+', b'"latitude":NaN', b, count=1),
    "-Infinity": lambda b: re.sub(rb'"engagement_rate":[0-9.]+', b'"engagement_rate":-Infinity', b),
    "two documents": lambda b: b + b"\n" + b,
    "invalid UTF-8": lambda b: b.replace(b'"user_name":"', b'"user_name":"\xc3(', 1),
    "a lone surrogate": lambda b: b.replace(b'"user_name":"', b'"user_name":"\\ud800', 1),
    "a trailing comma": lambda b: b.replace(b"]", b",]", 1),
    "a duplicate key": lambda b: b.replace(b'"user_name":', b'"user_name":"x","user_name":', 1),
}


@pytest.mark.parametrize("name", sorted(RAW_EDGES))
def test_bodies_orjson_reads_otherwise_take_the_dict_path(
    name: str, album_bodies: list[list[bytes]]
) -> None:
    base = _first_page(album_bodies)
    body = RAW_EDGES[name](base)
    if name == "a duplicate key":
        assert orjson.loads(body)["data"][0]["user_name"] != "x"  # the last one wins
    else:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
    pages = reader()
    pages.learn(orjson.loads(base))
    assert pages.parse(body).items is None


def _presence_page(album_bodies: list[list[bytes]], notes: bytes) -> bytes:
    base = _first_page(album_bodies)
    return base.replace(b'"notes":null', notes)


@pytest.mark.parametrize(
    ("notes", "present"),
    [
        (b'"notes":null', True),  # present and null on every row
        (b'"xnotes_":null', False),  # absent (the key is gone, a learned one took its place)
        (b'"no\\u0074es":null', None),  # present, spelled with an escape: cannot tell
        (b'"notes" :null', None),  # present, a space before the colon: cannot tell
    ],
)
def test_a_pinned_column_null_everywhere_follows_its_key(
    album_bodies: list[list[bytes]], notes: bytes, present: bool | None
) -> None:
    """`notes` is pinned to text and null on every row: `MediaTables` writes the column when
    the key is sent and leaves it out when it is not; the reader tells the two apart from the
    bytes, or falls back when it cannot."""
    body = _presence_page(album_bodies, notes)
    pages = reader()
    pages.learn(orjson.loads(_presence_page(album_bodies, b'"notes":null,"xnotes_":null')))
    took = check_body(pages, body, hinted)
    assert took is (present is not None)
    if took:
        root = pages.build([(pages.parse(body), None)], "load-1")[0].table
        assert ("notes" in root.column_names) is present


def _perturbed(draw: st.DrawFn, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = copy.deepcopy(items[: draw(st.integers(1, 6))])
    odd = st.text(st.characters(codec="utf-8"), max_size=6)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        odd,
    )
    values = st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd, inner, max_size=3)
    )
    for _ in range(draw(st.integers(1, 6))):
        item: dict[str, Any] = draw(st.sampled_from(items))
        target = item
        listed = item.get("products")  # an earlier edit may have made it anything
        products = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
        in_product = draw(st.booleans())
        if products and in_product:
            target = draw(st.sampled_from(products))  # type: ignore[arg-type]
        key = draw(st.sampled_from(sorted(target)) | odd) if target else draw(odd)
        action = draw(st.sampled_from(["drop", "null", "value", "empty", "kind"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "null":
            target[key] = None
        elif action == "empty":
            target[key] = draw(st.sampled_from([[], {}, ""]))
        elif action == "kind":  # the same kind of value as before, or its usual neighbour
            target[key] = draw(scalars)
        else:
            target[key] = draw(values)
    return items


def _small_base(album_bodies: list[list[bytes]]) -> dict[str, Any]:
    """A page of a few items that still has products, region links, a video and tags."""
    envelope: dict[str, Any] = orjson.loads(_first_page(album_bodies))
    items = envelope["data"]
    picks = [
        next(i for i in items if i["products"]),
        next(i for i in items if i["content_type"] == "video"),
        next(i for i in items if i["tag_album_ids"]),
        *items[:3],
    ]
    envelope["data"] = list({item["album_photo_id"]: item for item in picks}.values())
    return envelope


@pytest.mark.parametrize("learn_edited", [False, True])
def test_perturbed_pages(album_bodies: list[list[bytes]], learn_edited: bool) -> None:
    """Hypothesis edits a few items of a real page (drops keys, nulls, other kinds, new keys,
    empty containers, nested values, odd unicode; ASCII-escaped or not, compact or not);
    read with the schema learned from the plain page, or from the edited page too."""
    base = _small_base(album_bodies)
    first = reference([(base["data"], None)], hinted)
    assert not isinstance(first, type)
    readers = {}
    taken: list[bool] = []
    for known in (hinted, live(first)):
        readers[known] = reader(known)
        readers[known].learn(base)

    @st.composite
    def bodies(draw: st.DrawFn) -> bytes:
        envelope = {**base, "data": _perturbed(draw, base["data"])}
        ascii_only = draw(st.booleans())
        separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
        return json.dumps(envelope, ensure_ascii=ascii_only, separators=separators).encode()

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies(), after_a_load=st.booleans())
    def check(body: bytes, after_a_load: bool) -> None:
        known = list(readers)[after_a_load]
        pages = copy.copy(readers[known])  # learning replaces the shape, never edits it
        pages.reader = copy.copy(pages.reader)  # the reader holds the shape
        if learn_edited:
            pages.learn(orjson.loads(body))
        taken.append(check_body(pages, body, known, ordered=False))

    check()
    # not vacuous: many edits keep the page readable (a drop, a null, a value of the kind);
    # how many varies with Hypothesis' draws (10 to 56 of 100 seen), so the bar is low
    assert taken.count(True) >= len(taken) // 20, f"{taken.count(True)} of {len(taken)} took Arrow"


def _check_selected(pages: Any, body: bytes, keep: list[bool]) -> bool:
    """A page with some items dropped (as the scanner drops repeats) builds what `MediaTables`
    builds for the items kept, or falls back; True when it took Arrow."""
    import pyarrow as pa

    parsed = pages.parse(body)
    selected = parsed.select(pa.array(keep))
    kept = [item for item, wanted in zip(orjson.loads(body)["data"], keep, strict=True) if wanted]
    assert selected.dicts() == kept
    try:
        mine = pages.build([(selected, None)], "load-1")
    except NotArrowable:
        return False
    expected = reference([(kept, None)], hinted)
    assert not isinstance(expected, type)
    assert_same(mine, expected)
    return True


def test_pages_with_items_dropped_build_as_the_items_kept(
    album_bodies: list[list[bytes]],
) -> None:
    base = _first_page(album_bodies)
    pages = reader()
    pages.learn(orjson.loads(base))
    size = len(orjson.loads(base)["data"])
    assert _check_selected(pages, base, [i % 3 != 0 for i in range(size)])
    # `notes` sent by the first item only: dropping it (or keeping only it) must not leave
    # the column's presence to a guess from the bytes
    only_first = base.replace(b'"notes":null', b'"xnotes_":null').replace(
        b'"xnotes_":null', b'"notes":null', 1
    )
    pages.learn(orjson.loads(_presence_page(album_bodies, b'"notes":null,"xnotes_":null')))
    for keep in ([False] + [True] * (size - 1), [True] + [False] * (size - 1)):
        _check_selected(pages, only_first, keep)  # falls back today: either is correct


def test_the_reader_counts_pages_read_and_why_others_fell_back(
    album_bodies: list[list[bytes]],
) -> None:
    pages = reader()
    body = album_bodies[0][0]
    assert pages.reader.read(body) is None
    pages.learn(orjson.loads(body))
    assert pages.reader.read(body) is not None
    assert pages.reader.read(body.replace(b'"next":', b'"next":"x","n":', 1)) is None
    assert pages.reader.read_pages == 1
    assert dict(pages.reader.fallbacks) == {
        "no schema learned yet": 1,
        "does not fit the learned schema": 1,
    }


def test_ints_past_2_53_in_a_double_column_read_as_dlt_makes_them(
    album_bodies: list[list[bytes]],
) -> None:
    """Learned as ints, a pinned double column past 2**53 is cast (rounded) as `MediaTables`
    casts it, not refused."""
    body = _body(_first_page(album_bodies), _every_price_an_int_one_huge)
    pages = reader()
    assert learned(pages, body).items is not None
    assert check_body(pages, body, hinted)
