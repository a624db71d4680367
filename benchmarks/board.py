"""Command board latency (`python -m benchmarks.board`): from an outbox commit to the row on the board's stream.

`safecity board` runs in a process of its own on a fresh state folder (poll 0.2 s, its default). This process
commits the real incident_escalation policy's actions to ops.outbox the way the streaming worker does
(rules/streaming.py iceberg_outbox), one incident's level-III escalation per commit, a commit every `--gap`
seconds, and reads the board's /events as a plain SSE client. Latency = the row's arrival on the stream minus the
end of its commit, both on this process's monotonic clock.

Baseline in the same run: a bare watcher thread in this process that loads ops.outbox's metadata at the same poll
interval and notes when it first sees each commit's snapshot: the floor any poll of the catalog has (half the
interval on average, plus a metadata read). The board's figure minus this one is what the board adds: the
incremental scan, deriving the state, and the HTTP stream. p50/p99 over all rows; medians over runs.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from benchmarks.harness import work_folder, write_results

SAFECITY = str(Path(sys.executable).with_name("safecity"))
POLICY = "emergency/incident_escalation.yaml"


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_board(home: Path, log: Path, poll: float = 0.2, timeout: float = 60) -> Iterator[str]:
    """`safecity board` on a free loopback port against `home`, ready once /state answers; stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        board = subprocess.Popen([SAFECITY, "board", "--env", "local", "--home", str(home), "--port", str(port),
                                  "--poll", str(poll)], stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            deadline = time.monotonic() + timeout
            while True:
                if board.poll() is not None:
                    raise RuntimeError(f"safecity board exited with {board.returncode}: see {log}")
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{url}/state", timeout=2).status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"safecity board did not answer on {url} within {timeout:.0f} s: see {log}")
                time.sleep(0.3)
            yield url
        finally:
            board.terminate()
            board.wait(30)


def escalations(incidents: int) -> list[list]:
    """Per incident, the outbox records of a level-III escalation (plan + duty-leader notification)."""
    from safecity.rules.engine import EVENT_TIME, evaluate
    from safecity.rules.loader import POLICIES_DIR, load_policy

    events = [{"type": "incident_assessed", "id": f"a{n}", "incident_id": f"B{n:05d}", "casualties": 5, "deaths": 3,
               "serious_injuries": 0, "ts": f"2025-03-01T08:{n % 60:02d}:00+08:00"} for n in range(incidents)]
    result = evaluate([load_policy(Path(POLICIES_DIR) / POLICY)], events, clock=EVENT_TIME)
    by_incident: dict[str, list] = {}
    for record in result.outbox:
        by_incident.setdefault(record.partition_key, []).append(record)
    return [by_incident[f"B{n:05d}"] for n in range(incidents)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def one_run(home: Path, commits: int, gap: float, poll: float) -> dict:
    from safecity.config.profiles import load_settings
    from safecity.lakehouse.catalog import ensure_table, open_catalog
    from safecity.rules.outbox import OUTBOX_SCHEMA, OUTBOX_TABLE
    from safecity.rules.streaming import iceberg_outbox
    from safecity.service.board_client import board_events

    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings("local", home)
    catalog = open_catalog(settings)
    ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
    batches = escalations(commits)
    write = iceberg_outbox(catalog)
    arrived: dict[int, float] = {}           # seq -> monotonic arrival on the stream
    seen_snapshot: dict[int, float] = {}     # snapshot id -> monotonic first sight by the bare watcher
    stop = threading.Event()

    def watch() -> None:
        watcher = open_catalog(settings)
        while not stop.is_set():
            snapshot = watcher.load_table(OUTBOX_TABLE).current_snapshot()
            if snapshot is not None:
                seen_snapshot.setdefault(snapshot.snapshot_id, time.monotonic())
            time.sleep(poll)

    with running_board(home, home / "board.log", poll) as url:
        def listen() -> None:
            with contextlib.suppress(Exception):
                for event_id, name, _ in board_events(f"{url}/events", timeout=120):
                    if name == "action":
                        arrived[int(event_id)] = time.monotonic()

        for target in (listen, watch):
            threading.Thread(target=target, daemon=True).start()
        time.sleep(1.0)
        committed: list[tuple[list[int], int, float]] = []  # (seqs, snapshot id, commit end)
        seq = 0
        for records in batches:
            write(records, {"bench:0": str(seq)})
            done = time.monotonic()
            snapshot = catalog.load_table(OUTBOX_TABLE).current_snapshot().snapshot_id
            committed.append((list(range(seq + 1, seq + len(records) + 1)), snapshot, done))
            seq += len(records)
            time.sleep(gap)
        deadline = time.monotonic() + 30
        while len(arrived) < seq and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
    board_ms = [(arrived[s] - done) * 1000 for seqs, _, done in committed for s in seqs if s in arrived]
    # The watcher may see a snapshot between the commit and `done` (then ~0): that is the floor, as it should be.
    bare_ms = [max(0.0, seen_snapshot[snap] - done) * 1000 for _, snap, done in committed if snap in seen_snapshot]
    return {"rows": seq, "rows_seen": len(board_ms), "commits": len(committed),
            "board_p50_ms": percentile(board_ms, 0.5), "board_p99_ms": percentile(board_ms, 0.99),
            "bare_p50_ms": percentile(bare_ms, 0.5), "bare_p99_ms": percentile(bare_ms, 0.99)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=60, help="commits per run (one escalation each)")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between commits")
    parser.add_argument("--poll", type=float, default=0.2, help="the board's (and the baseline's) poll interval")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="folder for board.json")
    args = parser.parse_args(argv)
    runs = []
    with work_folder(args.work, "board-bench-") as work:
        for n in range(args.repeat):
            runs.append(one_run(work / f"run{n}", args.commits, args.gap, args.poll))
            print(runs[-1], flush=True)
    keys = ("board_p50_ms", "board_p99_ms", "bare_p50_ms", "bare_p99_ms")
    summary = {"commits": args.commits, "gap_s": args.gap, "poll_s": args.poll, "runs": runs,
               **{k: round(statistics.median(r[k] for r in runs), 1) for k in keys}}
    summary["added_p50_ms"] = round(summary["board_p50_ms"] - summary["bare_p50_ms"], 1)
    summary["ratio_p50"] = round(summary["board_p50_ms"] / summary["bare_p50_ms"], 2) if summary["bare_p50_ms"] else None
    print({k: v for k, v in summary.items() if k != "runs"})
    write_results(args.out, "board", summary)
    return summary


if __name__ == "__main__":
    main()
