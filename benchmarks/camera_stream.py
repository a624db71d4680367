"""Benchmark: the keepalive-stream watcher's tick (analytics/camera_stream.py, issue 18), in one run.

Each tick runs the batch state machine over all the evidence held, so its cost grows with the history kept. N
cameras (default 20,000, the city scale) send a keepalive every `--step` minutes (60: the city scale's summary),
1 % of them silent for two hours each day. Measured: one tick (derive_states + health_events + the dedupe) with
1 and with `--days` days of evidence, against the baseline of the batch function (camera_states) over the same
evidence at the same as_of, and the whole stream's cost for its last day (one tick per step). Medians of `--repeat`
runs, interleaved.

    python -m benchmarks.camera_stream [--cameras 20000] [--days 3] [--step 60] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import pyarrow as pa

from benchmarks.harness import work_folder
from safecity.analytics.camera_state import camera_states
from safecity.analytics.camera_stream import CameraWatch, Published, memory_inputs
from safecity.config.profiles import load_settings

T0 = dt.datetime(2026, 7, 1)


def registry(n: int) -> pa.Table:
    ids = [f"130302010013200{i:05d}" for i in range(n)]
    return pa.table({"device_id": ids, "parent_id": pa.array([None] * n, pa.string()), "status": ["ON"] * n,
                     "longitude": [119.5 + (i % 100) * 0.002 for i in range(n)],
                     "latitude": [39.9 + (i // 100 % 100) * 0.002 for i in range(n)],
                     "use_type": ["3" if i % 10 == 0 else "1" for i in range(n)],
                     "position_type": pa.array([None] * n, pa.string())})


def keepalives(ids: list[str], days: int, step: int) -> list[tuple[str, str, str, dt.datetime]]:
    rows = []
    for day in range(days):
        for minute in range(0, 24 * 60, step):
            moment = T0 + dt.timedelta(days=day, minutes=minute)
            for i, device in enumerate(ids):
                # 1 % of the cameras silent from 10:00 to 12:00 each day: an outage the watcher reports.
                if i % 100 == day % 100 and 600 <= minute < 720:
                    continue
                rows.append(("Keepalive", device, "OK", moment))
    return rows


def watcher(settings, reg: pa.Table, rows, step: int) -> CameraWatch:
    watch = CameraWatch(memory_inputs(settings, reg, pa.table({
        "device_id": pa.array([], pa.string()), "captured_at": pa.array([], pa.timestamp("us")),
        "defect": pa.array([], pa.string())})), settings.city, Published(), interval_seconds=step * 60)
    for row in rows:
        watch.add(*row)
    return watch


def one_tick(settings, reg, rows, step, as_of) -> float:
    watch = watcher(settings, reg, rows, step)
    started = time.perf_counter()
    watch.tick(as_of)
    return time.perf_counter() - started


def batch(reg, rows, step, as_of) -> float:
    table = pa.table({"CmdType": [r[0] for r in rows], "DeviceID": [r[1] for r in rows],
                      "Status": [r[2] for r in rows], "Time": pa.array([r[3] for r in rows], pa.timestamp("us"))})
    catalog = pa.table({"DeviceID": reg["device_id"], "ParentID": reg["parent_id"], "Status": reg["status"]})
    started = time.perf_counter()
    camera_states(table, catalog, as_of=as_of, interval_seconds=step * 60)
    return time.perf_counter() - started


def last_day(settings, reg, rows, step, days) -> tuple[float, int]:
    """Every tick of the last day, the evidence arriving as it would: (seconds, ticks)."""
    start = T0 + dt.timedelta(days=days - 1)
    earlier = [r for r in rows if r[3] < start]
    watch = watcher(settings, reg, earlier, step)
    watch.published.last_tick = start - dt.timedelta(minutes=step)
    watch.tick(watch.published.last_tick)  # what was published before the day: not timed
    seconds, ticks = 0.0, 0
    for row in (r for r in rows if r[3] >= start):
        for as_of in watch.due(row[3]):
            started = time.perf_counter()
            watch.tick(as_of)
            seconds += time.perf_counter() - started
            ticks += 1
        watch.add(*row)
    return seconds, ticks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--step", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with work_folder(None, "safecity-bench-camera-stream-") as work:  # the watcher's home, removed after
        settings = load_settings("local", work / "home")
        reg = registry(args.cameras)
        ids = reg["device_id"].to_pylist()
        everything = keepalives(ids, args.days, args.step)
        one = [r for r in everything if r[3] < T0 + dt.timedelta(days=1)]
        end = {1: T0 + dt.timedelta(days=1, minutes=-args.step), args.days: T0 + dt.timedelta(days=args.days,
                                                                                               minutes=-args.step)}
        results: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for days, rows in ((1, one), (args.days, everything)):
                results.setdefault(f"batch camera_states, {days} day(s), {len(rows):,} messages", []).append(
                    batch(reg, rows, args.step, end[days]))
                results.setdefault(f"watcher tick, {days} day(s), {len(rows):,} messages", []).append(
                    one_tick(settings, reg, rows, args.step, end[days]))
        seconds, ticks = last_day(settings, reg, everything, args.step, args.days)
    print(f"{args.cameras:,} cameras, keepalive every {args.step} min, {args.days} days, {args.repeat} runs")
    print("| measure | median s |\n|---|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.3f} |")
    print(f"| watcher, whole last day ({ticks} ticks, history of {args.days} days) | {seconds:.3f} |")


if __name__ == "__main__":
    main()
