"""Benchmark: the policy rule engine, in one run.

  throughput  events per second through the full shipped policy set, in process and in the supervised worker
              (batches over a pipe), against a one-rule durable-rules ruleset fed the same events (the floor:
              durable's own cost per post with nothing of ours around it).
  memory      RSS over a long run of events whose windows mostly never complete, with idle-partition eviction
              and without it (the baseline that shows what eviction prevents).
  batch       peak RSS of the batch step over a large synthetic silver (issue #9: a city day's vehicle passes plus
              the types policies read): silver streamed per type into the worker, the types no policy reads
              counted in SQL (now), against every event loaded as one sorted list and sent to the worker in one
              message (before, `listed_silver_events`).

Each throughput and memory measurement runs in a fresh process (its own peak RSS), repeated and interleaved;
medians are reported. Streaming (route + serve on a broker: latency, throughput, lag) is benchmarks/rules_stream.py.

    python -m benchmarks.rules [--events 50000] [--repeat 3] [--long 300000] [--out DIR]
                               [--passes 1500000] [--only-batch | --only-throughput]

Before timing anything the run checks that the engine in process, the supervised worker and a reference engine
without issue 22's per-post shortcuts give the same actions, errors and counters for the workload, and fails if not.
"""
from __future__ import annotations

import argparse
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

CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 1, 0, 0, tzinfo=CST)


def workload(count: int, seed: int = 1, start: dt.datetime = T0) -> list[dict]:
    """A deterministic mix of every event type the shipped policies read, one event every 0.5 s of event time."""
    import random
    rng = random.Random(seed)
    events: list[dict] = []
    for i in range(count):
        ts = (start + dt.timedelta(seconds=i // 2)).isoformat()
        kind = rng.random()
        if kind < 0.30:
            events.append({"type": "congestion_reading", "id": f"r{i}", "junction_id": f"J{rng.randrange(500)}",
                           "congestion_index": rng.choice([4.0, 6.5, 8.2, 9.1]), "ts": ts})
        elif kind < 0.45:
            events.append({"type": "alarm_received", "id": f"c{i}", "call_id": f"K{i}",
                           "category": rng.choice(["010000", "020000", "030000", "040000", "050000"]),
                           "alarm_priority": rng.choice("1234"), "status": "received", "address": f"地址{i % 997}",
                           "received_at": ts})
        elif kind < 0.55:
            events.append({"type": "camera_health", "id": f"h{i}", "camera_id": f"1303020000132{i % 9_000_000:07d}",
                           "status": rng.choice(["online", "offline", "degraded"]),
                           "offline_minutes": rng.choice([0, 40, 150, 2000]),
                           "point_level": rng.choice(["key", "important", "normal"]), "ts": ts})
        elif kind < 0.65:
            events.append({"type": "data_access", "id": f"d{i}", "user_id": f"u{rng.randrange(300)}",
                           "table_name": "silver.alarm_call", "sensitive_columns": rng.choice([0, 2]),
                           "rows": rng.choice([10, 5000]), "ts": ts})
        elif kind < 0.75:
            n = rng.randrange(200)  # incidents under assessment at once: a busy day, not a disaster
            events.append({"type": "incident_assessed", "id": f"a{i}", "incident_id": f"E{n}",
                           "casualties": rng.choice([0, 2, 12]), "deaths": rng.choice([0, 1, 4, 12, 31]),
                           "serious_injuries": rng.choice([0, 5, 60]), "ts": ts})
        elif kind < 0.80:
            # Incidents end: an assessed one, or one reported in the last ~2,000 events.
            closed = f"E{rng.randrange(200)}" if rng.random() < 0.5 else f"I{max(0, i - rng.randrange(2000))}"
            events.append({"type": "incident_closed", "id": f"x{i}", "incident_id": closed, "ts": ts})
        elif kind < 0.88:
            events.append({"type": "incident_reported", "id": f"i{i}", "incident_id": f"I{i}",
                           "grid_id": f"G{rng.randrange(400)}", "category": rng.choice(["010000", "050000"]),
                           "casualties": rng.choice([0, 1]), "ts": ts})
        elif kind < 0.90:
            grid = rng.randrange(400)
            fact = {"type": "camera_down", "id": f"down:{grid}", "camera_id": f"1303020000132{grid:07d}",
                    "grid_id": f"G{grid}", "since": ts}
            events.append(fact if rng.random() < 0.6 else {**fact, "op": "retract"})
        elif kind < 0.95:
            events.append({"type": "duty_gap", "id": f"g{i}", "unit_code": f"1303020{rng.randrange(10)}0000",
                           "shift_name": "夜班", "shift_start": ts, "officers_required": 6,
                           "officers_on_duty": rng.choice([0, 3, 5]), "ts": ts})
        else:
            events.append({"type": "work_order_overdue", "id": f"w{i}", "work_order_id": f"WO{i}",
                           "device_id": "13030200001320000001", "point_level": rng.choice(["key", "normal"]),
                           "hours_overdue": rng.choice([0.0, 3.5]), "ts": ts})
    return events


ONE_RULE = {"bench_one_rule": {"r0": {"all": [{"m": {"$and": [{"type": "congestion_reading"},
                                                             {"$gte": {"congestion_index": 8.0}}]}}],
                                      "pri": 1, "run": "noop"},
                               "rd": {"all": [{"m": {"$ex": {"type": 1}}}], "pri": 100, "run": "noop"}}}


def _baseline(events: list[dict]) -> int:
    """A one-rule ruleset in durable itself, posting each event with a sid (delete after: one partition at a time)."""
    from durable import engine

    class Host(engine.Host):
        def _run(self):
            pass

        def get_action(self, name):
            return lambda c: None

    host = Host()
    host.set_rulesets(json.loads(json.dumps(ONE_RULE)))
    for event in events:
        sid = str(event.get("junction_id") or event["id"])
        host.post("bench_one_rule", {**event, "sid": sid})
        host.delete_state("bench_one_rule", sid)
    return len(events)


def setup_baseline() -> None:
    return None


def setup_engine():
    from safecity.rules.loader import load_policies
    return load_policies()


setup_supervised = setup_engine


def run_baseline(events: list[dict], _: None = None) -> int:
    return _baseline(events)


def run_engine(events: list[dict], policies) -> int:
    from safecity.rules.engine import EVENT_TIME, PolicyEngine
    with PolicyEngine(policies, clock=EVENT_TIME) as engine:
        engine.post_many(events)
    return len(events)


def reference_engine_class():
    """The engine with the per-post shortcuts of issue 22 turned off, as it ran before them: the partition's state
    read after every post, the marker posted before every deletion, every window partition's pending events read
    at every sweep. The benchmark's results must equal its results."""
    from safecity.rules.engine import PolicyEngine

    class ReferenceEngine(PolicyEngine):
        @property
        def _exception_seen(self) -> bool:
            return True

        @_exception_seen.setter
        def _exception_seen(self, value: bool) -> None:
            pass

        def _delete_partition(self, name: str, sid: str, acted: bool = False) -> None:
            super()._delete_partition(name, sid, acted=False)

        def _compact(self, slot, sid: str) -> None:
            slot.oldest.pop(sid, None)
            super()._compact(slot, sid)

    return ReferenceEngine


def _result_digest(result) -> tuple[int, str]:
    """(outbox records, sha256 over everything the run produced: records in order, errors, counters)."""
    import dataclasses
    import hashlib
    text = json.dumps({
        "outbox": [dataclasses.asdict(r) for r in result.outbox],
        "errors": [dataclasses.asdict(e) for e in result.errors],
        "rejected": [dataclasses.asdict(r) for r in result.rejected],
        "unhandled": sorted([*key, n] for key, n in result.unhandled.items()), "unrouted": dict(result.unrouted),
        "evicted": dict(result.evicted), "throttled": dict(result.throttled),
        "triggered_at": result.triggered_at}, sort_keys=True, default=str, ensure_ascii=False)
    return len(result.outbox), hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_actions(count: int, batch: int = 1000, engine_class=None) -> dict:
    """The same events through the engine in process (`engine_class`, PolicyEngine by default), in the supervised
    worker and through the reference engine; raises when their results differ (a faster path that changes an
    action is a bug, not a speed-up)."""
    from safecity.rules.engine import EVENT_TIME, EvaluationResult, PolicyEngine
    from safecity.rules.worker import SupervisedEngine

    events, policies = workload(count), setup_engine()
    digests = {}
    for label, kind in (("engine", engine_class or PolicyEngine), ("reference", reference_engine_class())):
        with kind(policies, clock=EVENT_TIME) as engine:
            engine.post_many(events)
            digests[label] = _result_digest(engine.result())
    supervised = EvaluationResult()
    with SupervisedEngine(policies, clock=EVENT_TIME) as engine:
        for first in range(0, len(events), batch):
            supervised.extend(engine.post(events[first:first + batch]))
    digests["supervised"] = _result_digest(supervised)
    if len(set(digests.values())) != 1:
        raise RuntimeError(f"the engines' results differ on {count:,} events: {digests}")
    return {"events": count, "outbox_records": digests["engine"][0], "sha256": digests["engine"][1]}


def run_supervised(events: list[dict], policies, batch: int = 1000) -> int:
    from safecity.rules.engine import EVENT_TIME
    from safecity.rules.worker import SupervisedEngine
    with SupervisedEngine(policies, clock=EVENT_TIME) as engine:
        for first in range(0, len(events), batch):
            engine.post(events[first:first + batch])
    return len(events)


def run_memory(count: int, evict: bool, step: int, without: tuple[str, ...] = ()) -> dict:
    """The worker process's RSS after every `step` events of a long run, with eviction every 1000 events or never.
    Runs in the supervised worker, as production does: a native crash restarts it (counted in `restarts`)."""
    from safecity.rules.engine import EVENT_TIME
    from safecity.rules.loader import load_policies
    from safecity.rules.worker import SupervisedEngine

    def rss_mb(pid: int) -> float:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    import safecity.rules.engine as engine_module
    engine_module.SWEEP_EVERY = 1000 if evict else 10**12  # read when the (forked) worker builds its engine
    samples, peak = [], 0.0
    policies = [p for p in load_policies() if p.policy.kind not in without]
    with SupervisedEngine(policies, clock=EVENT_TIME) as engine:
        # Fresh ids over the whole run, and event time moving on: a city's partitions come and go.
        for first in range(0, count, step):
            events = workload(step, seed=first, start=T0 + dt.timedelta(seconds=first // 2))
            for batch in range(0, step, 1000):
                engine.post([{**e, "id": f"{first}-{e['id']}"} for e in events[batch:batch + 1000]])
                peak = max(peak, rss_mb(engine.pid))
            samples.append(round(rss_mb(engine.pid), 1))
        partitions = sum(engine.live_partitions().values())
        restarts = engine.restarts
    return {"rss_mb": samples, "live_partitions": partitions, "peak_mb": round(peak, 1), "restarts": restarts}


def _measure(code: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent.parent)
    if completed.returncode:
        raise RuntimeError(f"measurement failed ({completed.returncode}): {completed.stderr[-3000:]}")
    last = completed.stdout.strip().splitlines()[-1]
    return json.loads(last[last.index("{"):])  # after any progress bar DuckDB drew on the same line


def measure_throughput(method: str, count: int) -> dict:
    return _measure(
        "import json, resource, time; import benchmarks.rules as b; "
        f"events = b.workload({count}); setup = b.setup_{method}(); "
        f"t = time.perf_counter(); n = b.run_{method}(events, setup); "
        "s = time.perf_counter() - t; "
        "peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)); "
        "print(json.dumps({'seconds': s, 'events': n, 'peak_mb': peak / 1024}))")


def measure_memory(count: int, evict: bool, without: tuple[str, ...] = ()) -> dict:
    return _measure(f"import json; import benchmarks.rules as b; "
                    f"print(json.dumps(b.run_memory({count}, {evict}, {max(1, count // 10)}, {without!r})))")


# -- batch step over silver: streamed (now) against one sorted list (before issue #9) ------------------------------
def listed_silver_events(con, catalogue, start=None, end=None, facts=(), starts=None, keep_timeless=False):
    """The silver reader before issue #9, kept as the baseline and as the tests' reference order: every row of every
    type as a dict in one list, then one stable sort by event time. An entity's events are named by their subject
    and an updating record gives one event (its first version when timed, its latest when timeless), chosen here
    in Python, apart from the SQL that rules.events uses."""
    from safecity.rules.events import _moment, _plain, event_tables

    facts = frozenset(facts)
    starts = starts or {}
    timeless, timed = [], []
    for name, event_type, table, described, chosen in event_tables(
            con, catalogue, timeless=not (start or end or starts) or keep_timeless):
        entity = catalogue.entities[event_type.entity] if event_type.entity else None
        key = list(entity.key) if entity else []
        order = [c for c in ((entity.version_field if entity else None), "_ingested_at") if c and c in described]
        cursor = con.execute(f"SELECT {', '.join(chosen)}, _batch_id, _line"
                             f"{''.join(f', {c} AS _k_{c}' for c in key + order)} FROM silver.{table} "
                             f"ORDER BY _batch_id, _line")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        if entity is not None and entity.updates:
            def rank(record):
                return (*(record[f"_k_{c}"] for c in order), record["_batch_id"], record["_line"])
            picked = {}
            for record in rows:
                subject = tuple(record[f"_k_{c}"] for c in key)
                held = picked.get(subject)
                later = held is None or rank(record) > rank(held)
                if held is None or (later if event_type.time_field is None else not later):
                    picked[subject] = record
            kept = {id(r) for r in picked.values()}
            rows = [r for r in rows if id(r) in kept]
        for record in rows:
            event_id = f"{record.pop('_batch_id')}:{record.pop('_line')}"
            if entity is not None:
                event_id = ":".join([name, *(str(_plain(record[f"_k_{c}"])) for c in key)])
            record = {k: v for k, v in record.items() if not k.startswith("_k_")}
            record.update({k: v for k, v in event_type.at_event.items() if k in record})
            event = {"type": name, "id": event_id, **{k: _plain(v) for k, v in record.items() if v is not None}}
            if event_type.time_field is None:
                timeless.append(event)
                continue
            moment = _moment(record.get(event_type.time_field))
            since = None if name in facts else starts[name] if name in starts else start
            if moment is None or (since and moment < since) or (end and moment >= end):
                continue
            timed.append((moment, len(timed), event))
    return timeless + [event for _, _, event in sorted(timed, key=lambda item: (item[0], item[1]))]


def build_silver(path: Path, passes: int, cameras: int = 10_000) -> dict[str, int]:
    """A city day in silver tables of a DuckDB file: `passes` vehicle passes and a camera register (types no shipped
    policy reads) and the types the policies read at a day's scale (camera health, congestion readings every
    15 minutes at 500 junctions, 110 calls, incident reports)."""
    import duckdb

    day = "TIMESTAMPTZ '2025-03-01 00:00:00+08'"
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("CREATE SCHEMA silver")
    con.execute(f"""CREATE TABLE silver.vehicle_pass AS SELECT
        '1303020000121' || lpad((i % 400)::VARCHAR, 7, '0') || '02' || lpad(i::VARCHAR, 17, '0') AS motor_vehicle_id,
        '1' AS info_kind, '1303020000121' || lpad((i % 400)::VARCHAR, 7, '0') AS device_id, '130302' AS division_code,
        (i % 4 + 1)::INTEGER AS lane_no, {day} + (i * 86400 // {passes}) * INTERVAL 1 SECOND AS pass_time,
        true AS has_plate, '02' AS plate_class, '2' AS plate_color, '冀C' || lpad((i % 99991)::VARCHAR, 5, '0') AS plate_no,
        (40 + i % 50)::DOUBLE AS speed, 'K' || (i % 37) AS vehicle_brand, 'A' AS vehicle_color,
        'passes_' || (i // 100000) AS _batch_id, i % 100000 AS _line
        FROM range({passes}) t(i)""")
    con.execute(f"""CREATE TABLE silver.camera AS SELECT
        '130302000013200' || lpad(i::VARCHAR, 5, '0') AS device_id, '130302' AS division_code, '点位' || i AS name,
        CASE WHEN i % 4 = 0 THEN '3' ELSE '1' END AS use_type, CASE WHEN i % 50 = 0 THEN 'OFF' ELSE 'ON' END AS status,
        'catalog' AS _batch_id, i AS _line FROM range({cameras}) t(i)""")
    con.execute(f"""CREATE TABLE silver.camera_health AS SELECT
        '130302000013200' || lpad((i % {cameras})::VARCHAR, 5, '0') AS camera_id,
        CASE i % 3 WHEN 0 THEN 'offline' WHEN 1 THEN 'online' ELSE 'degraded' END AS status,
        CASE WHEN i % 3 = 0 THEN (i % 7) * 20 ELSE 0 END AS offline_minutes,
        CASE i % 4 WHEN 0 THEN 'key' WHEN 1 THEN 'important' ELSE 'normal' END AS point_level,
        'G' || (i % 400) AS grid_id, {day} + (i * 86400 // 20000) * INTERVAL 1 SECOND AS ts,
        'camera_state_change' AS _batch_id, i AS _line FROM range(20000) t(i)""")
    con.execute(f"""CREATE TABLE silver.congestion_reading AS SELECT
        'J' || (i % 500) AS junction_id, '130302' AS division_code, (i * 7 % 100) / 10.0 AS congestion_index,
        {day} + (i // 500) * INTERVAL 15 MINUTE AS ts, 'readings' AS _batch_id, i AS _line FROM range(48000) t(i)""")
    con.execute(f"""CREATE TABLE silver.alarm_call AS SELECT
        'K' || i AS call_id, {day} + (i * 86400 // 3000) * INTERVAL 1 SECOND AS received_at,
        ['010000', '020000', '030000', '050000'][i % 4 + 1] AS category, (i % 4 + 1)::VARCHAR AS alarm_priority,
        'received' AS status, '地址' || i AS address, 'calls' AS _batch_id, i AS _line FROM range(3000) t(i)""")
    con.execute(f"""CREATE TABLE silver.incident_reported AS SELECT
        'I' || i AS incident_id, ['010000', '050000'][i % 2 + 1] AS category, 'G' || (i % 400) AS grid_id,
        {day} + (i * 86400 // 1000) * INTERVAL 1 SECOND AS ts, (i % 2)::INTEGER AS casualties,
        'incidents' AS _batch_id, i AS _line FROM range(1000) t(i)""")
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'silver'").fetchall()]
    rows = {t: con.execute(f"SELECT count(*) FROM silver.{t}").fetchone()[0] for t in tables}
    con.close()
    return rows


def run_batch(path: str, method: str) -> dict:
    """The batch step's reading and evaluation (rules.batch.evaluate_new without the outbox) in the spawned
    worker, as the Dagster asset runs it; `list` is the path before issue #9."""
    import duckdb

    from safecity.rules.engine import utc_now
    from safecity.rules.events import fact_types, read_types, silver_events
    from safecity.rules.loader import load_policies
    from safecity.rules.worker import SupervisedEngine, evaluate_supervised
    from safecity.standards.catalogue import load_catalogue

    catalogue, policies = load_catalogue(), load_policies()
    con = duckdb.connect(path, read_only=True)
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    began = time.perf_counter()
    if method == "list":
        events = listed_silver_events(con, catalogue, facts=fact_types(policies), keep_timeless=True)
        with SupervisedEngine(policies, clock=utc_now, start_method="spawn") as supervisor:
            result = supervisor._request("post", events)  # the whole list in one message, as before
        evaluated, counted = len(events), 0
    else:
        events = silver_events(con, catalogue, facts=fact_types(policies), keep_timeless=True,
                               only=read_types(policies))
        result, _ = evaluate_supervised(policies, events, clock=utc_now, start_method="spawn")
        evaluated, counted = sum(events.by_type.values()), sum(n for n, _ in events.count_skipped().values())
    seconds = time.perf_counter() - began
    con.close()
    import resource
    return {"method": method, "seconds": round(seconds, 1), "evaluated": evaluated, "counted": counted,
            "actions": len(result.outbox), "unrouted": sum(result.unrouted.values()) + counted,
            "parent_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def measure_batch(passes: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="safecity-bench-batch-") as work:
        path = Path(work) / "bench.duckdb"  # not silver.duckdb: the catalog would shadow the schema
        rows = build_silver(path, passes)
        print(f"  batch: synthetic silver {rows}", flush=True)
        runs: dict[str, list[dict]] = {"list": [], "stream": []}
        for repeat_index in range(repeat):
            for method in runs:  # interleaved, each in a fresh process: its own peak RSS
                measured = _measure(f"import json; import benchmarks.rules as b; "
                                    f"print(json.dumps(b.run_batch({str(path)!r}, {method!r})))")
                measured["total_peak_mb"] = measured["parent_peak_mb"] + measured["worker_peak_mb"]
                runs[method].append(measured)
                print(f"  batch run {repeat_index + 1} {method:<6} {measured}", flush=True)
    summary: dict = {"rows": rows}
    for method, measured in runs.items():
        summary[method] = {key: statistics.median(m[key] for m in measured)
                           for key in ("seconds", "parent_peak_mb", "worker_peak_mb", "total_peak_mb")}
        summary[method].update({k: measured[0][k] for k in ("evaluated", "counted", "actions", "unrouted")})
    summary["peak_ratio_list_vs_stream"] = summary["list"]["total_peak_mb"] / summary["stream"]["total_peak_mb"]
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long", type=int, default=300_000, help="Events of the memory run.")
    parser.add_argument("--passes", type=int, default=1_500_000, help="Vehicle passes in the batch step's silver.")
    parser.add_argument("--only-batch", action="store_true", help="Measure the batch step only.")
    parser.add_argument("--only-throughput", action="store_true",
                        help="Check the actions and measure throughput only (no memory run, no batch step).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.only_batch:
        summary = {"batch": measure_batch(args.passes, args.repeat)}
        print(json.dumps(summary, indent=1))
        return summary
    print(f"{args.events:,} events, {args.repeat} repeats, {os.cpu_count()} cores", flush=True)
    checked = _measure(f"import json; import benchmarks.rules as b; print(json.dumps(b.check_actions({args.events})))")
    print(f"  actions: engine, supervised worker and reference engine agree: {checked}", flush=True)
    runs: dict[str, list[dict]] = {"baseline": [], "engine": [], "supervised": []}
    for repeat in range(args.repeat):
        for method in runs:
            measured = measure_throughput(method, args.events)
            measured["events_per_s"] = measured["events"] / measured["seconds"]
            runs[method].append(measured)
            print(f"  run {repeat + 1} {method:<11} {measured['events_per_s']:>10,.0f} events/s "
                  f"peak {measured['peak_mb']:6.0f} MB", flush=True)
    summary: dict = {m: {"median_events_per_s": statistics.median(r["events_per_s"] for r in rs),
                         "peak_mb": max(r["peak_mb"] for r in rs)} for m, rs in runs.items()}
    summary["ratios"] = {f"{m}_vs_baseline": summary[m]["median_events_per_s"] /
                         summary["baseline"]["median_events_per_s"] for m in ("engine", "supervised")}
    summary["actions"] = checked
    if args.only_throughput:
        print(json.dumps(summary, indent=1))
        write_results(args.out, "rules", summary)
        return summary
    # The statechart's live partitions (open incidents) cost ~750 KB each in durable and last until the incident
    # closes or idles for 7 days; without it the runs show what pending events and partitions of windows cost.
    for without in ((), ("statechart", "escalation")):
        for evict in (True, False):
            memory = measure_memory(args.long, evict, without)
            label = f"memory_{'evicting' if evict else 'no_eviction'}{'_without_statechart' if without else ''}"
            summary[label] = memory
            print(f"  {label}: RSS MB per {args.long // 10:,} events {memory['rss_mb']}, live partitions at the "
                  f"end {memory['live_partitions']:,}, restarts {memory['restarts']}", flush=True)
    summary["batch"] = measure_batch(args.passes, args.repeat)
    print(json.dumps(summary, indent=1))
    write_results(args.out, "rules", summary)
    return summary


if __name__ == "__main__":
    main()
