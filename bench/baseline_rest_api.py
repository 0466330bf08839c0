"""The baseline: dlt's getting-started `rest_api` recipe for Pixlee, changed only to run at all.

What was changed, and why:

* an explicit paginator: dlt's detector reads Pixlee's boolean `next` as a cursor and loops, so
  the recipe cannot run without one. dlt's own `page_number` paginator is used with
  `total_path=None` and `stop_after_empty_page=True` (no custom code): it stops on the first
  empty page, one request past each album's end (a custom paginator on `next` would save that
  request; the figures count it as a request made).
* `per_page=100` in the endpoint params (Pixlee's default is 30): the same page size as ours,
  so the comparison is about the machinery, not the page size.
* one resource per album (all named into the `media` table), since the recipe reads one path.

Everything else is dlt's default: one request at a time, no pacing, append, INSERT statements
into DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.sources.rest_api import rest_api_source


def baseline_source(base_url: str, api_key: str, album_ids: Sequence[int]) -> Any:
    """The recipe's `rest_api` source over `album_ids`."""
    config: dict[str, Any] = {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
            "paginator": {
                "type": "page_number",
                "base_page": 1,
                "page_param": "page",
                "total_path": None,
                "stop_after_empty_page": True,
            },
        },
        "resource_defaults": {"endpoint": {"params": {"per_page": 100}}},
        "resources": [
            {
                "name": f"media_{album_id}",
                "table_name": "media",
                "endpoint": {"path": f"albums/{album_id}/photos", "data_selector": "data"},
            }
            for album_id in album_ids
        ],
    }
    return rest_api_source(config, name="pixlee_baseline")
