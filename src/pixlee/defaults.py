"""Names users see by default: the pipeline, dataset and DuckDB file, the user's and the demo's.

Kept apart from `pixlee.pipeline` (which imports dlt) so that the command line can name them in
its help without loading dlt first.
"""

PIPELINE_NAME = "pixlee_pipeline"
DATASET_NAME = "pixlee_data"
DUCKDB_FILE = "pixlee.duckdb"
# the demo never touches the user's pipeline, dataset state or file
DEMO_PIPELINE_NAME = "pixlee_demo"
DEMO_DUCKDB_FILE = "pixlee_demo.duckdb"
DEMO_REPORT_FILE = "pixlee_demo_report.html"
PROGRESS_CHOICES = ("log", "tqdm")  # dlt's progress displays offered: a log line, or tqdm bars
