"""Benchmark: onboarding a real export with a mapping file only, against the same file read by plain DuckDB.

  plain    DuckDB reads the CSV (all text) and sums the volume per day: the floor any onboarding pays.
  mapping  the mapping's reader, derived columns and conversions, the standards' checks, bronze/silver/quarantine
           written to the lakehouse (ingest_source), then the same daily sums read back from silver.

The file is MnDOT ATR 301's six years of hourly volumes (tests/data/real/exports/detectors, a copy of ../shared/real-data; 48,204 rows), onboarded by
tests/data/real/mndot_atr301_hourly.yaml. Both methods run in the same process, alternating, `--repeat` times;
medians and the ratio are reported, and the daily sums of both must agree.

    python -m benchmarks.real_export [--data DIR] [--repeat 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.harness import work_folder, write_results

REPOSITORY = Path(__file__).resolve().parent.parent
FILE = "detectors/minnesota_i94_atr301_Metro_Interstate_Traffic_Volume.csv"
MAPPING = REPOSITORY / "tests" / "data" / "real" / "mndot_atr301_hourly.yaml"


def plain(path: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    rows = con.execute("SELECT substr(date_time, 1, 10) AS d, sum(v) FROM (SELECT date_time, "
                       "any_value(CAST(traffic_volume AS BIGINT)) AS v FROM read_csv(?, all_varchar = true, "
                       "header = true) GROUP BY date_time) GROUP BY d", [str(path)]).fetchall()
    return dict(rows)


def onboard(path: Path, home: Path) -> dict[str, int]:
    import shutil

    from safecity.config.profiles import load_settings
    from safecity.ingestion.landing import LocalLanding
    from safecity.ingestion.mapping import load_mapping
    from safecity.ingestion.pipeline import ingest_source
    from safecity.lakehouse.catalog import open_catalog
    from safecity.standards.catalogue import load_catalogue

    landing = home / "landing" / "detectors"
    landing.mkdir(parents=True)
    shutil.copyfile(path, landing / path.name)
    settings = load_settings("local", home / "home")
    catalogue = load_catalogue("qinhuangdao")
    catalog = open_catalog(settings)
    ingest_source(catalog, catalogue, load_mapping(MAPPING, catalogue), LocalLanding(home / "landing"))
    silver = catalog.load_table("silver.detector_flow").scan(selected_fields=("interval_start", "volume")).to_arrow()
    import duckdb

    con = duckdb.connect()
    con.register("silver", silver)
    return dict(con.execute("SELECT strftime(timezone('America/Chicago', interval_start), '%Y-%m-%d'), sum(volume) "
                            "FROM silver GROUP BY 1").fetchall())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPOSITORY / "tests" / "data" / "real" / "exports")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    path = args.data / FILE
    times: dict[str, list[float]] = {"plain": [], "mapping": []}
    with work_folder(args.work, "safecity-real-export-") as work:
        for run in range(args.repeat):
            start = time.perf_counter()
            expected = plain(path)
            times["plain"].append(time.perf_counter() - start)
            start = time.perf_counter()
            got = onboard(path, work / f"run{run}")
            times["mapping"].append(time.perf_counter() - start)
            assert got == expected, "the mapping's daily volumes differ from plain DuckDB's"
    medians = {k: statistics.median(v) for k, v in times.items()}
    summary = {"file": FILE, "rows": 48204, "days": len(expected), "runs": times, "median_s": medians,
               "ratio_mapping_vs_plain": medians["mapping"] / medians["plain"]}
    print(f"plain DuckDB {medians['plain']:.2f} s, mapping end to end {medians['mapping']:.2f} s: "
          f"{summary['ratio_mapping_vs_plain']:.1f}x")
    write_results(args.out, "real_export", summary)
    return summary


if __name__ == "__main__":
    main()
