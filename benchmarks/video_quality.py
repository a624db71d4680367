"""Benchmark: video quality diagnosis of 1920 x 1080 JPEG snapshots against plain JPEG decoding, in one run.

  decode          cv2.imdecode of each file at full size: the floor any diagnosis pays.
  diagnose        the platform's path: the JPEG decoded at a quarter (cv2.IMREAD_REDUCED_COLOR_4), then every check,
                  frozen against the camera's previous snapshot and scene_change against its reference frame.
  diagnose_baseline  the landing path since issue 17: the same, each camera judged against its baseline (learned
                  before the clock from its reference frame) and the baseline updated with every healthy snapshot's
                  measures, as diagnose_landing does.
  diagnose_full   the same checks after a full-size decode, to show what the reduced decode buys.

The snapshots are rendered by the city simulator (labelled defects included) and read into memory first, so disk
time is in none of the figures. One thread (cv2.setNumThreads(1)): figures are per core. Each measurement runs in
a fresh process (its own peak memory) and is repeated, interleaved; medians and ratios are reported. Target
(issues 6 and 17): diagnose_baseline >= 50% of decode-only throughput.

    python -m benchmarks.video_quality [--cameras 24] [--per-camera 2] [--repeat 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import write_results

METHODS = ("decode", "diagnose", "diagnose_baseline", "diagnose_full")
DAY = dt.date(2026, 7, 1)


def generate(out: Path, cameras: int, per_camera: int, seed: int = 61) -> None:
    """Full-HD snapshots of `cameras` cameras with their reference frames and a manifest (simulator output)."""
    from safecity.simulator.manifest import Manifest
    from safecity.simulator.scale import SCALES
    from safecity.simulator.snapshots import write_snapshots
    from safecity.simulator.world import World
    world = World.load("qinhuangdao", seed)
    scale = dataclasses.replace(SCALES["small"], snapshot_size=(1920, 1080), snapshots_per_camera=per_camera)
    manifest = Manifest(seed, "small", DAY.isoformat(), 1)
    ids = [{"device_id": f"130302000013200{i:05d}", "division": "130302"} for i in range(cameras)]
    write_snapshots(world, scale, ids, out, manifest, DAY)
    manifest.write(out)


def _inputs(folder: Path) -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    """(device, bytes) of every snapshot in camera and time order, and each camera's reference bytes."""
    from safecity.ingestion.video_quality.snapshots import snapshot_name
    files = sorted((folder / "snapshots").glob("2*/*.jpg"), key=lambda p: snapshot_name(p))
    snapshots = [(snapshot_name(p)[0], p.read_bytes()) for p in files]
    references = {p.stem: p.read_bytes() for p in (folder / "snapshots" / "reference").glob("*.jpg")}
    return snapshots, references


def run(method: str, folder: Path, limit: int | None = None) -> dict:
    """Time one method over the folder's snapshots (at most `limit`); returns images, seconds and defects found."""
    import cv2
    import numpy as np

    from safecity.ingestion.video_quality.baseline import BaselineBook, measures
    from safecity.ingestion.video_quality.checks import Frame
    from safecity.ingestion.video_quality.diagnose import diagnose
    from safecity.ingestion.video_quality.snapshots import decode_snapshot
    from safecity.ingestion.video_quality.thresholds import default_thresholds
    cv2.setNumThreads(1)
    snapshots, reference_bytes = _inputs(folder)
    snapshots = snapshots[:limit] if limit else snapshots
    # Reference frames are decoded once per camera and kept (the reference store does the same), outside the clock.
    references = {d: Frame.of(decode_snapshot(b)) for d, b in reference_bytes.items()}
    for frame in references.values():
        _ = frame.near_edges, frame.thumb
    settings = default_thresholds().baseline.model_copy(update={"min_snapshots": 1})
    book = BaselineBook(settings) if method == "diagnose_baseline" else None
    for device, frame in references.items() if book is not None else ():
        book.learn_from(device, [frame])
    previous: dict[str, Frame] = {}
    defects = 0
    started = time.perf_counter()
    for device, data in snapshots:
        if method == "decode":
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            continue
        picture = (cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if method == "diagnose_full"
                   else decode_snapshot(data))
        frame = Frame.of(picture)
        baseline = book.baseline(device) if book is not None else None
        result = diagnose(frame, previous.get(device), references.get(device), baseline=baseline)
        if book is not None and result.defect is None:
            book.add(device, measures(frame))
        defects += result.defect is not None
        previous[device] = frame
    seconds = time.perf_counter() - started
    return {"images": len(snapshots), "seconds": seconds, "defects": defects}


def _measure(method: str, folder: Path) -> dict:
    """One measurement in a fresh interpreter, with that process's peak RSS."""
    code = ("import json, resource; from pathlib import Path; import benchmarks.video_quality as b; "
            f"r = b.run({method!r}, Path({str(folder)!r})); "
            "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                               cwd=Path(__file__).resolve().parent.parent, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=24)
    parser.add_argument("--per-camera", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None, help="Use this simulator output instead of rendering.")
    parser.add_argument("--out", type=Path, default=None, help="Where to write the JSON result.")
    args = parser.parse_args(argv)
    folder = args.folder
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="safecity-vqd-bench-"))
        started = time.perf_counter()
        generate(folder, args.cameras, args.per_camera)
        print(f"rendered {args.cameras * args.per_camera} snapshots of 1920 x 1080 in "
              f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores", flush=True)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    for repeat in range(args.repeat):
        for method in METHODS:      # interleaved, so that machine noise falls on all methods alike
            measured = _measure(method, folder)
            measured["fps"] = measured["images"] / measured["seconds"]
            results[method].append(measured)
            print(f"  run {repeat + 1} {method:<14} {measured['images']:>5} images {measured['seconds']:7.2f} s "
                  f"{measured['fps']:8.1f} fps  peak {measured['peak_mb']:6.0f} MB", flush=True)
    summary = {m: {"median_fps": statistics.median(r["fps"] for r in runs),
                   "median_ms_per_image": 1000 * statistics.median(r["seconds"] / r["images"] for r in runs),
                   "peak_mb": max(r["peak_mb"] for r in runs), "images": runs[0]["images"],
                   "defects": runs[0]["defects"]}
               for m, runs in results.items()}
    decode = summary["decode"]["median_fps"]
    summary["ratios"] = {m: summary[m]["median_fps"] / decode for m in METHODS if m != "decode"}
    summary["targets_met"] = {"diagnose_baseline >= 50% of decode": summary["ratios"]["diagnose_baseline"] >= 0.5}
    print()
    print(f"{'method':<19}{'median fps/core':>16}{'ms/image':>10}{'vs decode':>11}{'peak MB':>9}")
    for method in METHODS:
        s = summary[method]
        ratio = "" if method == "decode" else f"{summary['ratios'][method]:.0%}"
        print(f"{method:<19}{s['median_fps']:>16.1f}{s['median_ms_per_image']:>10.2f}{ratio:>11}{s['peak_mb']:>9.0f}")
    print(f"diagnose_baseline / decode = {summary['ratios']['diagnose_baseline']:.0%} (target >= 50%)")
    write_results(args.out, "video_quality", summary)
    return summary


if __name__ == "__main__":
    main()
