"""The real-export benchmark onboards MnDOT's hourly file with its mapping and agrees with plain DuckDB day by day."""
import json

import benchmarks.real_export as bench
from tests.ingestion.real.conftest import real_data  # noqa: F401 -- the fixture


def test_onboarding_agrees_with_plain_duckdb_and_reports_the_ratio(tmp_path, real_data):  # noqa: F811
    summary = bench.main(["--data", str(real_data), "--repeat", "1", "--work", str(tmp_path / "work"),
                          "--out", str(tmp_path / "out")])
    assert summary["days"] > 1800 and summary["ratio_mapping_vs_plain"] > 0
    assert json.loads((tmp_path / "out" / "real_export.json").read_text(encoding="utf-8"))["days"] == summary["days"]
