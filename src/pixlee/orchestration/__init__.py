"""Running the Pixlee source past one machine: album shards, the catalogue, derived tables.

A whole account is split into loads that an orchestrator runs independently:

* `settings`: what to run, from dlt config (`[pixlee_dagster]`): accounts, shards, destination;
* `loads`: one `Load` per dlt pipeline of the plan (an account's catalogue, each album shard,
  its categories), each with its own pipeline name, state and staging dataset;
* `categories`: the table that needs every album, computed from the loaded dataset;
* `dataset_lock`, `load_retry`: loads into one dataset take turns on Postgres, and a failed
  load whose package is still pending is loaded again in place;
* `run_metrics`: what a load's run did (requests, retries, scans), for the orchestrator's UI;
* `dagster`: the Dagster code location (`pip install 'dlt-pixlee[dagster]'`).

Only `dagster` imports Dagster; the rest also serves `deploy/pixlee_shard.py` (GitHub Actions,
Airflow, cron).
"""
