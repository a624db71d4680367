"""Benchmark: conformance of vehicle-pass rows from CSV, two ways, in one run.

  plain      DuckDB reads the CSV (all text) and writes Parquet: the floor any conformance pays.
  vectorised the standards' validator (one DuckDB statement from the check plan) reads the same CSV and writes
             the typed rows with their reasons to Parquet.

The pydantic row-by-row baseline is gone: it measured the Python row checker, which no longer exists (the
pydantic models now run the same DuckDB statement on one row, so there is no second implementation to compare).

Each measurement runs in a fresh process (so peak memory is its own) and is repeated; medians and the ratio are
reported. Target (issues 3, 22): vectorised >= 40% of plain.

    python -m benchmarks.conformance [--rows 5000000] [--repeat 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import work_folder, write_results

ENTITY = "vehicle_pass"
NOW = "2026-11-26T12:00:00+08:00"


def generate(path: Path, rows: int, seed: float = 0.42) -> None:
    """A deterministic checkpoint export: 600 checkpoints, plates of Qinhuangdao and elsewhere, ~0.8% faulty rows."""
    import duckdb
    con = duckdb.connect()
    con.execute(f"SELECT setseed({seed})")
    con.execute(f"""
    COPY (
      WITH base AS (
        SELECT i,
               '13030' || (2 + (i % 3))::VARCHAR || '0000121' || '0' || lpad(((i % 600) + 1)::VARCHAR, 6, '0') AS device,
               TIMESTAMP '2026-07-15 00:00:00' + to_seconds((i * 86400 // {rows})::BIGINT) AS t,
               i % 100000 AS seq
        FROM range({rows}) r(i)
      )
      SELECT
        device || '02' || strftime(t, '%Y%m%d%H%M%S') || lpad((seq % 100000)::VARCHAR, 5, '0') || '02'
          || lpad((i % 99999)::VARCHAR, 5, '0') AS motor_vehicle_id,
        '1' AS info_kind,
        device || '02' || strftime(t, '%Y%m%d%H%M%S') || lpad((seq % 100000)::VARCHAR, 5, '0') AS source_id,
        device AS tollgate_id,
        device AS device_id,
        ((i % 4) + 1)::VARCHAR AS lane_no,
        CASE WHEN i % 997 = 0 THEN '2027-01-01 00:00:00' ELSE strftime(t, '%Y-%m-%d %H:%M:%S') END AS pass_time,
        CASE WHEN i % 50 = 0 THEN '52' ELSE '02' END AS plate_class,
        CASE WHEN i % 50 = 0 THEN '9' ELSE '5' END AS plate_color,
        CASE WHEN i % 211 = 0 THEN '冀CI' || lpad((i % 10000)::VARCHAR, 4, '0')
             WHEN i % 50 = 0 THEN '冀CD' || lpad((i % 100000)::VARCHAR, 5, '0')
             ELSE (CASE WHEN i % 7 = 0 THEN '京A' ELSE '冀C' END) || lpad((i % 100000)::VARCHAR, 5, '0') END AS plate_no,
        CASE WHEN i % 503 = 0 THEN '512.0' ELSE (20 + (i * 7919) % 100)::VARCHAR || '.5' END AS speed,
        ((i % 8) + 1)::VARCHAR AS direction,
        CASE WHEN i % 10 = 0 THEN 'H31' ELSE 'K33' END AS vehicle_class,
        ((i % 12) + 1)::VARCHAR AS vehicle_color,
        'http://viid.qhd.local/img/' || i::VARCHAR || '.jpg' AS storage_url1,
        (80 + i % 21)::VARCHAR AS plate_reliability
      FROM base
    ) TO '{path}' (HEADER, DELIMITER ',')""")


def _read_csv_sql(path: Path) -> str:
    return f"read_csv('{path}', all_varchar = true, header = true)"


def run_plain(path: Path, out: Path) -> int:
    import duckdb
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM {_read_csv_sql(path)}) TO '{out}' (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]


def run_vectorised(path: Path, out: Path) -> int:
    import datetime as dt

    import duckdb

    from safecity.standards.catalogue import load_catalogue
    from safecity.standards.conform import Conformer
    conformer = Conformer(load_catalogue(), ENTITY, dt.datetime.fromisoformat(NOW))
    con = duckdb.connect()
    # The file is read once into memory, as the pipeline holds a batch (the check reads the rows more than once:
    # the keys are counted over the whole batch before the rows are judged); the row id numbers the rows in file
    # order, as the file reader's line numbers do in the pipeline.
    con.execute(f"CREATE TEMP TABLE received AS SELECT * FROM {_read_csv_sql(path)}")
    present = {c[0] for c in con.execute("DESCRIBE received").fetchall()}
    missing = ", ".join(f"NULL::VARCHAR AS \"{c}\"" for c in conformer.source_columns() if c not in present)
    source = f"(SELECT *{', ' + missing if missing else ''}, rowid + 2 AS _line FROM received)"
    sql = conformer.sql(source, ("_line",), "_line").sql
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]


def _measure(method: str, path: Path, out: Path) -> dict:
    """One measurement in a fresh interpreter: seconds, rows, that process's peak RSS and CPU seconds (on a shared
    machine the CPU time is the steadier figure; on an idle one, seconds show what parallelism buys)."""
    code = (
        "import json, resource, sys, time; from pathlib import Path; import benchmarks.conformance as b; "
        f"t = time.perf_counter(); "
        f"n = b.run_{method}(Path({str(path)!r}), Path({str(out)!r})); "
        "s = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_SELF); "
        "print(json.dumps({'seconds': s, 'rows': n, 'peak_mb': u.ru_maxrss / 1024, "
        "'cpu_seconds': u.ru_utime + u.ru_stime}))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent.parent, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="Where to write the JSON result.")
    args = parser.parse_args(argv)
    with work_folder(None, "safecity-bench-conformance-") as work:  # removed after, with its CSV of up to 1.1 GB
        csv_path = work / "vehicle_pass.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores", flush=True)
        results: dict[str, list[dict]] = {"plain": [], "vectorised": []}
        for repeat in range(args.repeat):
            for method in results:  # interleaved, so that machine noise falls on all methods alike
                measured = _measure(method, csv_path, work / f"{method}.parquet")
                measured["rows_per_s"] = measured["rows"] / measured["seconds"]
                results[method].append(measured)
                print(f"  run {repeat + 1} {method:<10} {measured['rows']:>10,} rows {measured['seconds']:7.2f} s "
                      f"(cpu {measured['cpu_seconds']:7.2f} s) "
                      f"{measured['rows_per_s'] / 1e6:6.3f} M rows/s  peak {measured['peak_mb']:7.0f} MB", flush=True)
    summary = {m: {"median_rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
                   "median_seconds": statistics.median(r["seconds"] for r in runs),
                   "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
                   "peak_mb": max(r["peak_mb"] for r in runs), "rows": runs[0]["rows"]}
               for m, runs in results.items()}
    vector, plain = (summary[m]["median_rows_per_s"] for m in ("vectorised", "plain"))
    cpu = summary["plain"]["median_cpu_seconds"] / summary["vectorised"]["median_cpu_seconds"]
    summary["ratios"] = {"vectorised_vs_plain": vector / plain, "vectorised_vs_plain_cpu": cpu}
    summary["targets_met"] = {"vectorised >= 40% of plain": vector / plain >= 0.4}
    print()
    print(f"{'method':<12}{'median rows/s':>16}{'median s':>10}{'median cpu s':>14}{'peak MB':>10}")
    for method in ("plain", "vectorised"):
        s = summary[method]
        print(f"{method:<12}{s['median_rows_per_s']:>16,.0f}{s['median_seconds']:>10.2f}"
              f"{s['median_cpu_seconds']:>14.2f}{s['peak_mb']:>10.0f}")
    print(f"vectorised / plain = {summary['ratios']['vectorised_vs_plain']:.0%} (target >= 40%); by CPU time {cpu:.0%}")
    write_results(args.out, "conformance", summary)
    return summary


if __name__ == "__main__":
    main()
