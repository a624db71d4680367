"""Publishing gold (`transforms.gold.publish`: every mart to Iceberg, masked; the masked marts' raw rows beside their
masked values to gold_restricted; the row scopes) against a plain DuckDB COPY of the same rows to Parquet.

Needs a home where the main job has run (`safecity run --home H`). The home's warehouse is copied into the work folder
(each gold run publishes into an empty catalog of its own there) and its fct_vehicle_passes grown to `--rows` by repeating its rows under new keys (the masked view follows), so that the
pass fact has a city day's size. Each run is a fresh interpreter; the runs are interleaved. `--python` runs the gold
method with another checkout's interpreter (its virtualenv imports its own code): the same home and baseline for a
before and an after.

    python -m benchmarks.gold --home var --rows 6000000 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import method_summaries, work_folder, write_results

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = "local"
FACT = "fct_vehicle_passes"
KEY = "motor_vehicle_id"


def grow(home: Path, rows: int) -> int:
    """fct_vehicle_passes repeated until it holds at least `rows` rows; each copy's keys get a suffix of its number."""
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        have = con.execute(f"SELECT count(*) FROM marts.{FACT}").fetchone()[0]
        if have == 0:
            raise SystemExit(f"{home} has no {FACT} rows: run the main job there first")
        copies = -(-rows // have) - 1
        if copies > 0:
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ? "
                "ORDER BY ordinal_position", [FACT]).fetchall()]
            select = ", ".join(f"{KEY} || '-' || copy::VARCHAR" if c == KEY else f'"{c}"' for c in columns)
            con.execute(f"INSERT INTO marts.{FACT} SELECT {select} FROM marts.{FACT}, "
                        f"range(1, {copies + 1}) copies(copy)")
        return con.execute(f"SELECT count(*) FROM marts.{FACT}").fetchone()[0]


def run_plain(home: Path) -> int:
    """What DuckDB alone does with the same rows: each mart (its masked view where one exists, and then its raw rows)
    copied to a Parquet file."""
    import duckdb

    out = home / "plain"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    rows = 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        tables = lambda schema: [r[0] for r in con.execute(  # noqa: E731
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]
        masked = set(tables("gold_masked"))
        for mart in tables("marts"):
            sources = ["gold_masked", "marts"] if mart in masked else ["marts"]
            for schema in sources:
                con.execute(f'COPY (SELECT * FROM {schema}."{mart}") TO \'{out}/{schema}.{mart}.parquet\' '
                            "(FORMAT parquet)")
            rows += con.execute(f'SELECT count(*) FROM marts."{mart}"').fetchone()[0]
    return rows


def run_gold(home: Path) -> int:
    from safecity.config.profiles import load_settings
    from safecity.transforms.gold import publish

    report = publish(load_settings(ENVIRONMENT, home))
    return sum(p.rows for p in report.published)


def measure(method: str, home: Path, python: str) -> dict:
    """One run in a fresh interpreter: seconds, rows published and the process's peak resident memory."""
    code = ("import json, resource, sys, time; from pathlib import Path; "
            f"sys.path.insert(0, {str(ROOT)!r}); import benchmarks.gold as b; t = time.perf_counter(); "
            f"n = b.run_{method}(Path({str(home)!r})); s = time.perf_counter() - t; "
            "print('\\nRESULT ' + json.dumps({'seconds': s, 'rows': n, "
            "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=home)
    if done.returncode != 0:
        raise RuntimeError(f"the {method} run failed:\n{done.stderr[-4000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("RESULT ")][-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="A home where the main job has run.")
    parser.add_argument("--rows", type=int, default=6_000_000, help="Rows of fct_vehicle_passes to publish.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="Interpreter for the gold method.")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with work_folder(args.work, "safecity-bench-gold-") as work:
        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
        # Not the lakehouse: its catalog names the source home's table folders, which gold would then write into.
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("landing", "dagster", "reports", "lakehouse"))
        began = time.perf_counter()
        fact_rows = grow(home, args.rows)
        print(f"{FACT}: {fact_rows:,} rows (grown in {time.perf_counter() - began:.0f} s); {os.cpu_count()} cores; "
              f"gold with {args.python}", flush=True)
        results: dict[str, list[dict]] = {"plain": [], "gold": []}
        for run in range(1, args.repeat + 1):
            for method in results:
                shutil.rmtree(home / "lakehouse", ignore_errors=True)  # each publication into a catalog of its own
                r = measure(method, home, args.python if method == "gold" else sys.executable)
                r["rows_per_s"] = r["rows"] / r["seconds"]
                results[method].append(r)
                print(f"  run {run} {method:<6} {r['rows']:>11,} rows {r['seconds']:7.1f} s  peak "
                      f"{r['peak_mb']:7,.0f} MB", flush=True)
    summary = {m: {**s, "runs": results[m]} for m, s in method_summaries(results).items()}
    if len({r["rows"] for runs in results.values() for r in runs}) != 1:
        raise AssertionError(f"the methods published different row counts: {results}")
    summary["fact_rows"] = fact_rows
    summary["plain_vs_gold"] = summary["plain"]["median_seconds"] / summary["gold"]["median_seconds"]
    print(f"\n{'method':<8}{'rows':>12}{'median s':>10}{'peak MB':>10}")
    for method in results:
        s = summary[method]
        print(f"{method:<8}{s['rows']:>12,}{s['median_seconds']:>10.1f}{s['peak_mb']:>10,.0f}")
    print(f"gold at {summary['plain_vs_gold']:.0%} of the plain copy's speed")
    write_results(args.out, "gold", summary)
    return summary


if __name__ == "__main__":
    main()
