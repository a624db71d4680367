"""Benchmark: onboarding a real export with a new site folder, end to end (issue 16), against reading the same file
with plain DuckDB in the same run.

  platform  in a fresh work folder: `safecity site new` (from the shipped site), the file edits that make it
            Edinburgh's (docs/site-examples/edinburgh: city profile, key places, one mapping; site.yaml's city and
            packs), the export copied into landing, then `safecity --site DIR run --json` (the main job on what
            landing holds: ingestion to bronze/silver/quarantine, reference tables, every dbt model and test with
            the marts, gold, the rules step): every command a fresh process, as a new user runs them.
  duckdb    `duckdb.connect()` in a fresh process: read_csv of the same file and the incidents per local day and
            hour — the figure the platform's mart_traffic_incident_volumes gives at the city level.

Both must give the same counts per day and hour, or the benchmark fails. The runs interleave (platform, duckdb,
platform, ...); each is timed from outside its process(es), imports included, since a new user pays them too.

    python -m benchmarks.onboarding [--repeat 3] [--file PATH] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "docs" / "site-examples" / "edinburgh"
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "real" / "exports" / "accidents" / "edinburgh_2012_accident.csv"
MAPPING = "edinburgh_accidents_csv"
BIN = Path(sys.executable).parent
FIGURE_SQL = ("SELECT occurred_date::varchar, occurred_hour, sum(incidents)::bigint FROM "
              "marts.mart_traffic_incident_volumes WHERE level = 'city' GROUP BY ALL ORDER BY ALL")
DUCKDB_SCRIPT = """
import json, sys, duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'Europe/London'")
rows = con.execute(
    "SELECT strptime(a_date, '%d/%m/%Y')::date::varchar AS d, a_time_hr::int AS h, count(*) "
    "FROM read_csv(?, all_varchar = true) GROUP BY ALL ORDER BY ALL", [sys.argv[1]]).fetchall()
print(json.dumps(rows))
"""


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SAFECITY_SITE", "SAFECITY_HOME", "SAFECITY_ENV")}
    completed = subprocess.run(list(args), capture_output=True, text=True, env={**environment, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return completed


def make_site(site: Path) -> None:
    """The edits a user makes after `site new`, as file operations."""
    for path in (site / "sources").glob("*.yaml"):
        path.unlink()
    for name in ("city.yaml", "key_places.yaml"):
        shutil.copy(EXAMPLE / name, site / name)
    shutil.copy(EXAMPLE / "sources" / f"{MAPPING}.yaml", site / "sources")
    text = (site / "site.yaml").read_text(encoding="utf-8")
    # Whatever packs the platform ships (`site new` enables them all), this site keeps only emergency.
    text = re.sub(r"(?m)^policy_packs: \[.*\]$", "policy_packs: [emergency]", text, count=1)
    (site / "site.yaml").write_text(text.replace("city: qinhuangdao", "city: edinburgh"), encoding="utf-8")


def platform(export: Path, work: Path) -> tuple[float, list]:
    import duckdb
    shutil.rmtree(work, ignore_errors=True)
    site, home = work / "site", work / "home"
    started = time.perf_counter()
    _run(str(BIN / "safecity"), "site", "new", str(site))
    make_site(site)
    (home / "landing" / "accidents").mkdir(parents=True)
    shutil.copy(export, home / "landing" / "accidents" / export.name)
    _run(str(BIN / "safecity"), "--site", str(site), "run", "--json", "--home", str(home))
    seconds = time.perf_counter() - started
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        figure = [list(r) for r in con.execute(FIGURE_SQL).fetchall()]
    return seconds, figure


def plain_duckdb(export: Path) -> tuple[float, list]:
    started = time.perf_counter()
    completed = _run(sys.executable, "-c", DUCKDB_SCRIPT, str(export))
    return time.perf_counter() - started, json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="onboarding-"))
    timings: dict[str, list[float]] = {"platform": [], "duckdb": []}
    for run in range(args.repeat):
        seconds, figure = platform(args.file, work / "platform")
        timings["platform"].append(seconds)
        baseline_seconds, baseline = plain_duckdb(args.file)
        timings["duckdb"].append(baseline_seconds)
        if figure != baseline:
            raise SystemExit(f"run {run}: the platform's figure differs from plain DuckDB's:\n{figure[:5]}\n"
                             f"{baseline[:5]}")
        print(f"run {run + 1}: platform {seconds:.2f} s, duckdb {baseline_seconds:.2f} s "
              f"({sum(r[2] for r in figure)} incidents on {len(figure)} days: same figure)", flush=True)
    medians = {k: statistics.median(v) for k, v in timings.items()}
    print(json.dumps({"file": str(args.file), "repeat": args.repeat, "median_s": medians,
                      "ratio_platform_to_duckdb": round(medians["platform"] / medians["duckdb"], 1)}, indent=2))


if __name__ == "__main__":
    main()
