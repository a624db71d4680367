"""Benchmark: a city network's telemetry through the real pipeline and the network state machine, against a plain
DuckDB read of the same files, in one run (issue 21).

  plain    DuckDB reads the three network management exports (status traps, interface counters, probes: JSON
           Lines, every field as text) and writes them to Parquet: what any ingestion of these files pays at least.
  ingest   `ingest_source` for the three telemetry sources: bronze -> conform -> silver / quarantine, Iceberg commits
           (the registries, nodes, links and attachments, are ingested first in the same process, not timed).
  refresh  `refresh_network_state` over that lakehouse: link and node states and per-minute link utilisation,
           derived from the whole of silver and written back (one process, after ingest). The cameras' outage
           causes are the camera health step's since they moved there (not timed here).

The network is the simulator's (`simulator.network`: core, branches, stations, access nodes above the cameras) drawn
for `--cameras` cameras; the default 29,000 gives about 1,000 links and 1,000 nodes, i.e. about 2,000 network
elements with one sample each per minute (a counter sample per link, a probe per node). The day is written once
(not timed; kept in --work); `--hours` keeps the lines of the day's first hours (the whole day is 24).

Each measurement runs in a fresh process (peak memory is its own) and fresh lakehouse; methods are interleaved and
repeated, medians and ratios come from the same run. Invariants, checked on every run (the benchmark fails
otherwise): silver + quarantine = the lines of each file, counted apart from the pipeline; the plain copy holds
every line; every repeat derives the same link states (a digest of silver.link_state) and the same row counts.

    python -m benchmarks.network [--cameras 29000] [--hours 24] [--repeat 3] [--work DIR] [--out DIR]
    python -m benchmarks.network --cameras 600 --hours 2 --repeat 1      # a quick run (the test's)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.harness import method_summaries, work_folder, write_results
from safecity.simulator.network import COUNTER_FILE, PROBE_FILE, STATUS_FILE

CITY = "qinhuangdao"
DAY = dt.date(2026, 7, 1)
SEED = 11
# The morning after the day: no sample is in the future of the checks.
AS_OF = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(6), ZoneInfo("Asia/Shanghai"))
# Each telemetry source's file of the day, as the simulator names it, and its time field.
TELEMETRY = {"network_interface_status": (STATUS_FILE, "time"), "network_interface_counters": (COUNTER_FILE, "time"),
             "network_link_probes": (PROBE_FILE, "start")}
# The fields of each export, in the order of TELEMETRY (config/sources/network_*.yaml `columns`).
FIELDS = (("agent", "ifName", "trap", "time"), ("agent", "ifName", "time", "ifHCInOctets", "ifHCOutOctets"),
          ("target", "start", "sent", "received", "rttAvg", "rttMax"))
REGISTRIES = ("network_nodes_csv", "network_links_csv", "network_attachments_csv")
DERIVED = ("silver.link_state", "silver.node_state", "silver.link_utilisation")
METHODS = ("plain", "ingest", "refresh")
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------------------------
# Data: generated once, untimed
# ------------------------------------------------------------------------------------------------------------------

def generate(out: Path, cameras: int, hours: int) -> dict:
    """The network registries and one day of telemetry for a city of `cameras` cameras, cut to the first `hours`;
    returns the elements and the lines of each telemetry file (counted here, not by the pipeline)."""
    from safecity.simulator import cameras as camera_module
    from safecity.simulator import network
    from safecity.simulator.manifest import Manifest
    from safecity.simulator.scale import SCALES
    from safecity.simulator.world import World

    began = time.perf_counter()
    info_path = out / "generated.json"
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if (info["cameras"], info["hours"]) == (cameras, hours):
            return info | {"seconds": 0.0, "reused": True}
    world = World.load(CITY, SEED)
    scale = dataclasses.replace(SCALES["city"], cameras=cameras)
    start = dt.datetime.combine(DAY, dt.time())
    manifest = Manifest(SEED, "city", DAY.isoformat(), 1)
    registry = camera_module.build_registry(world, scale)
    camera_module.simulate_outages(world, registry, start, 1, manifest, f"heartbeats/status_{DAY:%Y%m%d}.jsonl")
    net = network.build_network(world, registry)
    network.plant_faults(world, net, start, manifest)
    registries = network.write_registry(net, out, manifest, DAY)
    network.write_telemetry(world, net, start, 1, out, manifest)
    end = start + dt.timedelta(hours=hours)
    lines = {}
    for source, (name, field) in TELEMETRY.items():
        path = out / "network_telemetry" / name.format(DAY)
        kept = path.read_text(encoding="utf-8").splitlines()
        if hours < 24:  # the whole day keeps every line, the poll closing its last minute too
            kept = [line for line in kept if dt.datetime.fromisoformat(json.loads(line)[field]) < end]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        lines[source] = len(kept)
    info = {"cameras": cameras, "hours": hours, "nodes": len(net.nodes), "links": len(net.links),
            "elements": len(net.nodes) + len(net.links), "registries": registries, "lines": lines,
            "rows": sum(lines.values()),
            "bytes": sum((out / "network_telemetry" / name.format(DAY)).stat().st_size
                         for name, _ in TELEMETRY.values())}
    info_path.write_text(json.dumps(info), encoding="utf-8")
    return info | {"seconds": time.perf_counter() - began, "reused": False}


def telemetry_files(landing: Path) -> list[Path]:
    return [landing / "network_telemetry" / name.format(DAY) for name, _ in TELEMETRY.values()]


# ------------------------------------------------------------------------------------------------------------------
# The measured methods (each called in a fresh process by _measure; each returns its own timed seconds)
# ------------------------------------------------------------------------------------------------------------------

def run_plain(landing: Path, out: Path) -> dict:
    import duckdb

    began = time.perf_counter()
    con = duckdb.connect()
    rows = 0
    for number, path in enumerate(telemetry_files(landing)):
        target = out / f"{number}.parquet"
        out.mkdir(parents=True, exist_ok=True)
        # Every field as text, as bronze keeps it; an empty file (a quiet day of traps) is zero rows.
        if path.stat().st_size:
            columns = {name: "VARCHAR" for name in FIELDS[number]}  # the export's fields, known up front
            con.execute(f"COPY (SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns!r})) "
                        f"TO '{target}' (FORMAT parquet)", [str(path)])
            rows += con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
    return {"rows": rows, "seconds": time.perf_counter() - began}


def _settings(home: Path):
    from safecity.config.profiles import load_settings
    return load_settings("local", home)


def _ingest(catalog, catalogue, landing: Path, source: str):
    from safecity.ingestion.landing import LocalLanding
    from safecity.ingestion.mapping import load_mapping, mapping_path
    from safecity.ingestion.pipeline import ingest_source, landing_files

    loaded = load_mapping(mapping_path(source), catalogue)
    files = LocalLanding(landing)
    return ingest_source(catalog, catalogue, loaded, files, landing_files(files, loaded), as_of=AS_OF)


def run_ingest(landing: Path, home: Path) -> dict:
    from safecity.lakehouse.catalog import open_catalog
    from safecity.standards.catalogue import load_catalogue

    catalogue = load_catalogue(CITY)
    catalog = open_catalog(_settings(home))
    for source in REGISTRIES:  # what refresh needs beside the telemetry; not the measured work
        report = _ingest(catalog, catalogue, landing, source)
        if report.quarantined:
            raise AssertionError(f"{source}: {report.quarantined} registry rows quarantined {dict(report.reasons)}")
    began = time.perf_counter()
    per_source = {}
    for source in TELEMETRY:
        report = _ingest(catalog, catalogue, landing, source)
        per_source[source] = {"received": report.received, "silver": report.silver,
                              "quarantined": report.quarantined, "reasons": dict(sorted(report.reasons.items()))}
    seconds = time.perf_counter() - began
    return {"rows": sum(s["received"] for s in per_source.values()), "seconds": seconds, "sources": per_source}


def _digest(table) -> str:
    """The rows of a table, sorted, as one hash: equal between repeats iff the derived states are."""
    rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in table.to_pylist())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def run_refresh(home: Path, rows: int) -> dict:
    from safecity.analytics.network_health import refresh_network_state
    from safecity.lakehouse.catalog import open_catalog

    settings = _settings(home)
    began = time.perf_counter()
    report = refresh_network_state(settings)
    seconds = time.perf_counter() - began
    if report.skipped:
        raise AssertionError(f"refresh_network_state skipped: missing {report.skipped}")
    catalog = open_catalog(settings)
    link_state = catalog.load_table("silver.link_state").scan(
        selected_fields=("link_id", "state", "since", "until", "reason_en", "evidence")).to_arrow()
    states = {}
    for row in link_state.select(["state"]).to_pylist():
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {"rows": rows, "seconds": seconds, "derived": report.rows, "link_state_digest": _digest(link_state),
            "link_states": dict(sorted(states.items()))}


def preload(method: str) -> None:
    """Imports before the clock starts: a long-running job pays them once, not per batch."""
    import duckdb  # noqa: F401
    if method != "plain":
        import safecity.analytics.network_health  # noqa: F401
        import safecity.ingestion.pipeline  # noqa: F401


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux keeps that across exec, so a
    child would report the parent's peak (the generator's gigabytes) instead of its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(method: str, arguments: dict) -> dict:
    """One measurement in a fresh interpreter: the method's own seconds, its counts and the process's peak RSS."""
    code = (
        "import json, sys; from pathlib import Path; import benchmarks.network as b; "
        "a = json.loads(sys.argv[1]); "
        "a = {k: Path(v) if k in ('landing', 'home', 'out') else v for k, v in a.items()}; "
        f"b.preload({method!r}); r = b.run_{method}(**a); "
        "r.update(peak_mb=b.peak_mb()); print(json.dumps(r))")
    completed = subprocess.run([sys.executable, "-c", code, json.dumps(arguments)], capture_output=True, text=True,
                               cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"the {method} measurement failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


# ------------------------------------------------------------------------------------------------------------------
# Invariants and the run
# ------------------------------------------------------------------------------------------------------------------

def check_invariants(results: dict[str, list[dict]], lines: dict[str, int]) -> dict:
    """Every line of every file is in silver or quarantine (and the plain copy), on every run; every repeat
    derives the same states. Anything else is a bug, and fails the benchmark."""
    problems = []
    total = sum(lines.values())
    for number, run in enumerate(results["plain"], 1):
        if run["rows"] != total:
            problems.append(f"plain run {number} copied {run['rows']:,} rows of {total:,} lines")
    for number, run in enumerate(results["ingest"], 1):
        for source, expected in lines.items():
            s = run["sources"][source]
            if not s["received"] == s["silver"] + s["quarantined"] == expected:
                problems.append(f"ingest run {number} {source}: {expected:,} lines in the file, {s['received']:,} "
                                f"received, {s['silver']:,} silver + {s['quarantined']:,} quarantined")
    ingested = {json.dumps(r["sources"], sort_keys=True) for r in results["ingest"]}
    if len(ingested) > 1:
        problems.append("ingest runs disagree on silver/quarantine: " + "; ".join(sorted(ingested)))
    derived = {(r["link_state_digest"], json.dumps(r["derived"], sort_keys=True)) for r in results["refresh"]}
    if len(derived) > 1:
        problems.append("refresh runs derive different states: " + "; ".join(f"{d} {n}" for d, n in sorted(derived)))
    if problems:
        raise AssertionError("network benchmark: invariants do not hold:\n  " + "\n  ".join(problems))
    first = results["refresh"][0]
    return {"sources": results["ingest"][0]["sources"], "derived": first["derived"],
            "link_states": first["link_states"], "link_state_digest": first["link_state_digest"]}


def benchmark(work: Path, cameras: int, hours: int, repeat: int) -> dict:
    data = generate(work / "data", cameras, hours)
    made = "reused" if data["reused"] else f"written in {data['seconds']:.1f} s"
    print(f"network of {data['nodes']:,} nodes and {data['links']:,} links ({data['elements']:,} elements) for "
          f"{cameras:,} cameras; {hours} h of telemetry: {data['rows']:,} lines {data['lines']}, "
          f"{data['bytes'] / 1e6:,.0f} MB, {made}; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    landing = work / "data"
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    loads = [os.getloadavg()[0]]
    for run in range(1, repeat + 1):
        home = work / f"home-{run}"
        plan = {"plain": {"landing": str(landing), "out": str(work / f"plain-{run}")},
                "ingest": {"landing": str(landing), "home": str(home)},
                "refresh": {"home": str(home), "rows": data["rows"]}}
        for method in METHODS:  # interleaved, so that machine noise falls on all methods alike
            measured = _measure(method, plan[method])
            results[method].append(measured)
            loads.append(os.getloadavg()[0])
            print(f"  run {run} {method:<8}{measured['rows']:>12,} rows {measured['seconds']:8.2f} s "
                  f"{measured['rows_per_s']:>12,.0f} rows/s  peak {measured['peak_mb']:7,.0f} MB", flush=True)
        for leftover in (work / f"plain-{run}", home):  # a day's lakehouse per repeat would fill the disk
            subprocess.run(["rm", "-rf", str(leftover)], check=True)
    invariants = check_invariants(results, data["lines"])
    summary: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0],
                    "load_average": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)}},
        "data": data, "repeat": repeat, "invariants": invariants,
        "runs": {m: [{k: v for k, v in r.items() if k != "sources"} for r in runs]
                 for m, runs in results.items()},
    }
    summary.update(method_summaries(results))
    plain = summary["plain"]["median_rows_per_s"]
    summary["ratios"] = {"ingest_vs_plain": summary["ingest"]["median_rows_per_s"] / plain,
                         "refresh_vs_plain": summary["refresh"]["median_rows_per_s"] / plain}
    return summary


def print_summary(summary: dict) -> None:
    data, load = summary["data"], summary["machine"]["load_average"]
    print()
    print(f"{data['rows']:,} telemetry lines ({data['hours']} h, {data['elements']:,} elements), "
          f"{summary['repeat']} interleaved runs each; {summary['machine']['cores']} cores, load average "
          f"{load['min']:.1f}-{load['max']:.1f}")
    print(f"{'method':<9}{'median rows/s':>15}{'median s':>10}{'vs plain':>10}{'peak MB':>10}")
    for method in METHODS:
        s = summary[method]
        ratio = s["median_rows_per_s"] / summary["plain"]["median_rows_per_s"]
        print(f"{method:<9}{s['median_rows_per_s']:>15,.0f}{s['median_seconds']:>10.2f}{ratio:>10.1%}"
              f"{s['peak_mb']:>10,.0f}")
    inv = summary["invariants"]
    print(f"silver + quarantine = lines for every file; derived {inv['derived']}; link states {inv['link_states']} "
          f"(equal in every repeat: {inv['link_state_digest'][:12]})")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=29_000,
                        help="Cameras the network is drawn above (29,000: about 2,000 network elements).")
    parser.add_argument("--hours", type=int, default=24, help="The day's first hours of telemetry (24: the day).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="Folder for the data (default: a temporary one).")
    parser.add_argument("--out", type=Path, default=None, help="Where to write network.json.")
    args = parser.parse_args(argv)
    if not 1 <= args.hours <= 24:
        parser.error("--hours is 1..24")
    with work_folder(args.work, "safecity-bench-network-") as work:
        summary = benchmark(work, args.cameras, args.hours, args.repeat)
    print_summary(summary)
    write_results(args.out, "network", summary)
    return summary


if __name__ == "__main__":
    main()
