"""The Arrow fast path loads exactly the dataset dlt's own normalizer loads.

The same account is loaded twice, once with `use_arrow=False` (every row through dlt's
relational normalizer) and once with the default Arrow path; every table, column, column hint
and value must match. Row ids differ by design, so rows are matched by their natural key: the
root table's primary key, then the list positions down to the row.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
from dlt.pipeline.pipeline import Pipeline

from pixlee import pixlee_source
from pixlee.pipeline import make_pipeline, run_source
from pixlee.simulator import Simulator
from pixlee.source.arrow import dlt_compat
from pixlee.source.arrow.tables import MediaTables, NotArrowable
from tests.support.dataset import assert_rows_match, rows

ID_COLUMNS = {"_dlt_id", "_dlt_parent_id", "_dlt_root_id", "_dlt_load_id"}
ROOT_KEYS = {"media": ("album_photo_id",), "product_media": ("sku", "album_photo_id")}


def _load(sim: Simulator, tmp_path: Path, name: str, use_arrow: bool) -> Pipeline:
    pipeline = make_pipeline(
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    source = pixlee_source(
        api_key=sim.config.api_key,
        base_url=sim.base_url,
        skus=sim.skus()[:3],
        use_arrow=use_arrow,
    )
    run_source(pipeline, source)
    return pipeline


def _by_natural_key(pipeline: Pipeline) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of the media-shaped tables, keyed by root key + list positions."""
    schema = pipeline.default_schema
    keyed: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    natural: dict[str, tuple[Any, ...]] = {}  # _dlt_id -> natural key, filled parents first
    tables = sorted(
        (t for t in schema.data_table_names() if t.split("__")[0] in ROOT_KEYS),
        key=lambda t: t.count("__"),
    )
    for table in tables:
        keyed[table] = {}
        root = table.split("__")[0]
        for row in rows(pipeline, table):
            if table == root:
                key: tuple[Any, ...] = tuple(row[k] for k in ROOT_KEYS[root])
            else:
                key = (*natural[row["_dlt_parent_id"]], row["_dlt_list_idx"])
                assert natural[row["_dlt_root_id"]] == key[: len(ROOT_KEYS[root])]
            natural[row["_dlt_id"]] = key
            assert key not in keyed[table], f"{table}: two rows for {key}"
            keyed[table][key] = {k: v for k, v in row.items() if k not in ID_COLUMNS}
    return keyed


def _column_hints(pipeline: Pipeline) -> dict[str, Any]:
    schema = pipeline.default_schema
    return {
        table["name"]: (
            table.get("parent"),
            {name: dict(hints) for name, hints in table["columns"].items()},
        )
        for table in schema.data_tables()
    }


def test_arrow_and_normalizer_load_the_same_dataset(
    shared_sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pixlee.source.media_items"):
        arrow = _load(shared_sim, tmp_path, "arrow", use_arrow=True)
    assert "dlt's normalizer" not in caplog.text  # every page of the account took the fast path
    normalizer = _load(shared_sim, tmp_path, "normalizer", use_arrow=False)

    assert _column_hints(arrow) == _column_hints(normalizer)
    arrow_rows, normalizer_rows = _by_natural_key(arrow), _by_natural_key(normalizer)
    assert set(arrow_rows) == set(normalizer_rows)
    assert "media__products__product_region_links" in arrow_rows
    for table, expected in normalizer_rows.items():
        assert arrow_rows[table] == expected, table
    for table in ("albums", "products", "categories"):
        assert _without_ids(rows(arrow, table, order_by="id")) == _without_ids(
            rows(normalizer, table, order_by="id")
        )


def _without_ids(loaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in ID_COLUMNS} for row in loaded]


def test_items_that_do_not_fit_arrow_go_through_dlts_normalizer(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A list of lists has no Arrow layout here: that page takes the row path, the rest stay
    Arrow, and the loaded media still equal the API's, the odd value kept as dlt keeps it."""
    album_id = sim.truth_albums()[0]["id"]
    drifted = next(m for m in sim.truth_media([album_id]))["album_photo_id"]
    sim.world.edit_media(drifted, mentions=[["nested", "list"]])
    with caplog.at_level(logging.INFO, logger="pixlee.source.media_items"):
        pipeline = _load(sim, tmp_path, "drift", use_arrow=True)

    assert "a page of media goes through dlt's normalizer: a list of lists in media__mentions" in (
        caplog.text
    )
    assert caplog.text.count("goes through dlt's normalizer") == 1  # one page, not the batch
    assert_rows_match(
        sim.truth_media(), rows(pipeline, "media"), "album_photo_id", _columns(pipeline, "media")
    )
    root_ids = {r["album_photo_id"]: r["_dlt_id"] for r in rows(pipeline, "media")}
    mentions = [
        r for r in rows(pipeline, "media__mentions") if r["_dlt_parent_id"] == root_ids[drifted]
    ]
    assert [json.loads(r["list"]) for r in mentions] == [["nested", "list"]]
    assert (
        pipeline.default_schema.get_table_columns("media__mentions")["list"]["data_type"] == "json"
    )


def _columns(pipeline: Pipeline, table: str) -> set[str]:
    return set(pipeline.default_schema.get_table_columns(table))


def test_compat_attributes_nested_tables_to_their_root_resource() -> None:
    resources = {"media": "media", "albums": "albums"}
    lookup = dlt_compat._root_resource(lambda table: resources[table])
    assert lookup("albums") == "albums"
    assert lookup("media__products__product_region_links") == "media"
    # dlt's shortened name of a deep nested table: its last part begins with `_`
    assert lookup("media___nx") == "media"
    assert lookup("media__products___x") == "media"
    with pytest.raises(KeyError):
        lookup("unknown__child")


def _built(builder: MediaTables, items: list[dict[str, Any]]) -> Any:
    """What one batch builds, without the per-build random ids (or the error it raises)."""
    try:
        specs = builder.build([(items, None)], "load-1")
    except NotArrowable as exc:
        return type(exc)
    return {
        spec.name: (
            [f for f in spec.table.schema if f.name not in ID_COLUMNS],
            spec.table.drop_columns([c for c in spec.table.column_names if c in ID_COLUMNS]),
        )
        for spec in specs
    }


@pytest.mark.parametrize(
    "items",
    [
        [{"id": 1, "title": None, "Title": 0.5}],
        [{"id": 1, "title": {"a": 1}, "Title": 0.5}],
        [{"id": 1, "title": [{"a": 1}]}, {"id": 2, "title": None, "Title": 0.5}],
        [{"id": 1, "Title": 0.5, "title": [1]}],
    ],
)
def test_two_fields_of_one_column_refuse_whatever_one_holds(items: list[Any]) -> None:
    """dlt's normalizer renames the second of two fields whose names become one column
    (`FieldNames`: `title_2`) even where the first is null, an object or a list: the batch
    takes that path too, never `title` from the second field (found by the differential
    property test)."""
    builder = MediaTables("media", dlt.Schema("arrow_units").naming, 2, lambda table: {})
    with pytest.raises(NotArrowable, match="two fields are both named 'title'"):
        builder.build([(items, None)], "load-1")


@pytest.mark.parametrize(
    "later",
    [
        ["c", "d"],
        [7, 8],
        [{"a": 1}, {"a": 2}],
        [["x"], []],
        [None, None],
        [True, False],
        ["c", 8],
        [None, "d"],
    ],  # fmt: skip
)
def test_a_batch_builds_the_same_whatever_earlier_batches_held(later: list[Any]) -> None:
    """The builder remembers text/bool columns to skip type inference; a column that changes
    shape later must build exactly as it would in a builder that never saw it."""
    naming = dlt.Schema("arrow_units").naming
    first = [
        {"id": 1, "caption": "a", "flag": True, "tags": ["t"]},
        {"id": 2, "caption": "b", "flag": False, "tags": []},
    ]
    then = [
        {"id": 3, "caption": later[0], "flag": later[1], "tags": ["u"]},
        {"id": 4, "caption": later[1], "flag": later[0], "tags": ["v", "w"]},
    ]
    warmed = MediaTables("media", naming, 2, lambda table: {})
    assert _built(warmed, first) != NotArrowable
    fresh = MediaTables("media", naming, 2, lambda table: {})
    assert _built(warmed, then) == _built(fresh, then)


def test_child_rows_link_to_their_parents_by_position() -> None:
    """Child ids are `<parent id>.<list position>` and every child row carries its parent's and
    root's ids, down two levels, across empty, missing and mixed lists (computed in Arrow)."""
    naming = dlt.Schema("arrow_units").naming
    items = [
        {"id": 1, "mentions": ["a", None, "b"], "tags": [{"k": 1}, "x"],
         "products": [{"sku": "p1", "links": [{"u": "1"}, {"u": "2"}]}, {"sku": "p2"}]},
        {"id": 2, "mentions": [], "tags": None, "products": None},
        {"id": 3, "mentions": None, "tags": ["y"],
         "products": [{"sku": "p3", "links": [{"u": "3"}]}]},
    ]  # fmt: skip
    specs = {
        spec.name: spec.table.to_pylist()
        for spec in MediaTables("media", naming, 2, lambda table: {}).build(
            [(items[:2], None), (items[2:], None)], "load-1"
        )
    }
    roots = [row["_dlt_id"] for row in specs["media"]]
    assert len(set(roots)) == 3

    def linked(table: str, parents: list[str], roots_of: list[str]) -> list[tuple[Any, ...]]:
        return [
            (
                parents.index(row["_dlt_parent_id"]),
                row["_dlt_list_idx"],
                row["_dlt_id"] == f"{row['_dlt_parent_id']}.{row['_dlt_list_idx']}",
                row["_dlt_root_id"] == roots_of[parents.index(row["_dlt_parent_id"])],
            )
            for row in specs[table]
        ]

    assert [row["value"] for row in specs["media__mentions"]] == ["a", None, "b"]
    assert linked("media__mentions", roots, roots) == [
        (0, 0, True, True), (0, 1, True, True), (0, 2, True, True)
    ]  # fmt: skip
    assert [(row.get("k"), row.get("value")) for row in specs["media__tags"]] == [
        (1, None), (None, "x"), (None, "y")
    ]  # fmt: skip
    assert linked("media__tags", roots, roots) == [
        (0, 0, True, True), (0, 1, True, True), (2, 0, True, True)
    ]  # fmt: skip
    products = [row["_dlt_id"] for row in specs["media__products"]]
    assert [row["sku"] for row in specs["media__products"]] == ["p1", "p2", "p3"]
    assert linked("media__products", roots, roots) == [
        (0, 0, True, True), (0, 1, True, True), (2, 0, True, True)
    ]  # fmt: skip
    product_roots = [row["_dlt_root_id"] for row in specs["media__products"]]
    assert [row["u"] for row in specs["media__products__links"]] == ["1", "2", "3"]
    assert linked("media__products__links", products, product_roots) == [
        (0, 0, True, True), (0, 1, True, True), (2, 0, True, True)
    ]  # fmt: skip


def test_ints_in_a_double_column_become_doubles_as_dlt_makes_them() -> None:
    """A page whose values of a double column are all ints, one past 2**53, builds (it used
    to raise from Arrow's safe cast) with the value dlt's normalizer writes: float(value)."""
    naming = dlt.Schema("arrow_units").naming
    builder = MediaTables("media", naming, 2, lambda table: {"score": "double"})
    big = 2**63 - 1
    built = _built(builder, [{"id": 1, "score": 2}, {"id": 2, "score": big}])
    assert built != NotArrowable
    fields, table = built["media"]
    assert table.column("score").type == pa.float64()
    assert table.column("score").to_pylist() == [2.0, float(big)]
