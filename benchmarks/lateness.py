"""Benchmark: what judging late arrivals costs the batch rules run (issue 18), against the run's own read of the
same event table, in one run.

A silver congestion_reading table of `--junctions` junctions x 288 five-minute readings a day x `--days` is written
and its view pinned (what the previous run read); then `--late` readings arrive, half within the allowed lateness
(15 min) before the watermark and half beyond it. Timed, interleaved, `--repeat` times:

  read      silver_events over the type from watermark - lateness - window (the batch run's read; baseline)
  arrivals  arrivals.arrived_before: the rows at or before the watermark that the pinned snapshot lacks
  full      silver_events over the whole table (what a run without a watermark reads), for scale

The arrivals found must be exactly the late rows, and judge_arrivals' split must equal a count made from the
generated rows: the benchmark fails otherwise.

    python -m benchmarks.lateness [--junctions 500] [--days 1] [--late 100] [--repeat 5] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

import pyarrow as pa

from benchmarks.harness import work_folder, write_results

SCHEMA = pa.schema([("junction_id", pa.string()), ("congestion_index", pa.float64()),
                    ("ts", pa.timestamp("us", tz="UTC")), ("_batch_id", pa.string()), ("_line", pa.int64())])
START = dt.datetime(2026, 7, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
LATENESS = 900
WINDOW = 900


def readings(junctions: int, days: int) -> list[dict]:
    rows = []
    for step in range(288 * days):
        moment = START + dt.timedelta(minutes=5 * step)
        rows += [{"junction_id": f"J{j:04d}", "congestion_index": float((j + step) % 10), "ts": moment,
                  "_batch_id": f"day:{step}", "_line": j} for j in range(junctions)]
    return rows


def run(junctions: int, days: int, late: int, repeat: int, work: Path) -> dict:
    from safecity.config.profiles import load_settings
    from safecity.lakehouse.catalog import ensure_table, open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect
    from safecity.rules.arrivals import arrived_before, pinned_files
    from safecity.rules.batch import judge_arrivals
    from safecity.rules.events import silver_events
    from safecity.standards.catalogue import load_catalogue

    settings = load_settings("local", work / "home")
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.congestion_reading", SCHEMA)
    rows = readings(junctions, days)
    table.append(pa.Table.from_pylist(rows, schema=SCHEMA))
    watermark = max(r["ts"] for r in rows)
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        before = pinned_files(con, {"congestion_reading"})
    arrived = [{"junction_id": f"J{k % junctions:04d}", "congestion_index": 9.0,
                "ts": watermark - dt.timedelta(minutes=10 if k % 2 == 0 else 60 + k), "_batch_id": "late",
                "_line": k} for k in range(late)]
    table.append(pa.Table.from_pylist(arrived, schema=SCHEMA))
    catalogue = load_catalogue()
    timings: dict[str, list[float]] = {"read": [], "arrivals": [], "full": []}
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        start = watermark - dt.timedelta(seconds=LATENESS + WINDOW)

        def read(since):
            events = silver_events(con, catalogue, start=since, only={"congestion_reading"})
            return sum(1 for _ in events), events

        for _ in range(repeat):
            began = time.perf_counter()
            read_events, events = read(start)
            timings["read"].append(time.perf_counter() - began)
            began = time.perf_counter()
            found = arrived_before(con, events.types, watermark, before)
            timings["arrivals"].append(time.perf_counter() - began)
            began = time.perf_counter()
            all_events, _ = read(None)
            timings["full"].append(time.perf_counter() - began)
    # Independent check from the generated rows.
    assert sorted(i for i, _ in found.events["congestion_reading"]) == sorted(f"late:{r['_line']}" for r in arrived)
    within, beyond = judge_arrivals(found, watermark, LATENESS)
    expected_beyond = sum(1 for r in arrived if r["ts"] < watermark - dt.timedelta(seconds=LATENESS))
    assert len(beyond) == expected_beyond and len(within["congestion_reading"]) == late - expected_beyond
    assert all_events == len(rows) + late
    medians = {k: statistics.median(v) for k, v in timings.items()}
    return {"rows": len(rows), "late": late, "events_read": read_events, "medians_s": medians,
            "arrivals_vs_read": medians["arrivals"] / medians["read"],
            "arrivals_vs_full": medians["arrivals"] / medians["full"], "repeat": repeat,
            "within": late - expected_beyond, "beyond": expected_beyond}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--junctions", type=int, default=500)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--late", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with work_folder(args.work, "safecity-lateness-") as work:
        summary = run(args.junctions, args.days, args.late, args.repeat, work)
    print(summary)
    write_results(args.out, "lateness", summary)


if __name__ == "__main__":
    main()
