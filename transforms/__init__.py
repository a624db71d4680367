"""The dbt project (dbt-duckdb) that builds the analysis layers from silver. This package only locates it."""
from pathlib import Path

PROJECT_DIR = Path(__file__).parent
