"""`pixlee submit …` against the simulator: exit codes, the final table, the failed-rows file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixlee.cli.submit import submit_app
from pixlee.simulator import Simulator, SimulatorConfig

PRIVATE = "cli-private-K3y-0505"
SECRET = "cli-secret-K3y-0606"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2
runner = CliRunner()


@pytest.fixture()
def csim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    config = SimulatorConfig(
        seed=5, albums=2, media_per_album=10, products=2, categories=1,
        private_api_key=PRIVATE, secret_key=SECRET,
    )  # fmt: skip
    with Simulator(config) as sim:
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__PRIVATE_API_KEY", PRIVATE)
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY", SECRET)
        monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__BASE_URL", sim.base_url)
        yield sim


def _album(sim: Simulator) -> int:
    return int(next(a["id"] for a in sim.truth_albums() if a["album_type"] == "standard"))


def test_submit_media(csim: Simulator) -> None:
    album = _album(csim)
    result = runner.invoke(
        submit_app,
        ["media", "--album", str(album), "--photo-uri", "https://e.com/a/b.jpg", "--title",
         "Ünïcode ✓", "--email", "fan@example.com", "--approved", "--algorithm", "sha256"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new_id = int(result.stdout.split()[-1])
    (item,) = [m for m in csim.truth_media([album]) if m["album_photo_id"] == new_id]
    assert item["title"] == "Ünïcode ✓"


def test_submit_file_and_album(csim: Simulator, tmp_path: Path) -> None:
    album = _album(csim)
    path = tmp_path / "pic.jpg"
    path.write_bytes(JPEG)
    result = runner.invoke(
        submit_app,
        ["file", str(path), "--album", str(album), "--title", "file", "--connected-user-id", "7",
         "--approved"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new_id = int(result.stdout.split()[-1])
    assert new_id in {m["album_photo_id"] for m in csim.truth_media([album])}

    made = runner.invoke(submit_app, ["album", "--title", "From CLI", "--type", "category"])
    assert made.exit_code == 0, made.output
    album_id = int(made.stdout.split()[-1])
    assert {"id": album_id, "title": "From CLI", "album_type": "category"}.items() <= {
        k: v for a in csim.truth_albums() if a["id"] == album_id for k, v in a.items()
    }.items()


def test_submit_products_csv_reports_and_resubmits_failures(
    csim: Simulator, tmp_path: Path
) -> None:
    existing = csim.skus()[0]
    path = tmp_path / "products.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "product_photo", "price", "stock", "currency"])
        writer.writerow(["C1", "Chaise ✓", "https://cdn.example.com/c/1.jpg", "10.5", "2", "EUR"])
        writer.writerow(["C2", "Broken", "not-a-url", "1", "1", "EUR"])
        writer.writerow([existing, "Renamed", "", "", "5", ""])
        writer.writerow(["C3", "Table", "", "", "", ""])

    result = runner.invoke(submit_app, ["products", str(path), "--no-progress"])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "created          2" in lines and "updated          1" in lines
    assert "failed           1" in lines and "total            4" in lines
    assert any(line.startswith("  row 2 (C2): product_photo must be") for line in lines)
    failed_file = tmp_path / "products.csv.failed.jsonl"
    (failed_row,) = [json.loads(x) for x in failed_file.read_text().splitlines()]
    assert failed_row["sku"] == "C2" and failed_row["_error"].startswith("product_photo")
    assert csim.stats.count(method="POST", route="/api/v2/albums", status=200) == 3
    assert "C2" not in csim.skus()

    # fix the row in place and feed the failed file back as is
    failed_row["product_photo"] = "https://cdn.example.com/c/2.jpg"
    failed_file.write_text(json.dumps(failed_row) + "\n")
    again = runner.invoke(submit_app, ["products", str(failed_file), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "created          1" in again.stdout.splitlines()
    assert "C2" in csim.skus()
    assert not (tmp_path / "products.csv.failed.jsonl.failed.jsonl").exists()


def test_submit_products_jsonl_with_progress_and_custom_failed_file(
    csim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(json.dumps({"sku": f"J{i}", "name": f"J {i}", "stock": i}) + "\n" for i in range(3))
    )
    target = tmp_path / "nope.jsonl"
    result = runner.invoke(submit_app, ["products", str(path), "--failed-file", str(target)])
    assert result.exit_code == 0, result.output
    assert "3/3" in result.stderr  # tqdm's bar
    assert "created          3" in result.stdout.splitlines()
    assert not target.exists()


def test_errors_are_one_line_without_secrets(
    csim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY", "wrong-cli-secret-0707")
    wrong = runner.invoke(submit_app, ["album", "--title", "x"])
    assert wrong.exit_code == 1
    assert wrong.stderr.count("\n") == 1 and wrong.stderr.startswith("Error: Pixlee rejected")
    assert "Traceback" not in wrong.output
    for secret in (PRIVATE, SECRET, "wrong-cli-secret-0707"):
        assert secret not in wrong.output

    monkeypatch.delenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY")
    missing = runner.invoke(submit_app, ["products", str(tmp_path / "none.csv")])
    assert missing.exit_code == 1
    assert "secret_key, which is missing" in missing.stderr
    assert "SOURCES__PIXLEE_SOURCE__SECRET_KEY" in missing.stderr

    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__SECRET_KEY", SECRET)
    bad_ext = tmp_path / "p.xlsx"
    bad_ext.write_text("x")
    wrong_type = runner.invoke(submit_app, ["products", str(bad_ext)])
    assert wrong_type.exit_code == 1 and "expected a .csv or .jsonl file" in wrong_type.stderr
    invalid = runner.invoke(
        submit_app,
        ["media", "--album", "1", "--photo-uri", "x", "--title", "t", "--email", "a@b.co"],
    )
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith("Error: photo_uri must be an http(s) URL")
    assert csim.stats.count(method="POST") == 1
