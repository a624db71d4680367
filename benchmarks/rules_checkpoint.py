"""Benchmark: the cost of a streaming checkpoint (issue 18), in one run.

One supervised engine (the congestion window and the escalation chart) holds N junctions with two severe readings
pending in their window and N incidents resting at level IV. Measured: `export_state` + the atomic file write, and
a restore into a fresh worker, against the baseline of evaluating the same events (what a checkpoint saves a new
holder from re-reading). Medians of `--repeat` runs, interleaved.

    python -m benchmarks.rules_checkpoint [--partitions 1000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

from safecity.rules.checkpoint import Checkpoint, DirectoryCheckpoints
from safecity.rules.engine import EVENT_TIME
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.rules.worker import SupervisedEngine

CST = dt.timezone(dt.timedelta(hours=8))


def workload(n: int) -> list[dict]:
    start = dt.datetime(2025, 3, 1, 8, 0, tzinfo=CST)
    events = []
    for j in range(n):
        for k, minute in enumerate((0, 5)):
            events.append({"type": "congestion_reading", "id": f"r{j}.{k}", "junction_id": f"J{j}",
                           "congestion_index": 9.0, "ts": (start + dt.timedelta(minutes=minute)).isoformat()})
        events.append({"type": "incident_reported", "id": f"rep{j}", "incident_id": f"I{j}", "grid_id": "G1",
                       "category": "010000", "casualties": 2, "ts": (start + dt.timedelta(minutes=1)).isoformat()})
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    policies = [load_policy(POLICIES_DIR / "command" / "junction_congestion.yaml"),
                load_policy(POLICIES_DIR / "emergency" / "incident_escalation.yaml")]
    events = workload(args.partitions)
    store = DirectoryCheckpoints(tempfile.mkdtemp())
    evaluate_s, save_s, restore_s = [], [], []
    for _ in range(args.repeat):
        with SupervisedEngine(policies, clock=EVENT_TIME) as engine:
            began = time.perf_counter()
            engine.post(events)
            evaluate_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            store.save(Checkpoint.now("bench", "t", 0, len(events), engine.export_state()))
            save_s.append(time.perf_counter() - began)
        with SupervisedEngine(policies, clock=EVENT_TIME) as fresh:
            began = time.perf_counter()
            fresh.restore(store.load("bench", "t", 0).state)
            restore_s.append(time.perf_counter() - began)
    size = store.path("bench", "t", 0).stat().st_size
    ev, sv, rs = (statistics.median(x) * 1000 for x in (evaluate_s, save_s, restore_s))
    print(f"{len(events)} events ({args.partitions} windows with 2 pending readings, {args.partitions} charts "
          f"resting at IV); checkpoint file {size / 1e6:.2f} MB")
    print(f"evaluate (baseline) {ev:.0f} ms | checkpoint save {sv:.0f} ms ({sv / ev:.2f}x) | "
          f"restore {rs:.0f} ms ({rs / ev:.2f}x) | medians of {args.repeat}")


if __name__ == "__main__":
    main()
