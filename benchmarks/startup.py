"""Benchmark: what a process pays to start, with the parsed-YAML cache and without it (issue 22).

Every process reads the standards, the site and the policy files before it does anything: each CLI command, each
Dagster step run in its own process (the multiprocess executor of `safecity ui` and the daemon). The YAML parser
that gives every value its line is slow, so config/yamlfile.py keeps each file's parse by its text.

Measured: the command `safecity rules check` (validates every policy file: the standards, the site and 12 policy
files read) in a fresh process, interleaved: `off` (SAFECITY_YAML_CACHE=off, the baseline: every file parsed) and
`warm` (the cache filled by one untimed run before). Both must print the same thing; the benchmark fails otherwise.

    python -m benchmarks.startup [--repeat 5] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import write_results

COMMAND = ["rules", "check"]
MODES = ("off", "warm")


def _safecity() -> list[str]:
    """The `safecity` entry point of this interpreter's environment."""
    return [sys.executable, "-c", "from safecity.orchestration.cli import main; main()"]


def run_once(mode: str, cache: Path) -> dict:
    env = {**os.environ, "SAFECITY_YAML_CACHE": "off" if mode == "off" else str(cache)}
    began = time.perf_counter()
    done = subprocess.run(_safecity() + COMMAND, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"safecity {' '.join(COMMAND)} ({mode}) failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return {"mode": mode, "seconds": seconds, "output": done.stdout}


def benchmark(repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="safecity-yaml-cache-") as folder:
        cache = Path(folder)
        run_once("warm", cache)  # fills the cache; not timed
        filled = len(list(cache.glob("*.json")))
        runs: dict[str, list[dict]] = {m: [] for m in MODES}
        for number in range(1, repeat + 1):
            for mode in MODES:  # interleaved: the machine's noise falls on both
                measured = run_once(mode, cache)
                runs[mode].append(measured)
                print(f"  run {number} {mode:<4} {measured['seconds']:6.2f} s", flush=True)
    outputs = {r["output"] for mode_runs in runs.values() for r in mode_runs}
    if len(outputs) != 1:
        raise AssertionError(f"the command printed {len(outputs)} different outputs with and without the cache")
    medians = {m: statistics.median(r["seconds"] for r in runs[m]) for m in MODES}
    return {"command": "safecity " + " ".join(COMMAND), "repeat": repeat, "cached_files": filled,
            "cores": os.cpu_count(), "median_seconds": medians, "speedup": medians["off"] / medians["warm"],
            "runs": {m: [round(r["seconds"], 3) for r in runs[m]] for m in MODES}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    summary = benchmark(args.repeat)
    print(f"{summary['command']}: median {summary['median_seconds']['off']:.2f} s parsing every file, "
          f"{summary['median_seconds']['warm']:.2f} s from the cache ({summary['cached_files']} files): "
          f"{summary['speedup']:.2f}x; same output")
    write_results(args.out, "startup", summary)
    return summary


if __name__ == "__main__":
    main()
