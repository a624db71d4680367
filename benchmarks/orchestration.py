"""Benchmark: what orchestration costs, and how the whole graph grows with the data (issue 9).

  overhead  one simulated small day (the main job's own seed: `seed_landing`, simulated once, not timed), two ways,
            interleaved, each run in a fresh process on a fresh SAFECITY home with the day copied in:
    dagster   `run_main_job(settings, seed=False)`: the Dagster job "main" in process (definitions with the dbt
              manifest parse, the SQLite event log, every asset, its checks), then the run summary and HTML report.
    direct    the same steps called directly, without importing Dagster, in the graph's order: reference tables,
              the data dictionary, every entity's ingestion (`ingest_entity`, with its reconciliation), snapshot
              diagnosis, camera state (`refresh_camera_health`), the network's state (`refresh_network_state`),
              the event producers (`refresh_policy_events`), `dbt build` (`transforms.invocation.run_dbt`),
              gold and the row scopes (`transforms.gold.publish`), the rules batch, then the same summary and
              report: the functions the assets call, not copies of them.
            Both must leave the same rows in every bronze, silver and quarantine table, the same marts and the same
            outbox actions: the benchmark fails otherwise.
  city      (`--city`, opt-in: about an hour) the Dagster path on the city scale (`safecity simulate --scale city`:
            20,000 cameras, 5 M passes a day, 1080p snapshots), at a quarter, a half and all of its passes: the day
            up to the hour by which that share of the passes was delivered (pass files of those hours; heartbeat,
            detector, call, case, incident and work-order records of those hours; catalog, snapshots, rosters and
            budgets are per day and stay whole).
            The city day is simulated once into the work folder (kept there between runs) and the landings are
            built from it with hard links. The simulator renders the snapshots of 2,000 cameras (rendering all
            20,000 takes it over an hour here); the other cameras' pictures are links to those under their own
            IDs. `--city-diagnosed-cameras N` delivers only N cameras' snapshots: with all 20,000 the diagnosis
            takes about 545 s of the day on 2 cores (1.1 GB since it releases each camera's frames; it once passed
            18 GB), so the runs compared in docs/benchmarks.md deliver 2,000.

Each run's wall time is measured inside its process after the imports (the import seconds are reported apart);
peak memory is the largest sum of the resident memory of the run's process tree (Python, dbt, the rules worker),
polled every 0.2 s, or the run's process's own ru_maxrss if higher (children's ru_maxrss is not used: a forked
child inherits its parent's high-water mark before it execs dbt). Where the time goes: Dagster's per-step timings
of the run (`get_run_step_stats`) and the direct path's own timers around the same steps.

    python -m benchmarks.orchestration [--repeat 3] [--work DIR] [--out DIR]
    python -m benchmarks.orchestration --city --no-overhead [--city-diagnosed-cameras 2000] --work DIR --out DIR
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import work_folder, write_results

CITY = "qinhuangdao"
# The main job's simulated day (orchestration/main_job.py SIMULATED_DAY, SIMULATED_SEED), also for the city scale.
DAY = dt.date(2026, 7, 15)
SEED = 1
# The city day's landings by their share of the day's passes (issue 22: growth at 1/4, 1/2 and 1 of the volume): the
# day up to the first hour by which that share of the passes was delivered, what a site holds at that hour.
SHARES = {"quarter": 0.25, "half": 0.5, "full": 1.0}
METHODS = ("dagster", "direct")
# The order the job "main" runs its steps in (in process, one at a time), which the direct path follows: the
# policies after camera_state, since they read its camera_health events and camera_down facts. If the graph changes
# this order, the agreement check fails and names the steps in the order Dagster ran them.
DAGSTER_ORDER = ("reference tables, data dictionary, ingest_* (by entity), silver__snapshot_diagnosis, network_state, "
                 "camera_state, policy_events, analysis_models, gold, ops__outbox")
ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = "local"
# Folders whose line files (CSV, JSON Lines) carry one record a line, the record's first timestamp its time.
TIMED_FOLDERS = ("heartbeats", "detectors", "calls", "cases", "incidents")
TIMED_FILES = ("support/work_orders_",)
FIRST_TIME = re.compile(rb"(\d{4}-\d{2}-\d{2})[ T](\d{2}):\d{2}")


# ------------------------------------------------------------------------------------------------------------------
# Landings: generated once, untimed
# ------------------------------------------------------------------------------------------------------------------

def small_landing(work: Path) -> tuple[Path, float | None]:
    """The main job's own seed (`seed_landing`): the small simulated day as delivered; kept in the work folder."""
    from safecity.config.profiles import load_settings
    from safecity.orchestration.main_job import seed_landing

    settings = load_settings(ENVIRONMENT, work / "small" / "seed")
    if (settings.paths.landing / "manifest.json").exists():
        return settings.paths.landing, None
    began = time.perf_counter()
    seed_landing(settings)
    return settings.paths.landing, time.perf_counter() - began


def _keep_line(line: bytes, hours: range) -> bool:
    found = FIRST_TIME.search(line)
    if found is None:
        return True  # a header
    day = dt.date.fromisoformat(found.group(1).decode())
    return day < DAY or (day == DAY and int(found.group(2)) in hours)


def _pass_hour(name: str) -> int:
    # The simulator's pass files: passes_<HH>_<NNN>.json
    return int(name.split("_")[1])


def hours_for_share(day: Path, share: float) -> range | None:
    """The hours 00..H-1 of the day whose pass files hold at least `share` of the day's pass bytes (records are the
    same size, so bytes count them); None for the whole day."""
    if share >= 1.0:
        return None
    by_hour: dict[int, int] = {}
    for path in day.glob("passes/*/passes_*.json"):
        hour = _pass_hour(path.name)
        by_hour[hour] = by_hour.get(hour, 0) + path.stat().st_size
    total, running = sum(by_hour.values()), 0
    for hour in range(24):
        running += by_hour.get(hour, 0)
        if running >= share * total:
            return range(0, hour + 1)
    return None


def deliver(day: Path, landing: Path, hours: range | None = None, cameras: set[str] | None = None) -> dict:
    """The simulator's output as the bureau delivers it (the catalog CSVs in cameras/, as `seed_landing` moves
    them), hard-linked; with `hours`, only those hours of the time-stamped sources; with `cameras`, only those
    cameras' snapshots and reference frames. Returns files and bytes."""
    if landing.exists():
        shutil.rmtree(landing)
    files = size = 0
    for path in sorted(p for p in day.rglob("*") if p.is_file()):
        rel = path.relative_to(day)
        if cameras is not None and rel.parts[0] == "snapshots" and rel.stem.split("_")[0] not in cameras:
            continue
        target = landing / ("cameras/" + rel.name if rel.parts[0] == "catalog" and rel.suffix == ".csv"
                            else rel.as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        if hours is not None and rel.parts[0] == "passes" and _pass_hour(rel.name) not in hours:
            continue
        if hours is not None and rel.suffix in (".csv", ".jsonl") and (
                rel.parts[0] in TIMED_FOLDERS or rel.as_posix().startswith(TIMED_FILES)):
            with open(path, "rb") as source, open(target, "wb") as out:
                out.writelines(line for line in source if _keep_line(line, hours))
        else:
            os.link(path, target)
        files, size = files + 1, size + target.stat().st_size
    return {"files": files, "bytes": size}


@contextlib.contextmanager
def snapshots_of(cameras: int | None):
    """While active, the simulator renders the snapshots (and reference frames) of only the first `cameras`
    cameras; every other camera gets hard links to the pictures of one of those, under its own device ID. The
    diagnosis costs the same per picture (decode, ten checks against the camera's own reference), and rendering
    20,000 1080p scenes would take the simulator over an hour on this machine. None: every camera rendered."""
    from safecity.simulator import snapshots

    original = snapshots.write_snapshots

    def subset(world, scale, channels, out, manifest, day, **kwargs):
        ids = sorted({str(c["device_id"]) for c in channels})
        rendered = [c for c in channels if str(c["device_id"]) in set(ids[:cameras])]
        counts = original(world, scale, rendered, out, manifest, day, **kwargs)
        folder, reference = Path(out) / "snapshots" / snapshots._as_date(day).strftime("%Y%m%d"), \
            Path(out) / "snapshots" / "reference"
        pictures = {d: sorted(folder.glob(f"{d}_*.jpg")) for d in ids[:cameras]}
        for number, device in enumerate(ids[cameras:]):
            model = ids[number % cameras]
            for picture in pictures[model]:
                os.link(picture, folder / picture.name.replace(model, device, 1))
            if (reference / f"{model}.jpg").exists():
                os.link(reference / f"{model}.jpg", reference / f"{device}.jpg")
        return counts

    if cameras is not None:
        snapshots.write_snapshots = subset
    try:
        yield
    finally:
        snapshots.write_snapshots = original


def city_landings(work: Path, snapshot_cameras: int | None, diagnosed_cameras: int | None = None,
                  shares: tuple[str, ...] = tuple(SHARES)) -> dict:
    """The city day, simulated once into work/city/day (reused when there), and its landings by share of the passes
    (names of SHARES)."""
    from safecity.simulator.run import simulate

    day = work / "city" / "day"
    record = work / "city" / "simulated.json"
    if not (day / "manifest.json").exists():
        shutil.rmtree(day, ignore_errors=True)
        print(f"simulating the city day {DAY} (scale city, seed {SEED}, snapshots rendered for "
              f"{snapshot_cameras or 'all'} cameras) into {day}", flush=True)
        began = time.perf_counter()
        with snapshots_of(snapshot_cameras):
            summary = simulate(CITY, DAY, 1, "city", SEED, day)
        record.write_text(json.dumps({"seconds": time.perf_counter() - began, "counts": summary.counts,
                                      "snapshot_cameras_rendered": snapshot_cameras}, default=str), encoding="utf-8")
    simulated = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    cameras = None
    if diagnosed_cameras:
        cameras = set(sorted(p.stem for p in (day / "snapshots" / "reference").glob("*.jpg"))[:diagnosed_cameras])
    landings = {}
    for name in shares:
        began = time.perf_counter()
        hours = hours_for_share(day, SHARES[name])
        landing = work / "city" / name
        delivered = deliver(day, landing, hours, cameras)
        landings[name] = {"landing": str(landing), **delivered, "records": landing_records(landing),
                          "hours": f"{hours.start:02d}-{hours.stop - 1:02d}" if hours else "00-23",
                          "seconds_to_build": time.perf_counter() - began}
    return {"simulated_seconds": simulated.get("seconds"), "diagnosed_cameras": diagnosed_cameras,
            "snapshot_cameras_rendered": simulated.get("snapshot_cameras_rendered"), **landings}


def landing_records(landing: Path) -> dict:
    """Records per folder (lines of line files, records of pass files; snapshots as files)."""
    counts: dict[str, int] = {}
    for path in landing.rglob("*"):
        if not path.is_file() or path.name == "manifest.json":
            continue
        folder = path.relative_to(landing).parts[0]
        if folder == "passes":
            with open(path, "rb") as handle:
                n = handle.read().count(b'"MotorVehicleID"')
        elif path.suffix in (".csv", ".jsonl"):
            with open(path, "rb") as handle:
                n = sum(1 for _ in handle) - (path.suffix == ".csv")
        else:
            n = 1
        counts[folder] = counts.get(folder, 0) + n
    return dict(sorted(counts.items()))


def fresh_home(landing: Path, home: Path) -> None:
    """A new SAFECITY home with `landing` hard-linked in; the snapshot references are copied, since the diagnosis
    renews them in place."""
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(landing, home / "landing", copy_function=os.link,
                    ignore=lambda folder, names: names if Path(folder) == landing / "snapshots" else [])
    for folder in (landing / "snapshots").iterdir() if (landing / "snapshots").exists() else ():
        if folder.is_dir():
            shutil.copytree(folder, home / "landing" / "snapshots" / folder.name,
                            copy_function=shutil.copy2 if folder.name == "reference" else os.link)


# ------------------------------------------------------------------------------------------------------------------
# The two paths (each runs in its own process)
# ------------------------------------------------------------------------------------------------------------------

def preload(method: str) -> float:
    """Imports before the clock starts (what a long-running process has paid already); returns their seconds."""
    began = time.perf_counter()
    if method == "dagster":
        import safecity.orchestration.main_job  # noqa: F401
    else:
        import safecity.ingestion.entity  # noqa: F401
        import safecity.ingestion.video_quality.landing_batch  # noqa: F401
        import safecity.analytics.camera_health  # noqa: F401
        import safecity.rules.batch  # noqa: F401
        import safecity.rules.worker  # noqa: F401
        import safecity.transforms.gold  # noqa: F401
    return time.perf_counter() - began


def outcome(summary) -> dict:
    """What both paths must agree on: rows per table and layer, marts, actions by policy."""
    return {"layers": summary.layers, "marts": summary.marts, "actions_by_policy": summary.actions_by_policy}


def run_dagster(home: Path) -> dict:
    import dagster as dg

    from safecity.config.profiles import load_settings
    from safecity.orchestration.main_job import run_main_job

    from safecity.orchestration import main_job

    settings = load_settings(ENVIRONMENT, home)
    # Timers around what run_main_job does besides executing the job (looked up as main_job's globals): building
    # the definitions (with the dbt manifest parse on a fresh home), and the summary and report after the run.
    parts = _Steps()
    for name, part in (("build_definitions", "definitions (incl. dbt parse)"), ("collect", "summary and report"),
                       ("write_report", "summary and report")):
        original = getattr(main_job, name)
        setattr(main_job, name, lambda *a, _original=original, _part=part, **k: parts.timed(_part, _original, *a, **k))
    began = time.perf_counter()
    summary = run_main_job(settings, seed=False)
    seconds = time.perf_counter() - began
    with dg.DagsterInstance.get() as instance:
        stats = instance.get_run_step_stats(summary.run_id)
    spans = {s.step_key: (s.start_time, s.end_time) for s in stats if s.end_time and s.start_time}
    steps = {key: end - start for key, (start, end) in spans.items()}
    order = [s.step_key for s in sorted(stats, key=lambda s: s.start_time or 0)]
    parts.seconds["outside steps and the parts above"] = seconds - sum(steps.values()) - sum(parts.seconds.values())
    return {"seconds": seconds, "success": summary.success, "failed_steps": summary.failed_steps,
            "checks_failed": sorted(k for k, passed in summary.checks.items() if not passed),
            "steps": {**steps, **parts.seconds}, "spans": spans, "order": order, **outcome(summary)}


class _Steps:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

    def timed(self, name: str, function, *args, **kwargs):
        with self.step(name):
            return function(*args, **kwargs)


def entities_and_sources(catalogue) -> dict[str, list[str]]:
    """Every mapping of the site, by the entity it feeds (one ingestion asset per entity, as the graph has them)."""
    from safecity.config.profiles import current_site
    from safecity.ingestion.mapping import mappings_by_entity

    return mappings_by_entity(current_site().sources_dir, catalogue)


def direct_dbt(settings) -> None:
    """orchestration/defs/transforms/assets.py: `dbt build` (data tests, no unit tests) with the run's variables
    (transforms/invocation.py, as the assets run it)."""
    from safecity.transforms.dbt_vars import dbt_vars
    from safecity.transforms.invocation import build_args, run_dbt

    completed = run_dbt(settings, *build_args(dbt_vars(settings)))
    if completed.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{completed.stdout[-4000:]}")


def run_direct(home: Path) -> dict:
    from safecity.analytics.camera_health import refresh_camera_health
    from safecity.analytics.network_health import refresh_network_state
    from safecity.analytics.policy_events import refresh_policy_events
    from safecity.ingestion.entity import ingest_entity
    from safecity.ingestion.landing import data_clock, open_landing
    from safecity.ingestion.video_quality.landing_batch import diagnose_new_snapshots
    from safecity.rules.batch import run_batch
    from safecity.lakehouse.warehouse import connect
    from safecity.config.profiles import load_settings
    from safecity.orchestration.generated import write_dictionary
    from safecity.orchestration.report import write_report
    from safecity.orchestration.summary import collect
    from safecity.standards.catalogue import load_catalogue
    from safecity.standards.publish import publish_reference
    from safecity.transforms.gold import publish

    settings = load_settings(ENVIRONMENT, home)
    steps = _Steps()
    began = time.perf_counter()
    catalogue = load_catalogue(settings.city.id)
    with steps.step("reference_tables"), connect(settings) as con:
        publish_reference(con, catalogue)
    with steps.step("docs__data_dictionary"):
        write_dictionary(catalogue, settings.paths.home / "docs")
    for entity, sources in sorted(entities_and_sources(catalogue).items()):
        with steps.step(f"ingest_{entity}"):
            if ingest_entity(settings, catalogue, entity, sources).unbalanced:
                raise AssertionError(f"{entity}: bronze does not reconcile with silver and quarantine")
    with steps.step("silver__snapshot_diagnosis"):
        diagnose_new_snapshots(settings)
    # Dagster's order (DAGSTER_ORDER): camera state derives the outage causes from the network's state, the event
    # producers read both, the rules batch all of them.
    with steps.step("network_state"):
        refresh_network_state(settings)
    with steps.step("camera_state"):
        refresh_camera_health(settings, catalogue)
    with steps.step("policy_events"):
        refresh_policy_events(settings, as_of=data_clock(open_landing(settings)))
    with steps.step("analysis_models"):
        direct_dbt(settings)
    with steps.step("gold"):
        publish(settings)
    with steps.step("ops__outbox"):
        run_batch(settings, catalogue, "direct")
    with steps.step("summary and report"):
        summary = collect(settings, True, "direct", time.perf_counter() - began, {}, [])
        write_report(settings, summary)
    return {"seconds": time.perf_counter() - began, "success": True, "failed_steps": [], "checks_failed": [],
            "steps": steps.seconds, **outcome(summary)}


# ------------------------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------------------------

def _tree_rss_mb(session: int) -> float:
    """Resident memory of every process of a session (the run's process tree), from /proc."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session:  # fields[3] is the session id (field 6 of stat)
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss pages (field 24)
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


def measure(method: str, home: Path, limit_gb: float) -> dict:
    """One run in a fresh interpreter, in its own session: its result, the tree's peak resident memory (polled),
    the process's and its largest child's ru_maxrss. Killed if the tree passes `limit_gb` (the machine is shared)."""
    code = ("import json, resource, sys; from pathlib import Path; import benchmarks.orchestration as b; "
            f"imports = b.preload({method!r}); r = b.run_{method}(Path(sys.argv[1])); r['import_seconds'] = imports; "
            "r['process_maxrss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            "print('RESULT ' + json.dumps(r, default=str))")
    log = home.parent / f"{home.name}.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "-c", code, str(home)], cwd=ROOT, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        peak, killed, samples = 0.0, False, []
        while process.poll() is None:
            samples.append((time.time(), _tree_rss_mb(process.pid)))
            peak = max(peak, samples[-1][1])
            if peak > limit_gb * 1024 and not killed:
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.2)
    output = log.read_text(errors="replace")
    if killed:
        raise RuntimeError(f"the {method} run passed {limit_gb} GB and was stopped (log: {log})")
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"the {method} run failed (log: {log}):\n{output[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    # The poll can miss a short peak between two looks; the process's own high-water mark cannot.
    result["tree_peak_mb"] = peak
    result["peak_mb"] = max(peak, result["process_maxrss_mb"])
    result["step_peak_mb"] = step_peaks(samples, result.get("spans", {}))
    return result


def step_peaks(samples: list[tuple[float, float]], spans: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The largest polled tree memory while each step ran (steps run one at a time in the in-process executor); a
    step shorter than the poll interval may have no sample and is left out."""
    peaks = {}
    for step, (start, end) in spans.items():
        seen = [mb for at, mb in samples if start <= at <= end]
        if seen:
            peaks[step] = max(seen)
    return peaks


def check_agreement(results: dict[str, list[dict]]) -> dict:
    """Every run, Dagster or direct, must succeed and leave the same rows everywhere; anything else is a bug."""
    problems = []
    for method, runs in results.items():
        for number, r in enumerate(runs, 1):
            if not r["success"] or r["failed_steps"]:
                problems.append(f"{method} run {number} failed: {r['failed_steps']}")
    first = results["dagster"][0]
    for method, runs in results.items():
        for number, r in enumerate(runs, 1):
            for part in ("layers", "marts", "actions_by_policy"):
                if r[part] != first[part]:
                    differs = {k: (first[part].get(k), r[part].get(k)) for k in set(first[part]) | set(r[part])
                               if first[part].get(k) != r[part].get(k)}
                    problems.append(f"{method} run {number}: {part} differ from dagster run 1: {differs}")
    if problems:
        order = ", ".join(results["dagster"][0].get("order", []))
        raise AssertionError("orchestration benchmark: the paths disagree:\n  " + "\n  ".join(problems) +
                             f"\nDagster ran: {order}\nthe direct path runs: {DAGSTER_ORDER}")
    return {part: first[part] for part in ("layers", "marts", "actions_by_policy")}


def _line(method: str, run: str, r: dict) -> str:
    return (f"  {run} {method:<8} {r['seconds']:8.1f} s  tree peak {r['peak_mb']:7,.0f} MB  process "
            f"{r['process_maxrss_mb']:6,.0f} MB  "
            f"(imports {r['import_seconds']:.1f} s)")


def _median(runs: list[dict]) -> dict:
    steps = sorted({s for r in runs for s in r["steps"]})
    return {"median_seconds": statistics.median(r["seconds"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs),
            "process_maxrss_mb": max(r["process_maxrss_mb"] for r in runs),
            "import_seconds": statistics.median(r["import_seconds"] for r in runs),
            "steps": {s: statistics.median(r["steps"].get(s, 0.0) for r in runs) for s in steps},
            "step_peak_mb": {s: max(r.get("step_peak_mb", {}).get(s, 0.0) for r in runs)
                             for s in sorted({s for r in runs for s in r.get("step_peak_mb", {})})}}


def overhead(work: Path, repeat: int, limit_gb: float) -> dict:
    landing, seeded = small_landing(work)
    print(f"small day: {landing} ({'seeded in %.1f s' % seeded if seeded else 'reused'}); {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    loads = [os.getloadavg()[0]]
    for run in range(1, repeat + 1):
        for method in METHODS:  # interleaved, so that machine noise falls on both alike
            home = work / "small" / f"{method}-{run}"
            fresh_home(landing, home)
            results[method].append(measure(method, home, limit_gb))
            shutil.rmtree(home)
            loads.append(os.getloadavg()[0])
            print(_line(method, f"run {run}", results[method][-1]), flush=True)
    counts = check_agreement(results)
    summary = {m: _median(runs) for m, runs in results.items()}
    summary["ratio_dagster_vs_direct"] = summary["dagster"]["median_seconds"] / summary["direct"]["median_seconds"]
    summary["extra_seconds"] = summary["dagster"]["median_seconds"] - summary["direct"]["median_seconds"]
    summary.update(repeat=repeat, load_average=loads, counts=counts, runs=results)
    return summary


def city(work: Path, repeat: int, limit_gb: float, snapshot_cameras: int | None = 2_000,
         diagnosed_cameras: int | None = None, shares: tuple[str, ...] = tuple(SHARES)) -> dict:
    began = time.perf_counter()
    landings = city_landings(work, snapshot_cameras, diagnosed_cameras, shares)
    print(f"city landings ready in {time.perf_counter() - began:.0f} s (day simulated in "
          f"{landings['simulated_seconds'] or float('nan'):.0f} s): " + "; ".join(
              f"{n} (hours {landings[n]['hours']}) {landings[n]['records'].get('passes', 0):,} passes, "
              f"{landings[n]['files']:,} files, {landings[n]['bytes'] / 1e9:.2f} GB" for n in shares), flush=True)
    results: dict[str, list[dict]] = {name: [] for name in shares}
    loads = [os.getloadavg()[0]]
    for run in range(1, repeat + 1):
        for name in results:
            home = work / "city" / f"home-{name}-{run}"
            fresh_home(Path(landings[name]["landing"]), home)
            r = measure("dagster", home, limit_gb)
            results[name].append(r)
            shutil.rmtree(home)
            loads.append(os.getloadavg()[0])
            print(_line("dagster", f"{name} run {run}", r) + f"  failed steps: {r['failed_steps'] or 'none'}",
                  flush=True)
            # Each run as it ends (a full day takes long: what is measured is kept if the rest is stopped).
            (work / "city" / "runs.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    summary: dict = {"landings": landings, "repeat": repeat, "load_average": loads}
    for name, runs in results.items():
        summary[name] = {**_median(runs), "success": all(r["success"] for r in runs),
                         "failed_steps": sorted({s for r in runs for s in r["failed_steps"]}),
                         "checks_failed": sorted({c for r in runs for c in r["checks_failed"]}),
                         "layers": runs[0]["layers"], "marts": runs[0]["marts"],
                         "actions_by_policy": runs[0]["actions_by_policy"]}
    # Each landing against the smallest: the cost should grow no faster than the data.
    q, passes = summary[shares[0]], max(landings[shares[0]]["records"].get("passes", 1), 1)
    summary["shares"] = list(shares)
    summary["growth"] = {name: {
        "passes": landings[name]["records"].get("passes", 0) / passes,
        "seconds": summary[name]["median_seconds"] / q["median_seconds"],
        "peak_mb": summary[name]["peak_mb"] / q["peak_mb"]} for name in shares}
    return summary


# ------------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------------

def _steps_table(columns: dict[str, dict[str, float]], unit: str = "s") -> None:
    names = sorted({s for steps in columns.values() for s in steps},
                   key=lambda s: -max(steps.get(s, 0.0) for steps in columns.values()))
    print(f"  {'step':<34}" + "".join(f"{c:>14}" for c in columns))
    for name in names:
        cells = (columns[c].get(name) for c in columns)
        print(f"  {name:<34}" + "".join(f"{'-':>14}" if v is None else f"{v:>{13 - len(unit)},.1f} {unit}"
                                        for v in cells))


def print_summary(summary: dict) -> None:
    if "overhead" in summary:
        o = summary["overhead"]
        print(f"\noverhead on the small simulated day ({o['repeat']} interleaved runs each; load average "
              f"{min(o['load_average']):.1f}-{max(o['load_average']):.1f} on {summary['machine']['cores']} cores)")
        print(f"{'path':<9}{'median s':>10}{'tree peak MB':>14}{'process MB':>12}{'imports s':>11}")
        for method in METHODS:
            s = o[method]
            print(f"{method:<9}{s['median_seconds']:>10.1f}{s['peak_mb']:>14,.0f}{s['process_maxrss_mb']:>12,.0f}"
                  f"{s['import_seconds']:>11.1f}")
        print(f"dagster / direct = {o['ratio_dagster_vs_direct']:.2f}x ({o['extra_seconds']:+.1f} s); silver rows "
              f"(both paths): {sum(o['counts']['layers'].get('silver', {}).values()):,}; outbox actions "
              f"{sum(o['counts']['actions_by_policy'].values()):,}")
        print("median seconds per step:")
        _steps_table({"dagster": o["dagster"]["steps"], "direct": o["direct"]["steps"]})
    if "city" in summary:
        c = summary["city"]
        print(f"\ncity scale through Dagster ({c['repeat']} run(s) each; snapshots of "
              f"{c['landings'].get('diagnosed_cameras') or 'all'} cameras delivered; load average "
              f"{min(c['load_average']):.1f}-{max(c['load_average']):.1f})")
        print(f"{'landing':<9}{'hours':>7}{'passes':>11}{'median s':>10}{'tree peak MB':>14}{'process MB':>12}"
              "  failed steps")
        shares = c.get("shares", list(SHARES))
        for name in shares:
            s = c[name]
            print(f"{name:<9}{c['landings'][name]['hours']:>7}{c['landings'][name]['records'].get('passes', 0):>11,}"
                  f"{s['median_seconds']:>10.0f}{s['peak_mb']:>14,.0f}{s['process_maxrss_mb']:>12,.0f}"
                  f"  {', '.join(s['failed_steps']) or 'none'}")
        for name, g in c["growth"].items():
            if name == shares[0]:
                continue  # the measure itself
            print(f"{shares[0]} -> {name}: passes x{g['passes']:.1f}, wall time x{g['seconds']:.2f}, peak memory "
                  f"x{g['peak_mb']:.2f}")
        print("seconds per step (Dagster's step timings):")
        _steps_table({name: c[name]["steps"] for name in shares})
        print("peak memory of the run's process tree while each step ran (polled every 0.2 s):")
        _steps_table({name: c[name]["step_peak_mb"] for name in shares}, "MB")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="Interleaved runs of each path (overhead).")
    parser.add_argument("--city", action="store_true", help="Also the city day at a quarter, a half and all of its passes "
                        "(over an hour).")
    parser.add_argument("--city-repeat", type=int, default=1)
    parser.add_argument("--city-shares", default=",".join(SHARES),
                        help=f"Which landings of the city day to run, smallest first ({', '.join(SHARES)}).")
    parser.add_argument("--city-snapshot-cameras", type=int, default=2_000,
                        help="Cameras whose snapshots the simulator renders; the others' are links to theirs "
                             "(0: render all 20,000, over an hour).")
    parser.add_argument("--city-diagnosed-cameras", type=int, default=0,
                        help="Deliver the snapshots of only this many cameras (0: all 20,000, whose diagnosis takes "
                             "about 545 s of the day on 2 cores; the documented runs deliver 2,000).")
    parser.add_argument("--no-overhead", action="store_true", help="Skip the small-day overhead comparison.")
    parser.add_argument("--memory-limit-gb", type=float, default=18.0,
                        help="Stop a run whose process tree passes this (the machine is shared).")
    parser.add_argument("--work", type=Path, default=None,
                        help="Folder for the simulated days and homes, kept between runs (default: a temporary one).")
    parser.add_argument("--out", type=Path, default=None, help="Where to write orchestration.json.")
    args = parser.parse_args(argv)
    summary: dict = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
                     "when": dt.datetime.now().isoformat(timespec="seconds")}
    with work_folder(args.work, "safecity-bench-orch-") as work:
        if not args.no_overhead:
            summary["overhead"] = overhead(work, args.repeat, args.memory_limit_gb)
        if args.city:
            summary["city"] = city(work, args.city_repeat, args.memory_limit_gb, args.city_snapshot_cameras or None,
                                   args.city_diagnosed_cameras or None, tuple(args.city_shares.split(",")))
    print_summary(summary)
    write_results(args.out, "orchestration", summary)
    return summary


if __name__ == "__main__":
    main()
