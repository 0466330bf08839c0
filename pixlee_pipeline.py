"""Load a whole Pixlee account into DuckDB: `python pixlee_pipeline.py`.

Reads `[sources.pixlee_source]` from `.dlt/secrets.toml` (api_key) and `.dlt/config.toml`
(base_url, album_ids, skus, …) or the matching SOURCES__PIXLEE_SOURCE__* environment variables.
Afterwards: `dlt pipeline pixlee_pipeline info`, or
`dlt.pipeline("pixlee_pipeline").dataset().media.df()`.

This script is the whole process, so it opts in to the process-wide tunings (`tuned=True`,
see `pixlee.pipeline.tuning`); a notebook or an orchestrator worker that runs other code
should leave them off.
"""

from __future__ import annotations

from pixlee import pixlee_source
from pixlee.pipeline import ensure_duckdb_config, make_pipeline, run_source


def main() -> None:
    ensure_duckdb_config()
    pipeline = make_pipeline()
    load_info = run_source(pipeline, pixlee_source(), tuned=True)
    print(load_info)


if __name__ == "__main__":
    main()
