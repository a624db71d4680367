"""Data service benchmark (`python -m benchmarks.service --home STATE`): Locust against the running service at fixed
request rates, beside the same queries run directly in DuckDB, in the same run.

  small   a filtered page: passes of one tollgate on gold.fct_vehicle_passes, 100 rows as JSON
  export  the whole table as an Arrow IPC stream

Service side: `safecity serve --home STATE` in a process of its own, with a benchmark client (a clients file written
for the run), and for each load a headless Locust process (benchmarks/service_locustfile.py) whose users take a
token and send their query at a fixed rate (constant_throughput). p50, p99, request counts and the achieved rate are
Locust's own statistics (its CSV); rows come from the rows the users counted in the responses; peak memory is the
service process's high-water mark (VmHWM, reset before each load through /proc/PID/clear_refs).
DuckDB side: a fresh process running the same SQL over the same gold views (lakehouse.warehouse.connect,
read-only) on the same schedule: as many threads as Locust users, each at the same fixed rate. Runs alternate the
side that goes first; the figures are medians over the runs. STATE is a state folder built by `safecity run --home`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import write_results

TABLE = "fct_vehicle_passes"
PAGE = 100
LOCUSTFILE = Path(__file__).with_name("service_locustfile.py")


@dataclass(frozen=True)
class Load:
    kind: str        # "small" or "export"
    rate: float      # requests per second, all users together
    users: int

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.rate:g}/s"

    @property
    def user_class(self) -> str:
        return {"small": "SmallQuery", "export": "Export"}[self.kind]


LOADS = (Load("small", 5, 5), Load("small", 20, 10), Load("export", 0.5, 1))


# Peak memory of a process per load: the kernel's high-water mark, which writing 5 to clear_refs resets.
def reset_peak(pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def wait_idle(pid: int, timeout: float = 180.0) -> None:
    """Until the process uses under 5 % of a core for a second: when Locust stops, the requests the service had
    queued are still running, and the next load must not queue behind them."""
    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    before = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds()
        if now - before < 0.05:
            return
        before = now
    raise RuntimeError(f"process {pid} still busy after {timeout:.0f} s")


def peak_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def passes_facts(settings) -> dict:
    """The busiest tollgate (its page is full) and the rows each query must return, read through pyiceberg: neither
    the service nor DuckDB."""
    import pyarrow.compute as pc

    from safecity.lakehouse.catalog import open_catalog
    gates = open_catalog(settings).load_table(f"gold.{TABLE}").scan(selected_fields=("tollgate_id",)).to_arrow()
    counts = pc.value_counts(gates["tollgate_id"]).to_pylist()
    busiest = max(counts, key=lambda c: (c["counts"], c["values"]))
    return {"rows": gates.num_rows, "tollgate": busiest["values"], "small_rows": min(PAGE, busiest["counts"]),
            "export_rows": gates.num_rows}


# ---- service side: `safecity serve` in its own process, Locust in another ----

def run_locust(url: str, load: Load, duration: float, facts: dict, client: tuple[str, str], work: Path) -> dict:
    """One load as a headless Locust process: Locust's figures for the load's request name (count, failures, p50,
    p99, achieved rate), the rows its users received, and the token requests' failures."""
    summary_out = work / f"{load.kind}_summary.json"
    summary_out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
               "--loglevel", "WARNING", "--users", str(load.users), "--spawn-rate", str(load.users),
               "-t", f"{duration:g}s", "--host", url, "--client-id", client[0],
               "--table", TABLE, "--tollgate", facts["tollgate"], "--page", str(PAGE),
               "--user-rate", f"{load.rate / load.users:g}", "--expect-small-rows", str(facts["small_rows"]),
               "--expect-export-rows", str(facts["export_rows"]), "--summary-out", str(summary_out), load.user_class]
    # Exit code 1 means some request failed: the failures are in the figures and the report, not an exception.
    ran = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "SAFECITY_BENCH_SECRET": client[1]})
    if ran.returncode not in (0, 1) or not summary_out.exists():
        raise RuntimeError(f"locust failed ({ran.returncode}): {ran.stderr[-2000:]}")
    summary = json.loads(summary_out.read_text())
    if load.kind not in summary:
        raise RuntimeError(f"locust sent no {load.kind} request in {duration:g} s: {summary}")
    return {**summary[load.kind], "token_failures": summary.get("token", {}).get("failures", 0)}


def _http(url: str, body: dict | None = None, form: str | None = None, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if form is not None:
        data, headers["Content-Type"] = form.encode(), "application/x-www-form-urlencoded"
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=600) as response:
        return response.read()


class Serving:
    """`safecity serve --home HOME` on a free loopback port with one benchmark client of its own."""

    def __init__(self, home: Path, work: Path):
        from safecity.service.clients import hash_secret
        from tests.service.server import free_port
        self.client = ("benchmark", secrets.token_urlsafe(24))
        clients = work / "clients.yaml"
        clients.write_text(json.dumps({"clients": [{
            "id": self.client[0], "name_zh": "基准测试", "name_en": "benchmark", "secret_hash": hash_secret(self.client[1]),
            "tables": [TABLE], "level": "city", "clearance": "internal", "requests_per_minute": 10_000_000}]}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [str(Path(sys.executable).with_name("safecity")), "serve", "--home", str(home),
                        "--port", str(self.port), "--clients", str(clients)]
        self.log = work / "serve.log"

    def __enter__(self) -> "Serving":
        self.process = subprocess.Popen(self.command, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                _http(f"{self.url}/openapi.json")
                return self
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(f"`safecity serve` did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGINT)   # uvicorn's graceful stop: the audit writer flushes
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def token(self) -> str:
        form = f"grant_type=client_credentials&client_id={self.client[0]}&client_secret={self.client[1]}"
        return json.loads(_http(f"{self.url}/oauth/token", form=form))["access_token"]


def service_side(home: Path, loads: tuple[Load, ...], duration: float, facts: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="service-bench-") as folder, Serving(home, Path(folder)) as serving:
        token = serving.token()
        for body in (_small_body(facts["tollgate"]), {"format": "arrow", "limit": 5_000_000}):   # warm-up
            _http(f"{serving.url}/v1/tables/{TABLE}/query", body, token=token)
        results = {}
        for load in loads:
            reset_peak(serving.process.pid)
            stats = run_locust(serving.url, load, duration, facts, serving.client, Path(folder))
            results[load.name] = {**stats, "peak_mb": peak_mb(serving.process.pid)}
            wait_idle(serving.process.pid)
        return results


def _small_body(tollgate: str) -> dict:
    return {"filters": [{"column": "tollgate_id", "op": "eq", "value": tollgate}], "order_by": ["pass_time"],
            "limit": PAGE}


# ---- DuckDB side: the same SQL in a fresh process, paced like the Locust users ----

def _paced(con, sql: str, params: list, load: Load, duration: float, expected: int) -> dict:
    """`load.users` threads, each with its own cursor, each starting a query every users/rate seconds (what
    constant_throughput does), for `duration` seconds: the latencies, the rows returned, the number of results
    whose row count was not `expected`, and the achieved rate as Locust reckons it (requests over the time from
    the start to the last response)."""
    interval = load.users / load.rate
    began = time.perf_counter()
    end = began + duration
    latencies, rows, wrong, last, lock = [], [0], [0], [began], threading.Lock()

    def user() -> None:
        cursor = con.cursor()
        while time.perf_counter() < end:
            sent = time.perf_counter()
            got = cursor.execute(sql, params).to_arrow_table().num_rows
            took = time.perf_counter() - sent
            with lock:
                latencies.append(took)
                rows[0] += got
                wrong[0] += got != expected
                last[0] = max(last[0], sent + took)
            time.sleep(max(0.0, min(interval - took, end - time.perf_counter())))

    threads = [threading.Thread(target=user) for _ in range(load.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(latencies), "failures": wrong[0],
            "achieved_rps": len(latencies) / (last[0] - began) if latencies else 0.0,
            "p50_ms": _nearest_rank(latencies, 0.50), "p99_ms": _nearest_rank(latencies, 0.99),
            "rows": rows[0], "responses": len(latencies)}


def _nearest_rank(seconds: list[float], share: float) -> float:
    ordered = sorted(seconds)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)] * 1000


def duckdb_side(settings, loads: tuple[Load, ...], duration: float, facts: dict) -> dict:
    from safecity.lakehouse.warehouse import connect
    sql = {"small": (f"SELECT * FROM gold.{TABLE} WHERE tollgate_id = ? ORDER BY pass_time LIMIT {PAGE}",
                     [facts["tollgate"]]),
           "export": (f"SELECT * FROM gold.{TABLE}", [])}
    results = {}
    with connect(settings, read_only=True) as con:
        for query, params in sql.values():   # warm-up, as on the service side
            con.cursor().execute(query, params).to_arrow_table()
        for load in loads:
            reset_peak()
            stats = _paced(con, *sql[load.kind], load, duration, facts[f"{load.kind}_rows"])
            results[load.name] = {**stats, "peak_mb": peak_mb()}
    return results


# ---- the run ----

def _with_rows(stats: dict) -> dict:
    """Rows per second over the load's window (rows ÷ requests × achieved rate), and one request's rows per second
    at the median latency (the side's speed, whatever the load)."""
    rows_per_request = stats["rows"] / stats["responses"] if stats["responses"] else 0.0
    return {**stats, "rows_per_s": rows_per_request * stats["achieved_rps"],
            "rows_per_s_per_request": rows_per_request / (stats["p50_ms"] / 1000) if stats["p50_ms"] else 0.0}


def _median(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def summarise(runs: list[dict], loads: tuple[Load, ...]) -> dict:
    figures = {}
    for load in loads:
        sides = {side: _median([_with_rows(run[side][load.name]) for run in runs]) for side in ("service", "duckdb")}
        service, duck = sides["service"], sides["duckdb"]
        figures[load.name] = {
            "kind": load.kind, "target_rps": load.rate, "users": load.users, **sides,
            "ratios": {"p50_service_over_duckdb": service["p50_ms"] / duck["p50_ms"],
                       "p99_service_over_duckdb": service["p99_ms"] / duck["p99_ms"],
                       "rows_per_s_per_request_service_over_duckdb":
                           service["rows_per_s_per_request"] / duck["rows_per_s_per_request"],
                       "peak_mb_service_over_duckdb": service["peak_mb"] / duck["peak_mb"]}}
    return figures


def _duckdb_process(home: Path, duration: float, facts: dict) -> dict:
    run = subprocess.run([sys.executable, "-m", "benchmarks.service", "--home", str(home), "--side", "duckdb",
                          "--duration", str(duration), "--facts", json.dumps(facts)],
                         capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"the DuckDB side failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="A state folder built by `safecity run --home`.")
    parser.add_argument("--runs", type=int, default=3, help="Interleaved runs (medians are reported).")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of each load.")
    parser.add_argument("--out", type=Path, help="Folder for service.json.")
    parser.add_argument("--side", choices=["duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--facts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from safecity.config.profiles import load_settings
    settings = load_settings("local", args.home)
    if args.side:
        print(json.dumps(duckdb_side(settings, LOADS, args.duration, json.loads(args.facts))))
        return
    facts = passes_facts(settings)
    runs = []
    for number in range(args.runs):
        # Alternate which side goes first, so neither always runs on a cooler machine.
        order = ("duckdb", "service") if number % 2 == 0 else ("service", "duckdb")
        run = {}
        for side in order:
            run[side] = (_duckdb_process(args.home, args.duration, facts) if side == "duckdb"
                         else service_side(args.home, LOADS, args.duration, facts))
        runs.append(run)
        print(f"run {number + 1}/{args.runs}: {json.dumps(run)}", file=sys.stderr)
    summary = {"table": f"gold.{TABLE}", **facts, "runs": args.runs, "duration_s": args.duration,
               "loads": summarise(runs, LOADS), "raw_runs": runs}
    print(json.dumps(summary, indent=2))
    write_results(args.out, "service", summary)


if __name__ == "__main__":
    main()
