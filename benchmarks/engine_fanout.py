"""Benchmark: how serve hands one poll's batches to its partition engines (issue 18, latency).

A serve worker holds one engine child per keyed partition. Before: each partition's batch was a pipe round trip of
its own (post, wait, next partition). Now: every batch is sent first (`SupervisedEngine.submit`) and the results
are collected afterwards (`collect`), so the children evaluate at once. Measured here without Kafka, on the shipped
policies and the benchmark workload: the wall time of one poll's hand-over, both ways interleaved poll by poll on
the same engines, and the actions of both ways compared (they must be the same).

    python -m benchmarks.engine_fanout [--engines 12] [--per-batch 3] [--polls 400] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from benchmarks.harness import write_results
from benchmarks.rules import CST, workload
from benchmarks.rules_stream import percentile


def measure(engines: int, per_batch: int, polls: int) -> dict:
    from safecity.rules.loader import load_policies
    from safecity.rules.worker import SupervisedEngine

    policies = load_policies()
    events = workload(engines * per_batch * polls, seed=3, start=dt.datetime.now(CST))
    # Two sets of engines fed the same batches: one set one way, the other the other way, alternating poll by poll
    # which set goes first, so both see the same load; their actions must agree.
    sets = {way: [SupervisedEngine(policies) for _ in range(engines)] for way in ("one_by_one", "together")}
    times: dict[str, list[float]] = {way: [] for way in sets}
    keys: dict[str, list[str]] = {way: [] for way in sets}
    try:
        for poll in range(polls):
            start = poll * engines * per_batch
            batches = [events[start + i * per_batch:start + (i + 1) * per_batch] for i in range(engines)]
            for way in (("one_by_one", "together") if poll % 2 else ("together", "one_by_one")):
                began = time.perf_counter()
                if way == "one_by_one":
                    results = [engine.post(batch) for engine, batch in zip(sets[way], batches)]
                else:
                    for engine, batch in zip(sets[way], batches):
                        engine.submit(batch)
                    results = [engine.collect() for engine in sets[way]]
                times[way].append(time.perf_counter() - began)
                keys[way].extend(r.idempotency_key for result in results for r in result.outbox)
    finally:
        for engine in (e for group in sets.values() for e in group):
            engine.close()
    summary = {way: {"p50_ms": 1000 * percentile(ts, 0.5), "p99_ms": 1000 * percentile(ts, 0.99)}
               for way, ts in times.items()}
    return {"engines": engines, "events_per_batch": per_batch, "polls": polls, **summary,
            "p50_ratio": summary["together"]["p50_ms"] / summary["one_by_one"]["p50_ms"],
            "p99_ratio": summary["together"]["p99_ms"] / summary["one_by_one"]["p99_ms"],
            "actions": len(keys["together"]),
            "checks": {"same_actions": sorted(keys["together"]) == sorted(keys["one_by_one"]),
                       "actions_fired": bool(keys["together"])}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", type=int, default=12, help="Partition engines in the worker.")
    parser.add_argument("--per-batch", type=int, default=3, help="Events per partition per poll (200 ev/s ≈ 3).")
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    summary = measure(args.engines, args.per_batch, args.polls)
    print(f"one poll to {args.engines} engines, {args.per_batch} events each: one by one p50 "
          f"{summary['one_by_one']['p50_ms']:.1f} / p99 {summary['one_by_one']['p99_ms']:.1f} ms, together p50 "
          f"{summary['together']['p50_ms']:.1f} / p99 {summary['together']['p99_ms']:.1f} ms "
          f"(ratio {summary['p50_ratio']:.2f} / {summary['p99_ratio']:.2f}); checks {summary['checks']}")
    write_results(args.out, "engine_fanout", summary)
    if not all(summary["checks"].values()):
        raise SystemExit("the two ways of handing over a poll gave different actions")
    return summary


if __name__ == "__main__":
    main()
