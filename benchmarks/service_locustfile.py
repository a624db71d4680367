"""Locust users for the data service benchmark (benchmarks/service.py runs this file as a process of its own:
locust monkey-patches the standard library with gevent, so it is never imported into the service or the tests).

  SmallQuery   a page of one tollgate's passes, JSON (request name "small")
  Export       the whole table as an Arrow IPC stream (request name "export")

Each user gets its own token through the service's OAuth2 client-credentials endpoint (client id `--client-id`,
secret from the environment variable SAFECITY_BENCH_SECRET, so it never shows in a process list), then sends its
query at `--user-rate` requests per second (locust's constant_throughput): the load is fixed, latency is measured
at a known rate, not at saturation. A response whose row count differs from `--expect-small-rows` /
`--expect-export-rows` counts as a failure in locust's statistics.

When locust quits (users stopped, statistics final) `--summary-out` gets, per request name, locust's own figures
(request and failure counts, p50 and p99 from its response-time histogram, achieved rate) and the rows the users
received with the number of responses they counted them in. Not the `--csv` files: locust writes those every
second, so the last second of a run is missing from them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
from locust import FastHttpUser, events, task
from locust.user.wait_time import constant_throughput

ENVIRONMENT = None
RECEIVED = {"small": {"rows": 0, "responses": 0}, "export": {"rows": 0, "responses": 0}}


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--client-id", default="benchmark", help="Service client to take a token for.")
    parser.add_argument("--table", default="fct_vehicle_passes", help="Gold table to query.")
    parser.add_argument("--tollgate", default="", help="tollgate_id of the small query's filter.")
    parser.add_argument("--page", type=int, default=100, help="Rows per small query (JSON page).")
    parser.add_argument("--user-rate", type=float, default=1.0, help="Requests per second of each user.")
    parser.add_argument("--expect-small-rows", type=int, default=-1, help="Rows each small query must return.")
    parser.add_argument("--expect-export-rows", type=int, default=-1, help="Rows each export must return.")
    parser.add_argument("--summary-out", default="", help="JSON file for the run's figures per request name.")


@events.init.add_listener
def _keep(environment, **_) -> None:
    global ENVIRONMENT
    ENVIRONMENT = environment


@events.quit.add_listener
def _write_summary(**_) -> None:
    """Fired by locust's shutdown after the runner has quit."""
    target = ENVIRONMENT.parsed_options.summary_out
    if not target:
        return
    summary = {}
    for entry in ENVIRONMENT.stats.entries.values():
        summary[entry.name] = {
            "requests": entry.num_requests, "failures": entry.num_failures, "achieved_rps": entry.total_rps,
            "p50_ms": entry.get_response_time_percentile(0.5), "p99_ms": entry.get_response_time_percentile(0.99),
            **RECEIVED.get(entry.name, {})}
    Path(target).write_text(json.dumps(summary))


class _ServiceUser(FastHttpUser):
    abstract = True
    kind = ""

    def wait_time(self) -> float:
        # constant_throughput keeps its clock on the user, so a fresh function per call paces the same.
        return constant_throughput(self.environment.parsed_options.user_rate)(self)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        form = (f"grant_type=client_credentials&client_id={options.client_id}"
                f"&client_secret={os.environ['SAFECITY_BENCH_SECRET']}")
        with self.client.post("/oauth/token", data=form, name="token", catch_response=True,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            if response.status_code != 200:
                response.failure(f"token: HTTP {response.status_code} {response.text[:200]}")
                raise RuntimeError("the benchmark client got no token")
            self.token = response.json()["access_token"]

    def query(self, body: dict, count_rows) -> None:
        options = self.environment.parsed_options
        expected = getattr(options, f"expect_{self.kind}_rows")
        with self.client.post(f"/v1/tables/{options.table}/query", json=body, name=self.kind, catch_response=True,
                              headers={"Authorization": f"Bearer {self.token}"}) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} {response.text[:200]}")
                return
            rows = count_rows(response.content)
            RECEIVED[self.kind]["rows"] += rows
            RECEIVED[self.kind]["responses"] += 1
            if expected >= 0 and rows != expected:
                response.failure(f"{rows} rows, expected {expected}")


class SmallQuery(_ServiceUser):
    kind = "small"

    @task
    def small(self) -> None:
        options = self.environment.parsed_options
        self.query({"filters": [{"column": "tollgate_id", "op": "eq", "value": options.tollgate}],
                    "order_by": ["pass_time"], "limit": options.page},
                   lambda content: len(json.loads(content)["rows"]))


class Export(_ServiceUser):
    kind = "export"

    @task
    def export(self) -> None:
        self.query({"format": "arrow", "limit": 5_000_000},
                   lambda content: pa.ipc.open_stream(content).read_all().num_rows)
