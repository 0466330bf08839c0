"""A pipeline's DuckDB file and working state belong to the folder it runs in.

dlt keeps a pipeline's working folder (state, schemas, pending packages) in the user's global
pipelines directory, by name, and resolves a relative DuckDB path against the folder where that
pipeline *first* ran (`initial_cwd` in its local state). Two checkouts of this project (or one
moved) would then share `pixlee_pipeline`: the second one's run writes into the first one's
`pixlee.duckdb`, or loads incrementally on the first one's cursors into an empty file.

So: the database is named by an absolute path resolved now, and a working folder last used
from another folder is reset before the run. Nothing is lost by the reset: dlt keeps the
pipeline's state in the dataset too and restores it from this folder's own database on the
next run (only packages that the other folder left pending are dropped; that folder's next run
extracts them again).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dlt.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)


def absolute_database(duckdb_file: str) -> str:
    """`duckdb_file` resolved against the current folder (an absolute path stays as it is)."""
    return str(Path(duckdb_file).expanduser().resolve())


def last_used_from(pipeline: Pipeline) -> str | None:
    """The folder the pipeline's local working state belongs to (None for a new pipeline)."""
    try:
        folder = pipeline.get_local_state_val("initial_cwd")
    except KeyError:
        return None
    return str(folder) if folder else None


def claim_for_this_folder(pipeline: Pipeline) -> Pipeline:
    """The pipeline, its local working state reset first if another folder last used it."""
    folder = last_used_from(pipeline)
    here = os.path.abspath(os.getcwd())
    if folder is None or os.path.abspath(folder) == here:
        return pipeline
    logger.warning(
        "pipeline %s was last run from %s; its local working state was reset so that this "
        "folder's own database is used (dlt restores the state from it)",
        pipeline.pipeline_name,
        folder,
    )
    return pipeline.drop()


def record_database_for_dlt_tools(
    duckdb_file: str, destination_name: str = "duckdb", settings_dir: str = ".dlt"
) -> bool:
    """Write `[destination.<destination_name>] credentials` to `.dlt/secrets.toml`.

    dlt keeps no credentials in pipeline state, so `dlt pipeline <name> show` and
    `dlt.pipeline(<name>).dataset()` resolve the database from config (the section of the
    destination's name; dlt's dataset layer ignores pipeline-scoped sections); without this they
    would open an empty `<name>.duckdb`. dlt types DuckDB credentials as a secret, so the path
    can only live in secrets.toml (or the environment). The demo's pipeline loads through a
    destination named `pixlee_demo`, so it and the user's `duckdb` never read each other's file.
    The path is written as given: relative paths resolve against the folder the pipeline runs
    from. Returns True when it wrote the setting.
    """
    config = Path(settings_dir) / "secrets.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    section = f"[destination.{destination_name}]"
    if section in text:
        return False
    config.parent.mkdir(parents=True, exist_ok=True)
    block = (
        f"\n# written by dlt-pixlee: the DuckDB database of destination {destination_name}\n"
        f'{section}\ncredentials = "{duckdb_file}"\n'
    )
    config.write_text(text + block, encoding="utf-8")
    return True
