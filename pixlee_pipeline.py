"""Load a whole Pixlee account into DuckDB: `python pixlee_pipeline.py`.

Reads `[sources.pixlee_source]` from `.dlt/secrets.toml` (api_key) and `.dlt/config.toml`
(base_url, album_ids, skus, …) or the matching SOURCES__PIXLEE_SOURCE__* environment variables,
and writes ./pixlee.duckdb (pipeline `pixlee_pipeline`, dataset `pixlee_data`). Afterwards:
`dlt pipeline pixlee_pipeline info`, or `dlt.pipeline("pixlee_pipeline").dataset().media.df()`.
A failure prints one line saying what to do (exit code 1); Ctrl-C exits 130.

This script is the whole process, so it opts in to the process-wide tunings (`tuned=True`,
see `pixlee.pipeline.tuning`); a notebook or an orchestrator worker that runs other code
should leave them off.
"""

from __future__ import annotations

from pixlee import pixlee_source
from pixlee.cli.errors import one_line_errors
from pixlee.defaults import DUCKDB_FILE
from pixlee.pipeline import make_pipeline, run_source
from pixlee.pipeline.local_files import record_database_for_dlt_tools


def main() -> None:
    record_database_for_dlt_tools(DUCKDB_FILE)  # so dlt's tools open the same file
    pipeline = make_pipeline()
    load_info = run_source(pipeline, pixlee_source(), tuned=True)
    print(load_info)


if __name__ == "__main__":
    with one_line_errors():
        main()
