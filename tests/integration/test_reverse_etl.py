"""Reverse ETL: dlt pipelines whose destination is Pixlee, including a crash and a rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from pixlee.destinations import pixlee_products
from pixlee.simulator import Simulator, SimulatorConfig

PRIVATE = "etl-private-K3y-0101"
SECRET = "etl-secret-K3y-0202"
ALBUMS_ROUTE, MEDIA_ROUTE = "/api/v2/albums", "/api/v2/media"

# Runs one reverse-ETL pipeline; CRASH_AT=N kills the process (no cleanup, like `kill -9`) when
# the N-th write starts, or right after it returned with CRASH_AFTER=1.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import dlt
    from pixlee.api.write import writer as writes
    from pixlee.destinations import pixlee_media, pixlee_products

    kind, rows_file, pipelines_dir = sys.argv[1:4]
    crash_at = int(os.environ.get("CRASH_AT", "0"))
    crash_after = os.environ.get("CRASH_AFTER") == "1"
    method = "upsert_product" if kind == "products" else "create_media"
    original = getattr(writes.PixleeWriter, method)
    calls = [0]

    def crashing(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == crash_at and not crash_after:
            os._exit(17)
        result = original(self, *args, **kwargs)
        if calls[0] == crash_at:
            os._exit(17)
        return result

    setattr(writes.PixleeWriter, method, crashing)
    rows = [json.loads(line) for line in open(rows_file, encoding="utf-8")]
    factory = pixlee_products if kind == "products" else pixlee_media
    pipeline = dlt.pipeline(
        "reverse_etl", destination=factory(batch_size=5), pipelines_dir=pipelines_dir
    )
    info = pipeline.run(rows, table_name=kind)
    print(json.dumps({"failed": info.has_failed_jobs}))
    """
)


@pytest.fixture()
def etl_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    config = SimulatorConfig(
        seed=2, albums=2, media_per_album=20, products=3, categories=1,
        private_api_key=PRIVATE, secret_key=SECRET,
    )  # fmt: skip
    with Simulator(config) as sim:
        # keys from [sources.pixlee_source]: the destination's documented fallback
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY", PRIVATE)
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY", SECRET)
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__BASE_URL", sim.base_url)
        yield sim


def _products(count: int) -> list[dict[str, Any]]:
    return [
        {"sku": f"E{i:03d}", "name": f"Étagère {i}", "price": 5 + i / 4, "stock": i,
         "currency": "EUR", "buy_now_link_url": f"https://shop.example.com/p/{i}"}
        for i in range(count)
    ]  # fmt: skip


def _media(album_id: int, count: int) -> list[dict[str, Any]]:
    return [
        {"album_id": album_id, "title": f"photo {i} ✨", "photo_uri": f"https://e.com/m/{i}.jpg",
         "approved": True, "email": f"fan{i}@example.com"}
        for i in range(count)
    ]  # fmt: skip


def _run_script(
    tmp_path: Path, kind: str, rows: list[dict[str, Any]], crash_at: int = 0, after: bool = False
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "reverse_etl.py"
    script.write_text(SCRIPT, encoding="utf-8")
    rows_file = tmp_path / f"{kind}.jsonl"
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    env = {**os.environ, "CRASH_AT": str(crash_at), "CRASH_AFTER": "1" if after else "0"}
    return subprocess.run(
        [sys.executable, str(script), kind, str(rows_file), str(tmp_path / "pipelines")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def _product_albums(sim: Simulator) -> Counter[str]:
    return Counter(a["title"] for a in sim.truth_albums() if a["album_type"] == "product")


def test_products_pipeline_upserts_every_row(etl_sim: Simulator, tmp_path: Path) -> None:
    rows = _products(12)
    pipeline = dlt.pipeline(
        "etl_products", destination=pixlee_products(batch_size=5),
        pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip
    info = pipeline.run(rows, table_name="catalogue")
    assert not info.has_failed_jobs
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 12
    assert etl_sim.stats.count() == 12
    assert [s for s in etl_sim.skus() if s.startswith("E")] == [r["sku"] for r in rows]
    assert all(n == 1 for n in _product_albums(etl_sim).values())

    rows[0]["stock"] = 99  # a second run updates, it does not create
    pipeline.run(rows, table_name="catalogue")
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 24
    assert [s for s in etl_sim.skus() if s.startswith("E")] == [r["sku"] for r in rows]
    assert sum(_product_albums(etl_sim).values()) == 3 + 12


@pytest.mark.parametrize(
    ("crash_at", "after", "resent"),
    [
        (11, False, 0),  # killed when batch 3 starts: batches 1-2 are recorded as done
        (12, True, 2),  # killed mid-batch 3 after 2 of its rows were sent: those 2 go again
    ],
)
def test_products_crash_and_rerun_creates_nothing_twice(
    etl_sim: Simulator, tmp_path: Path, crash_at: int, after: bool, resent: int
) -> None:
    rows = _products(23)
    crashed = _run_script(tmp_path, "products", rows, crash_at=crash_at, after=after)
    assert crashed.returncode == 17, crashed.stderr[-2000:]
    sent_before_crash = crash_at if after else crash_at - 1
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == sent_before_crash

    etl_sim.stats.reset()
    rerun = _run_script(tmp_path, "products", rows)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"failed": False}
    # the rerun finished the interrupted package from the last completed batch (10 rows)
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 23 - 10
    assert etl_sim.stats.count() == 23 - 10
    assert 23 - sent_before_crash + resent == 23 - 10
    assert [s for s in etl_sim.skus() if s.startswith("E")] == [r["sku"] for r in rows]
    titles = _product_albums(etl_sim)
    assert [titles[r["name"]] for r in rows] == [1] * 23  # one product album per sku


def test_media_crash_and_rerun_creates_each_photo_once(etl_sim: Simulator, tmp_path: Path) -> None:
    album_id = next(a["id"] for a in etl_sim.truth_albums() if a["album_type"] == "standard")
    before = len(etl_sim.truth_media([album_id]))
    rows = _media(album_id, 14)
    crashed = _run_script(tmp_path, "media", rows, crash_at=8, after=True)
    assert crashed.returncode == 17, crashed.stderr[-2000:]
    assert len(etl_sim.truth_media([album_id])) == before + 8

    etl_sim.stats.reset()
    rerun = _run_script(tmp_path, "media", rows)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert etl_sim.stats.count(method="POST", route=MEDIA_ROUTE, status=200) == 14 - 5
    uris = Counter(m["source_url"] for m in etl_sim.truth_media([album_id]))
    assert [uris[r["photo_uri"]] for r in rows] == [1] * 14
    assert len(etl_sim.truth_media([album_id])) == before + 14


def test_rejected_rows_fail_the_job_naming_them(etl_sim: Simulator, tmp_path: Path) -> None:
    rows = _products(7)
    rows[2]["buy_now_link_url"] = "shop.example.com/no-scheme"
    pipeline = dlt.pipeline(
        "etl_rejects", destination=pixlee_products(batch_size=5),
        pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip
    with pytest.raises(PipelineStepFailed) as failure:
        pipeline.run(rows, table_name="catalogue")
    message = str(failure.value)
    assert "1 of 5 rows of table 'catalogue' failed: row E002: buy_now_link_url" in message
    # the failing batch's other rows were sent; the job stopped there (terminal, not retried)
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 4
    assert etl_sim.stats.count() == 4


def test_rejected_rows_can_be_skipped(etl_sim: Simulator, tmp_path: Path) -> None:
    rows = _products(7)
    rows[2]["price"] = "free"
    pipeline = dlt.pipeline(
        "etl_skip", destination=pixlee_products(batch_size=5, fail_on_rejected=False),
        pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip
    info = pipeline.run(rows, table_name="catalogue")
    assert not info.has_failed_jobs
    assert etl_sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 6
    assert "E002" not in etl_sim.skus()


def test_explicit_destination_credentials_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator(SimulatorConfig(seed=3, albums=1, media_per_album=5, products=1, categories=0,
                                   private_api_key=PRIVATE, secret_key=SECRET)) as sim:  # fmt: skip
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY", "not-this-one-0303")
        monkeypatch.setenv("DESTINATION__PIXLEE_PRODUCTS__SECRET_KEY", SECRET)
        pipeline = dlt.pipeline(
            "etl_explicit",
            destination=pixlee_products(private_api_key=PRIVATE, base_url=sim.base_url),
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        pipeline.run(_products(2), table_name="catalogue")
        assert sim.stats.count(method="POST", route=ALBUMS_ROUTE, status=200) == 2


def test_missing_keys_fail_clearly(tmp_path: Path) -> None:
    pipeline = dlt.pipeline(
        "etl_nokeys", destination=pixlee_products(base_url="http://127.0.0.1:9/api/v2"),
        pipelines_dir=str(tmp_path / "pipelines"),
    )  # fmt: skip
    with pytest.raises(PipelineStepFailed) as failure:
        pipeline.run(_products(1), table_name="catalogue")
    assert "private_api_key and secret_key, which is missing" in str(failure.value)


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_secrets_never_reach_dlt_trace_packages_or_logs(
    etl_sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    etl_sim.set_faults(fault_rate=0.3, fault_kinds=("500", "reset"), seed=4)
    pipeline = dlt.pipeline(
        "etl_secrets",
        destination=pixlee_products(batch_size=4, private_api_key=PRIVATE, secret_key=SECRET),
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    with caplog.at_level("DEBUG"):
        info = pipeline.run(_products(8), table_name="catalogue")
        bad = dlt.pipeline(
            "etl_secrets_bad",
            destination=pixlee_products(private_api_key=PRIVATE, secret_key="wrong-0404-secret"),
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        with pytest.raises(PipelineStepFailed) as failure:
            bad.run(_products(2), table_name="catalogue")
    assert any(r.fault for r in etl_sim.stats.requests)
    assert "HTTP 403" in str(failure.value)
    for trace in (pipeline.last_trace, bad.last_trace):
        assert trace is not None
        for secret in (PRIVATE, SECRET, "wrong-0404-secret"):
            assert secret not in str(trace) and secret not in repr(trace.asdict())
    for secret in (PRIVATE, SECRET, "wrong-0404-secret"):
        assert secret not in caplog.text
        assert secret not in str(info) and secret not in str(failure.value)
        assert _files_containing(tmp_path, secret.encode()) == []
