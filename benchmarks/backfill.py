"""Benchmark: a backfill of the daily partitions as one run against one run per day (issue 9).

Several simulated small days (15 July 2026 on, seed 1: passes, detector flows, keepalives and the manifest's clock)
are delivered once into the work folder; every run gets a fresh SAFECITY home with them hard-linked in. The
selection is every daily-partitioned asset of the code location (the ingestion of passes, detector flows and
keepalives, the dbt models tagged daily) and what they read (the detector registry, the reference tables). Two
ways, interleaved:

  single   one process, as Dagster's run launcher starts one for a run: imports, the definitions (with dbt parse),
           then the job "main" over the whole range of days (BackfillPolicy.single_run: one run).
  per_day  one such process per day, each running that day's partition: what a backfill costs without the
           single-run policy (Dagster launches a run, and so a process, per partition).

Both must leave the same rows in bronze, silver and quarantine and the same dbt facts; the benchmark fails
otherwise. Wall time includes each process's start and imports (they are part of a run's cost); peak memory is the
largest run process's ru_maxrss.

    python -m benchmarks.backfill [--days 5] [--repeat 2] [--work DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.orchestration import ENVIRONMENT, ROOT, fresh_home
from benchmarks.harness import work_folder, write_results

FIRST_DAY = dt.date(2026, 7, 15)
SEED = 1
# The daily sources, and the detector registry the detectors' daily health reads.
FOLDERS = ("passes", "detectors", "heartbeats", "detector_registry")
METHODS = ("single", "per_day")


def landing(work: Path, days: int) -> Path:
    """The simulated days' daily sources as delivered (simulated once, kept in the work folder)."""
    from safecity.simulator.run import simulate

    folder = work / f"landing-{days}d"
    if (folder / "manifest.json").exists():
        return folder
    day = work / f"sim-{days}d"
    shutil.rmtree(day, ignore_errors=True)
    simulate("qinhuangdao", FIRST_DAY, days, "small", SEED, day)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        shutil.copytree(day / name, folder / name)
    shutil.copy(day / "manifest.json", folder / "manifest.json")
    shutil.rmtree(day)
    return folder


def run_partitions(home: str, first: str, last: str) -> None:
    """One run of the daily-partitioned assets over [first, last] (a partition when equal); in its own process."""
    import dagster as dg

    from safecity.config.profiles import load_settings
    from safecity.orchestration.definitions import MAIN_JOB, build_definitions
    from safecity.orchestration.defs.partitions import partitioned_assets
    from safecity.orchestration.defs.standards.assets import reference_tables
    from safecity.orchestration.main_job import partition_tags, prepare_dagster_home

    settings = load_settings(ENVIRONMENT, home)
    prepare_dagster_home(settings)
    definitions = build_definitions(settings)
    # The daily assets and what they read (the detector registry), and the reference tables the dbt tests check
    # codes against (a dbt test's table is no asset dependency).
    daily = dg.AssetSelection.assets(*(key for asset in partitioned_assets(definitions) for key in asset.keys))
    selection = list((daily.upstream().required_multi_asset_neighbors() | dg.AssetSelection.assets(reference_tables))
                     .resolve(definitions.resolve_asset_graph()))
    days = sorted({dt.date.fromisoformat(first), dt.date.fromisoformat(last)})
    with dg.DagsterInstance.get() as instance:
        result = definitions.resolve_job_def(MAIN_JOB).execute_in_process(
            instance=instance, asset_selection=selection, tags=partition_tags(days), raise_on_error=False)
    if not result.success:
        raise SystemExit(f"run {first}..{last} failed")


def _process(home: Path, first: dt.date, last: dt.date) -> None:
    code = "import sys, benchmarks.backfill as b; b.run_partitions(*sys.argv[1:])"
    completed = subprocess.run([sys.executable, "-c", code, str(home), first.isoformat(), last.isoformat()],
                               cwd=ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"backfill run {first}..{last} failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")


def stored(home: Path) -> dict:
    """Rows per bronze, silver and quarantine table and per dbt fact (what both ways must agree on)."""
    from safecity.lakehouse.warehouse import connect
    from safecity.config.profiles import load_settings

    settings = load_settings(ENVIRONMENT, home)
    counts = {}
    with connect(settings, read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
                             "('bronze', 'silver', 'quarantine', 'marts') ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            counts[f"{schema}.{table}"] = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]
    return counts


def measure(method: str, delivered: Path, home: Path, days: int) -> dict:
    fresh_home(delivered, home)
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    began = time.perf_counter()
    if method == "single":
        _process(home, FIRST_DAY, last)
        runs = 1
    else:
        for n in range(days):
            day = FIRST_DAY + dt.timedelta(days=n)
            _process(home, day, day)
        runs = days
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "runs": runs, "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "stored": stored(home)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    loads = [os.getloadavg()[0]]
    with work_folder(args.work, "safecity-bench-backfill-") as work:
        delivered = landing(work, args.days)
        for run in range(1, args.repeat + 1):
            for method in METHODS:  # interleaved: machine noise falls on both alike
                home = work / f"{method}-{run}"
                results[method].append(measure(method, delivered, home, args.days))
                shutil.rmtree(home)
                loads.append(os.getloadavg()[0])
                r = results[method][-1]
                print(f"  run {run} {method:<8} {r['seconds']:7.1f} s in {r['runs']} run(s)", flush=True)
    reference = results["single"][0]["stored"]
    differing = [(m, n) for m, runs in results.items() for n, r in enumerate(runs, 1) if r["stored"] != reference]
    if differing:
        raise AssertionError(f"backfill benchmark: stored rows differ from single run 1 in {differing}")
    summary = {m: {"median_seconds": statistics.median(r["seconds"] for r in runs),
                   "seconds": [round(r["seconds"], 1) for r in runs], "runs": runs[0]["runs"]}
               for m, runs in results.items()}
    summary["ratio_single_vs_per_day"] = summary["single"]["median_seconds"] / summary["per_day"]["median_seconds"]
    summary.update(days=args.days, repeat=args.repeat, load_average=loads, stored=reference,
                   peak_mb=max(r["peak_mb"] for runs in results.values() for r in runs),
                   machine={"cores": os.cpu_count()}, when=dt.datetime.now().isoformat(timespec="seconds"))
    print(f"\nbackfill of {args.days} small days ({args.repeat} interleaved runs each; load average "
          f"{min(loads):.1f}-{max(loads):.1f}): one run {summary['single']['median_seconds']:.1f} s, one run per day "
          f"{summary['per_day']['median_seconds']:.1f} s (median); single / per day = "
          f"{summary['ratio_single_vs_per_day']:.2f}; silver passes {reference.get('silver.vehicle_pass', 0):,}, "
          f"marts.fct_vehicle_passes {reference.get('marts.fct_vehicle_passes', 0):,}")
    write_results(args.out, "backfill", summary)
    return summary


if __name__ == "__main__":
    main()
