"""Data service benchmark (`python -m benchmarks.service --home STATE`): the service on uvicorn against the same
queries run directly in DuckDB, in the same run.

  small   a filtered page: passes of one tollgate on gold.fct_vehicle_passes, 100 rows as JSON
  export  the whole table as an Arrow IPC stream

Each side runs in a fresh process (so its peak memory is its own): the service side starts uvicorn on a loopback
port and a thread pool of clients sends a fixed number of requests at a fixed concurrency; the DuckDB side runs
the same SQL over the same gold views (lakehouse.warehouse.connect, read-only). STATE is a state folder already
built by `safecity run --home STATE`. A thread pool stands in for locust (locust's gevent patching would have to
run as a process of its own; these figures need none of its ramp-up features).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.harness import write_results

TABLE = "fct_vehicle_passes"
REQUESTS = {"small": 200, "export": 10}
CONCURRENCY = 4


def _percentiles(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[min(len(ordered) - 1,
                                                                                int(len(ordered) * 0.99))] * 1000}


def _measure(name: str, call, count: int) -> dict:
    began = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda _: call(), range(count)))
    wall = time.perf_counter() - began
    return {"query": name, "requests": count, **_percentiles([r[0] for r in results]),
            "rows_per_s": sum(r[1] for r in results) / wall}


def _tollgate(settings) -> str:
    from safecity.lakehouse.catalog import open_catalog
    passes = open_catalog(settings).load_table(f"gold.{TABLE}").scan(selected_fields=("tollgate_id",)).to_arrow()
    return passes["tollgate_id"][0].as_py()


def run_service(settings) -> list[dict]:
    import pyarrow as pa

    from safecity.lakehouse.catalog import open_catalog
    from safecity.service.app import create_app
    from safecity.service.clients import Client, hash_secret
    from tests.service.server import Running
    client = Client(id="benchmark", name_zh="基准", name_en="benchmark", secret_hash=hash_secret("benchmark"),
                    tables=["*"], level="city", clearance="internal", requests_per_minute=10_000_000)
    tollgate = _tollgate(settings)
    with Running(create_app(open_catalog(settings), {"benchmark": client}, "benchmark-key-" + "b" * 32)) as server:
        token = server.token("benchmark", "benchmark")

        def post(body: dict) -> tuple[float, bytes]:
            began = time.perf_counter()
            request = urllib.request.Request(f"{server.url}/v1/tables/{TABLE}/query", json.dumps(body).encode(),
                                             {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=600) as response:
                content = response.read()
            return time.perf_counter() - began, content

        def small():
            seconds, content = post({"filters": [{"column": "tollgate_id", "op": "eq", "value": tollgate}],
                                     "order_by": ["pass_time"], "limit": 100})
            return seconds, len(json.loads(content)["rows"])

        def export():
            seconds, content = post({"format": "arrow", "limit": 5_000_000})
            return seconds, pa.ipc.open_stream(content).read_all().num_rows

        return [_measure("small", small, REQUESTS["small"]), _measure("export", export, REQUESTS["export"])]


def run_duckdb(settings) -> list[dict]:
    from safecity.lakehouse.warehouse import connect
    tollgate = _tollgate(settings)
    with connect(settings, read_only=True) as con:
        def query(sql, params):
            began = time.perf_counter()
            rows = con.cursor().execute(sql, params).fetch_arrow_table().num_rows
            return time.perf_counter() - began, rows
        small = (f"SELECT * FROM gold.{TABLE} WHERE tollgate_id = ? ORDER BY pass_time LIMIT 100", [tollgate])
        export = (f"SELECT * FROM gold.{TABLE}", [])
        return [_measure("small", lambda: query(*small), REQUESTS["small"]),
                _measure("export", lambda: query(*export), REQUESTS["export"])]


def _side(side: str, home: Path) -> dict:
    run = subprocess.run([sys.executable, "-m", "benchmarks.service", "--home", str(home), "--side", side],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="A state folder built by `safecity run --home`.")
    parser.add_argument("--side", choices=["service", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="Folder for service.json.")
    args = parser.parse_args()
    from safecity.config.profiles import load_settings
    if args.side:
        settings = load_settings("local", args.home)
        queries = run_service(settings) if args.side == "service" else run_duckdb(settings)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"side": args.side, "peak_mb": peak, "queries": queries}))
        return
    sides = {side: _side(side, args.home) for side in ("duckdb", "service")}
    summary = {"sides": sides, "ratios": {}}
    for index, name in enumerate(("small", "export")):
        service, duck = sides["service"]["queries"][index], sides["duckdb"]["queries"][index]
        summary["ratios"][name] = {"p50_service_over_duckdb": service["p50_ms"] / duck["p50_ms"],
                                   "rows_per_s_service_over_duckdb": service["rows_per_s"] / duck["rows_per_s"]}
    print(json.dumps(summary, indent=2))
    write_results(args.out, "service", summary)


if __name__ == "__main__":
    main()
