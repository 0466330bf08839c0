"""pyarrow's pandas import happens before the first request, not in a page thread mid-run.

pyarrow imports pandas on its first conversion of a Python value (~1.6 s, under a lock); when a
page thread did it, every page thread stopped and no request went out for 1-2 s of a paced run
(`pixlee.source.arrow.pandas_bridge`). Checked in a fresh interpreter, where nothing has
imported pandas yet: the stdlib server in it notes, for every request, whether pandas was
loaded when the request arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.support.rate_limited_server import Catalogue, rate_limited_server
from tests.support.rate_windows import make_window

loaded_at_request = []


class Recording(Catalogue):
    def albums_body(self):
        loaded_at_request.append(("albums", 0, 0, "pandas" in sys.modules))
        return super().albums_body()

    def photos_body(self, album_id, page, per_page):
        loaded_at_request.append(("photos", album_id, page, "pandas" in sys.modules))
        return super().photos_body(album_id, page, per_page)


import dlt
from pixlee import pixlee_source

assert "pandas" not in sys.modules, "imported before the run: the check would prove nothing"
with rate_limited_server(make_window("sliding", 10_000, 60.0), catalogue=Recording(2, 3)) as srv:
    pipeline = dlt.pipeline(
        "bridge", destination=dlt.destinations.duckdb(sys.argv[2] + "/b.duckdb"),
        pipelines_dir=sys.argv[2] + "/pipelines",
    )
    pipeline.extract(pixlee_source(api_key="k", base_url=srv.base_url))
print("RESULT " + json.dumps(loaded_at_request))
"""


@pytest.mark.timeout(120)
def test_pandas_is_loaded_before_the_first_request(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(ROOT), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    requests = [tuple(request) for request in json.loads(line.removeprefix("RESULT "))]
    assert [loaded for *_, loaded in requests] == [True] * len(requests), requests
    pages = {(kind, album, page) for kind, album, page, _ in requests}
    # the album list, then every page of both albums (a read-ahead may ask for one past the end)
    assert pages >= {("albums", 0, 0)} | {("photos", a, p) for a in (5000, 5001) for p in (1, 2, 3)}
