"""Benchmark: the streaming rule engine (`rules route` + `rules serve`) on the tansu Kafka-protocol broker.

  latency     events published at a fixed rate (publish_paced) to a raw topic of 3 partitions; the router and one
              serve worker (with per-partition checkpoints, as issue 18 runs it) in their own processes; p50/p99
              from each raw message's Kafka timestamp to the moment its action's outbox row was written, computed
              here from the raw messages read back and the outbox rows (not from serve's own figures).
  throughput  the keyed topics filled beforehand; serve with 1 and 2 worker processes (one group id, the 4 keyed
              partitions of each topic split by hand: tansu's group join takes about 20 s and a rebalance would
              land inside the measurement) against plain kafka-python consumers that only poll and json-decode the
              same partitions, in the same run; sustained messages/s from the first message to the last.
  lag         a synthetic city day (workload() types at a day's volume, a morning and a larger evening peak)
              replayed at `--speed` times real time; the consumer lag of the router's and serve's groups (end
              offsets - committed) sampled every 10 s, as a series.

Every run checks its invariants: each event read once by the router, each keyed message once by serve, and the
actions equal to one non-streamed evaluation of the same events (idempotency keys).

    python -m benchmarks.rules_stream [--rate 200] [--seconds 20] [--repeat 3] [--throughput 20000]
                                      [--day-events 72000] [--speed 20] [--hours 0-24] [--quick] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.harness import work_folder, write_results
from benchmarks.ingestion import broker
from benchmarks.rules import CST, workload
from safecity.rules.lateness import DEFAULT_ALLOWED_LATENESS

RAW_PARTITIONS = 3
# The settings before issue 18's latency work, for `--compare` (interleaved with today's in the same run): kafka-
# python's default fetch wait and a checkpoint of every dirty partition after every batch. (The router's producer
# then lingered 5 ms; that is not reproduced.)
BEFORE = {"fetch_wait_ms": 500, "checkpoint_every": 1, "checkpoint_seconds": 30.0}
KEYED_PARTITIONS = 4  # even, so two workers split each keyed topic in halves
# The allowed lateness serve runs with here, passed to it explicitly, and the one the reference evaluation applies
# (expected_keys): an event that serve does not evaluate must not be expected to fire.
LATENESS = DEFAULT_ALLOWED_LATENESS


def _key_of(event: dict) -> str | None:
    """The raw topic's key: the event's own subject (the router re-keys per policy anyway)."""
    return next((str(event[k]) for k in ("junction_id", "call_id", "grid_id", "incident_id", "user_id", "camera_id",
                                         "unit_code", "work_order_id") if k in event), None)


def _with_key(events: list[dict]) -> list[dict]:
    return [{**e, "_key": _key_of(e)} for e in events]


class TimedOutbox:
    """The serve worker's outbox: a JSON Lines file of the delivered rows, each with the wall time it was written
    (the latency's end point; a file sink, as the earlier latency figure used). `last` is the end of the last
    batch (serve calls the writer once per batch, with or without actions)."""

    def __init__(self, path: Path):
        from safecity.rules.executor import payload
        self.path, self.payload, self.last = path, payload, None

    def __call__(self, records, offsets) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps({**self.payload(record), "written_at": time.time()}, ensure_ascii=False)
                             + "\n")
        self.last = time.time()


def _settings(before: bool) -> dict:
    """In a benchmark process: the serve options of `before` (and its fetch wait, set for this process)."""
    import safecity.rules.streaming as streaming
    if not before:
        return {}
    streaming.FETCH_WAIT_MS = BEFORE["fetch_wait_ms"]
    return {"checkpoint_every": BEFORE["checkpoint_every"], "checkpoint_seconds": BEFORE["checkpoint_seconds"]}


def _route_process(bootstrap: str, topic: str, total: int, idle: float, out: str, before: bool = False) -> None:
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import route
    _settings(before)
    stats = route(bootstrap, [topic], f"{topic}.router", load_policies(),
                  partitions=[(topic, p) for p in range(RAW_PARTITIONS)], keyed_partitions=KEYED_PARTITIONS,
                  max_messages=total, idle_seconds=idle, poll_ms=20)
    Path(out).write_text(json.dumps({"messages": stats.messages, "published": stats.published}))


def _serve_process(bootstrap: str, topic: str, group: str, assignment: list, expected: int | None, idle: float,
                   folder: str, checkpoints: bool, before: bool = False) -> None:
    from safecity.rules.checkpoint import DirectoryCheckpoints
    from safecity.rules.engine import EVENT_TIME
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import serve
    folder_path = Path(folder)
    options = _settings(before)
    policies = load_policies()
    outbox = TimedOutbox(folder_path / f"outbox-{os.getpid()}.jsonl")
    first = time.time()  # before connecting, as the baseline consumer's
    stats = serve(bootstrap, [topic], group, policies, outbox, clock=EVENT_TIME,
                  partitions=[tuple(p) for p in assignment], max_messages=expected, idle_seconds=idle, watch=False,
                  poll_ms=20, checkpoints=DirectoryCheckpoints(folder_path / "checkpoints") if checkpoints else None,
                  lateness=LATENESS, **options)
    (folder_path / f"serve-{os.getpid()}.json").write_text(json.dumps(
        {"messages": stats.messages, "actions": stats.actions, "batches": stats.batches, "first": first,
         "last": outbox.last, "too_late": len(stats.result.late),
         "errors": len(stats.result.errors)}))


def _decode_process(bootstrap: str, assignment: list, expected: int, idle: float, out: str) -> None:
    """The baseline: a kafka-python consumer that only polls and decodes (what any consumer pays)."""
    from kafka import KafkaConsumer, TopicPartition
    first = time.time()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=500)
    consumer.assign([TopicPartition(t, p) for t, p in assignment])
    seen, last, quiet = 0, None, time.monotonic()
    while seen < expected and time.monotonic() - quiet < idle:
        for _, records in consumer.poll(timeout_ms=100).items():
            for record in records:
                json.loads(record.value)
            seen += len(records)
            last, quiet = time.time(), time.monotonic()
    consumer.close()
    Path(out).write_text(json.dumps({"messages": seen, "first": first, "last": last}))


def _start(target, *args) -> mp.Process:
    # fork before this process holds any Kafka client thread; serve forks its engine workers itself
    process = mp.get_context("fork").Process(target=target, args=args)
    process.start()
    return process


def _join(processes: list[mp.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(1.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            raise RuntimeError(f"benchmark process {process.pid} did not finish within {timeout:.0f} s")
        if process.exitcode:
            raise RuntimeError(f"benchmark process {process.pid} failed (exit code {process.exitcode})")


def _create(bootstrap: str, topic: str, partitions: int) -> None:
    from safecity.rules.streaming import ensure_topics
    ensure_topics(bootstrap, [topic], partitions)


def read_raw(bootstrap: str, topic: str, expected: int, partitions: int = RAW_PARTITIONS) -> dict[str, float]:
    """Event id -> the Kafka timestamp (s) of its raw message, read back from the broker."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    stamps: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(stamps) < expected and time.monotonic() < deadline:
        for _, records in consumer.poll(timeout_ms=200).items():
            for record in records:
                stamps[json.loads(record.value)["id"]] = record.timestamp / 1000
    consumer.close()
    return stamps


def outbox_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("outbox-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def keyed_count(events: list[dict]) -> int:
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import subscriptions
    keys = subscriptions(load_policies())
    return sum(len(keys.get(e["type"], ())) for e in events)


def expected_keys(events: list[dict], lateness: float | None = LATENESS) -> list[str]:
    """The idempotency keys of one non-streamed evaluation of `events` in the order given (the order they were
    published), with serve's allowed lateness: an event older than the latest event time before it by more than
    `lateness` is not evaluated here either. Serve judges against each keyed partition's clock, never ahead of
    this one, so for events in time order (every workload here) both evaluate every event; a workload with events
    beyond the lateness is expected to lose exactly those (workload_late_s shows how late its latest one is)."""
    from safecity.rules.engine import EVENT_TIME, PolicyEngine
    from safecity.rules.loader import load_policies
    with PolicyEngine(load_policies(), clock=EVENT_TIME, lateness=lateness) as engine:
        engine.post_many(events)
        return sorted(r.idempotency_key for r in engine.result().outbox)


def workload_late_s(events: list[dict]) -> float:
    """How far (s) the latest-arriving event of `events`, in their order, is behind the latest event time before
    it: 0 for events in time order; above LATENESS, serve (and expected_keys) leave such events out."""
    clock, late = None, 0.0
    for event in events:
        moment = event_time(event).timestamp()
        clock = moment if clock is None else max(clock, moment)
        late = max(late, clock - moment)
    return late


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure_latency(bootstrap: str, rate: int, seconds: float, folder: Path, warmup: float = 3.0,
                    checkpoints: bool = True, before: bool = False) -> dict:
    """One latency run on fresh topics. The first `warmup` seconds of events (processes connecting, first
    fetches) are published and checked but not counted in the percentiles. `before`: with BEFORE's settings."""
    from safecity.rules.live_publish import publish_paced
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import keyed_topics

    folder.mkdir(parents=True, exist_ok=True)
    topic = f"safecity.bench.latency_{uuid.uuid4().hex[:8]}"
    _create(bootstrap, topic, RAW_PARTITIONS)
    total = int(rate * (seconds + warmup))
    events = [{**e, "id": f"{'w' if n < rate * warmup else 'm'}{n}"}
              for n, e in enumerate(workload(total, seed=9, start=dt.datetime.now(CST)))]
    keyed = keyed_count(events)
    from safecity.rules.streaming import ensure_topics
    ensure_topics(bootstrap, keyed_topics([topic], load_policies()), KEYED_PARTITIONS)
    assignment = [(t, p) for t in keyed_topics([topic], load_policies()) for p in range(KEYED_PARTITIONS)]
    processes = [_start(_route_process, bootstrap, topic, total, seconds + 60, str(folder / "route.json"), before),
                 _start(_serve_process, bootstrap, topic, f"{topic}.serve", assignment, keyed, seconds + 60,
                        str(folder), checkpoints, before)]
    time.sleep(4)  # imports and policy loading in the new processes
    pace = publish_paced(bootstrap, topic, _with_key(events), "_key", rate=rate)
    _join(processes, seconds + 180)
    stamps = read_raw(bootstrap, topic, total)
    rows = outbox_rows(folder)
    counted = [r["written_at"] - max(stamps[i] for i in r["matched_event_ids"]) for r in rows
               if all(i.startswith("m") for i in r["matched_event_ids"])]
    route_stats = json.loads((folder / "route.json").read_text())
    [serve_stats] = [json.loads(p.read_text()) for p in folder.glob("serve-*.json")]
    checks = {"raw_read_back": len(stamps) == total, "routed": route_stats["messages"] == total,
              "served": serve_stats["messages"] == keyed and route_stats["published"] == keyed,
              "actions_equal_evaluation": sorted(r["idempotency_key"] for r in rows) == expected_keys(events)}
    return {"settings": "before" if before else "now", "rate": rate, "events": total, "keyed_messages": keyed, "actions": len(rows), "counted": len(counted),
            "p50_ms": 1000 * percentile(counted, 0.5), "p99_ms": 1000 * percentile(counted, 0.99),
            "max_ms": 1000 * max(counted), "publisher_max_behind_ms": 1000 * pace.max_behind_s,
            "workload_late_s": workload_late_s(events), "serve_too_late": serve_stats["too_late"], "checks": checks}


def fill_keyed(bootstrap: str, count: int, folder: Path) -> tuple[str, list[dict], int]:
    """A raw topic of `count` workload events routed to its keyed topics (before any timing). One raw partition:
    the router then reads the whole backlog in event order; from several, it would read them in chunks of 500 per
    partition, an incident's report and its assessments (keyed differently on the raw topic) out of order, and the
    streamed actions would rightly differ from one in-order evaluation."""
    from safecity.rules.streaming import publish_events, route
    from safecity.rules.loader import load_policies
    topic = f"safecity.bench.throughput_{uuid.uuid4().hex[:8]}"
    _create(bootstrap, topic, 1)
    events = workload(count, seed=3)
    publish_events(bootstrap, topic, _with_key(events), "_key")
    stats = route(bootstrap, [topic], f"{topic}.router", load_policies(),
                  partitions=[(topic, 0)], keyed_partitions=KEYED_PARTITIONS, max_messages=count, idle_seconds=30,
                  poll_ms=20)
    if stats.messages != count:
        raise RuntimeError(f"the router read {stats.messages} of {count} events")
    return topic, events, stats.published


def measure_throughput(bootstrap: str, topic: str, events: list[dict], keyed: int, method: str, workers: int,
                       folder: Path) -> dict:
    """Sustained messages/s of `workers` processes of `method` (serve or decode) over the filled keyed topics."""
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import keyed_topics
    folder.mkdir(parents=True, exist_ok=True)
    topics = keyed_topics([topic], load_policies())
    shares = [[(t, p) for t in topics for p in range(KEYED_PARTITIONS) if p % workers == w] for w in range(workers)]
    if method == "serve":
        # A fresh serve group per run (its own topic suffix in the group id): everything is read from offset 0.
        processes = [_start(_serve_process, bootstrap, topic, f"{topic}.serve.{folder.name}", share, None, 5.0,
                            str(folder), True)
                     for share in shares]
    else:
        processes = [_start(_decode_process, bootstrap, share, 10**12, 5.0, str(folder / f"decode-{w}.json"))
                     for w, share in enumerate(shares)]
    _join(processes, 600)
    if method == "serve":
        measured = [json.loads(p.read_text()) for p in folder.glob("serve-*.json")]
        rows = outbox_rows(folder)
        first = min(m["first"] for m in measured)
        last = max(m["last"] for m in measured)
        checks = {"every_message": sum(m["messages"] for m in measured) == keyed,
                  "actions_equal_evaluation": sorted(r["idempotency_key"] for r in rows) == expected_keys(events)}
    else:
        measured = [json.loads(p.read_text()) for p in folder.glob("decode-*.json")]
        first, last = min(m["first"] for m in measured), max(m["last"] for m in measured)
        checks = {"every_message": sum(m["messages"] for m in measured) == keyed}
    seconds = last - first
    return {"method": method, "workers": workers, "messages": sum(m["messages"] for m in measured),
            "serve_too_late": sum(m.get("too_late", 0) for m in measured),
            "seconds": seconds, "messages_per_s": sum(m["messages"] for m in measured) / seconds, "checks": checks}


# -- lag: a city day replayed faster than real time ------------------------------------------------------------------
# Relative event volume per hour of a day (a morning rush, a larger evening peak, a quiet night).
HOURLY = [0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.9, 1.5, 1.6, 1.2, 1.0, 1.0, 1.1, 1.0, 1.0, 1.1, 1.4, 2.0, 2.3, 2.2, 1.6,
          1.1, 0.7, 0.5]
TIME_FIELDS = ("ts", "received_at", "since", "shift_start")
DAY = dt.datetime(2026, 7, 15, tzinfo=CST)


def city_day(count: int, hours: tuple[int, int] = (0, 24), seed: int = 5) -> list[dict]:
    """`count` workload events spread over a day by HOURLY (each event's time fields set to its moment), in event
    time order, keeping those within `hours`."""
    rng = random.Random(seed)
    total = sum(HOURLY)
    moments = []
    for hour, weight in enumerate(HOURLY):
        n = round(count * weight / total)
        moments += [DAY + dt.timedelta(hours=hour, seconds=rng.uniform(0, 3600)) for _ in range(n)]
    moments.sort()
    events = workload(len(moments), seed=seed, start=DAY)
    day = []
    for moment, event in zip(moments, events):
        if hours[0] <= moment.hour < hours[1]:
            day.append({**event, **{f: moment.isoformat() for f in TIME_FIELDS if f in event}})
    return day


def committed(bootstrap: str, groups: dict[str, list[tuple[str, int]]]) -> dict[str, int]:
    """Per group: the sum of its committed offsets over its partitions."""
    from kafka import KafkaConsumer, TopicPartition
    found = {}
    for group, partitions in groups.items():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        try:
            found[group] = sum(consumer.committed(TopicPartition(t, p)) or 0 for t, p in partitions)
        finally:
            consumer.close()
    return found


def measure_lag(bootstrap: str, events: list[dict], speed: float, folder: Path, every: float = 10.0) -> dict:
    """Replay `events` at `speed`x through the router and one serve worker; lag per group every `every` s, from
    the moment publishing starts until both groups have committed everything. Lag is what was published to the
    group's topics so far minus what it committed: tansu's end offsets are unreliable (they fell below committed
    offsets in a trial run), so "published" is counted here: raw events handed to the producer, and for serve the
    keyed messages those events become (the router's share of them still unrouted counts as serve's lag too)."""
    import threading

    from safecity.rules.live_publish import publish_paced
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import ensure_topics, keyed_topics, subscriptions

    folder.mkdir(parents=True, exist_ok=True)
    topic = f"safecity.bench.day_{uuid.uuid4().hex[:8]}"
    _create(bootstrap, topic, RAW_PARTITIONS)
    keyed = keyed_count(events)
    topics = keyed_topics([topic], load_policies())
    ensure_topics(bootstrap, topics, KEYED_PARTITIONS)
    assignment = [(t, p) for t in topics for p in range(KEYED_PARTITIONS)]
    groups = {f"{topic}.router": [(topic, p) for p in range(RAW_PARTITIONS)], f"{topic}.serve": assignment}
    replay = (event_time(events[-1]) - event_time(events[0])).total_seconds() / speed
    idle = replay + 120
    processes = [_start(_route_process, bootstrap, topic, len(events), idle, str(folder / "route.json")),
                 _start(_serve_process, bootstrap, topic, f"{topic}.serve", assignment, keyed, idle, str(folder),
                        True)]
    time.sleep(4)
    series: list[dict] = []
    done = threading.Event()
    began = time.monotonic()
    reads = subscriptions(load_policies())
    keyed_before = [0]  # keyed messages of the first n events
    for event in events:
        keyed_before.append(keyed_before[-1] + len(reads.get(event["type"], ())))
    sent = [0]

    def counted():
        for event in _with_key(events):
            sent[0] += 1  # taken by the publisher right before its send
            yield event

    def sample() -> None:
        router, serve_group = groups
        while True:
            done_by = committed(bootstrap, groups)
            n = sent[0]  # after the offsets: what was committed had been published by then (no negative lag)
            series.append({"t": round(time.monotonic() - began, 1), "published": n,
                           "router": n - done_by[router], "serve": keyed_before[n] - done_by[serve_group],
                           "load": round(os.getloadavg()[0], 1)})  # the machine is shared: its load explains spikes
            print(f"    lag at {series[-1]['t']} s: router {series[-1]['router']}, serve {series[-1]['serve']} "
                  f"(load {series[-1]['load']})", flush=True)  # a stall shows while the run goes on
            if done.is_set() and series[-1]["router"] == series[-1]["serve"] == 0:
                return
            if done.is_set() and time.monotonic() - began > replay + 120:
                return
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pace = publish_paced(bootstrap, topic, counted(), "_key", speed=speed, time_of=event_time,
                         progress_every=every, progress=lambda s: print(f"    {s.line()}", flush=True))
    done.set()
    _join(processes, replay + 300)
    sampler.join(every * 3 + 60)
    rows = outbox_rows(folder)
    route_stats = json.loads((folder / "route.json").read_text())
    [serve_stats] = [json.loads(p.read_text()) for p in folder.glob("serve-*.json")]
    during = [s for s in series if s["t"] <= pace.seconds + 5]
    summary = {"events": len(events), "keyed_messages": keyed, "speed": speed, "replay_s": round(pace.seconds, 1),
               "publisher_max_behind_ms": round(1000 * pace.max_behind_s), "samples": series, "actions": len(rows),
               "workload_late_s": workload_late_s(events), "serve_too_late": serve_stats["too_late"],
               "checks": {"routed": route_stats["messages"] == len(events),
                          "served": serve_stats["messages"] == keyed and route_stats["published"] == keyed,
                          "drained": series[-1]["router"] == series[-1]["serve"] == 0,
                          "actions_equal_evaluation":
                              sorted(r["idempotency_key"] for r in rows) == expected_keys(events)}}
    for label in ("router", "serve"):
        values = [s[label] for s in during]
        summary[f"{label}_lag_max"] = max(values) if values else None
        summary[f"{label}_lag_last"] = values[-1] if values else None
        summary[f"{label}_lag_slope_per_min"] = round(_slope([s["t"] for s in during], values) * 60, 2)
    loads = [s["load"] for s in series]
    summary["load_average"] = {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}
    return summary


def event_time(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(next(event[f] for f in TIME_FIELDS if f in event))


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than 2 points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200, help="Events per second published (latency).")
    parser.add_argument("--seconds", type=float, default=20, help="Measured seconds per latency run.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--throughput", type=int, default=20_000, help="Raw events of the throughput runs.")
    parser.add_argument("--day-events", type=int, default=72_000, help="Events of the synthetic city day.")
    parser.add_argument("--speed", type=float, default=20, help="Replay speed of the day (times real time).")
    parser.add_argument("--hours", default="0-24", help="Hours of the day replayed, e.g. 17-21.")
    parser.add_argument("--only", choices=("latency", "throughput", "lag"), action="append")
    parser.add_argument("--compare", action="store_true",
                        help="Latency: also run the settings before issue 18's latency work, interleaved.")
    parser.add_argument("--compare-checkpoints", action="store_true",
                        help="Latency: also run serve without checkpoints, interleaved (what the checkpoint "
                             "writes add to the tail).")
    parser.add_argument("--quick", action="store_true", help="Small and fast: a smoke test of every part.")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.seconds, args.repeat, args.throughput = 100, 3, 1, 2000
        args.day_events, args.speed, args.hours = 20_000, 720, "18-19"
    parts = args.only or ["latency", "throughput", "lag"]
    summary: dict[str, Any] = {"cores": os.cpu_count(), "load_average": os.getloadavg()[0]}
    with work_folder(args.work, "safecity-bench-stream-") as work, broker() as (bootstrap, _):
        if "latency" in parts:
            variants = ([("before", {"before": True})] if args.compare else []) + [("now", {})] + \
                ([("no_checkpoints", {"checkpoints": False})] if args.compare_checkpoints else [])
            runs: dict[str, list[dict]] = {}
            for n in range(args.repeat):
                for label, options in variants:
                    run = measure_latency(bootstrap, args.rate, args.seconds, work / f"latency-{label}-{n}",
                                          **options)
                    runs.setdefault(label, []).append(run | {"settings": label})
                    print(f"  latency run {n + 1} ({label}): {runs[label][-1]}", flush=True)
            summary["latency"] = {label: {"runs": rs, "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                                          "p99_ms": statistics.median(r["p99_ms"] for r in rs)}
                                  for label, rs in runs.items()}
        if "throughput" in parts:
            topic, events, keyed = fill_keyed(bootstrap, args.throughput, work)
            measured: dict[str, list[dict]] = {}
            for n in range(args.repeat):
                for method, workers in (("decode", 1), ("serve", 1), ("decode", 2), ("serve", 2)):
                    run = measure_throughput(bootstrap, topic, events, keyed, method, workers,
                                             work / f"throughput-{method}-{workers}-{n}")
                    measured.setdefault(f"{method}_{workers}", []).append(run)
                    print(f"  throughput run {n + 1}: {run}", flush=True)
            medians = {k: statistics.median(r["messages_per_s"] for r in rs) for k, rs in measured.items()}
            summary["throughput"] = {"keyed_messages": keyed, "messages_per_s": medians, "runs": measured,
                                     "ratios": {f"serve_{w}_vs_decode_{w}": medians[f"serve_{w}"] /
                                                medians[f"decode_{w}"] for w in (1, 2)}
                                     | {"serve_2_vs_serve_1": medians["serve_2"] / medians["serve_1"]}}
        if "lag" in parts:
            first, last = (int(h) for h in args.hours.split("-"))
            events = city_day(args.day_events, (first, last))
            summary["lag"] = measure_lag(bootstrap, events, args.speed, work / "lag",
                                         every=2.0 if args.quick else 10.0)
            print(f"  lag: { {k: v for k, v in summary['lag'].items() if k != 'samples'} }", flush=True)
    print(json.dumps(summary, indent=1, default=str))
    write_results(args.out, "rules_stream", summary)
    return summary


if __name__ == "__main__":
    main()
