"""The event producers step (事件生成): the events the policies read, derived from the day's silver tables the way
the bureau's systems emit them live, written back to silver (one table per event type, replaced in one commit
each), where the rule engine's batch mode reads them (safecity.rules.events).

Each producer owns one family of events and names the tables it needs (silver, or the data service's audit in ops);
a producer whose inputs a site does not have is skipped (its tables are left as they were), so a site without
rosters still gets its incidents. The
camera_health events and camera_down facts have their own step (camera_health.py): they come from the camera
state machine.

Every event row carries `_batch_id` and `_line`, which make the event id (`_batch_id:_line`) that outbox records
name; they are built from the subject and the moment, never from load order, so a rerun, another day's run and the
live producers give the same event the same id (and so the same idempotency keys).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Mapping

import duckdb
import pyarrow as pa

from safecity.analytics.access_events import SOURCES as ACCESS_SOURCES, access_events
from safecity.analytics.congestion_events import congestion_events
from safecity.analytics.incident_events import incident_events
from safecity.analytics.network_events import link_load_events, network_outage_events
from safecity.analytics.support_events import support_events
from safecity.config.profiles import CityProfile, Settings
from safecity.lakehouse.catalog import open_catalog, replace_rows
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect

# (connection, city, as_of, the published tables the registry found: namespace.table) -> event tables
Producer = Callable[[duckdb.DuckDBPyConnection, CityProfile, dt.datetime, frozenset[str]],
                    Mapping[str, pa.Table]]


@dataclass(frozen=True)
class EventProducer:
    name: str
    name_zh: str
    inputs: tuple[str, ...]  # the lakehouse tables it reads (namespace.table); all must exist, or one with any_of
    produces: tuple[str, ...]  # event types (silver tables) it writes
    derive: Producer
    any_of: bool = False


PRODUCERS: tuple[EventProducer, ...] = (
    EventProducer("incidents", "警情与事件", ("silver.alarm_call", "silver.traffic_incident"),
                  ("incident_reported", "incident_assessed", "incident_closed"), incident_events, any_of=True),
    EventProducer("support", "勤务与运维保障",
                  ("silver.duty_roster", "silver.maintenance_work_order", "silver.maintenance_budget"),
                  ("duty_gap", "work_order_overdue", "budget_consumed"), support_events),
    EventProducer("congestion", "路口拥堵", ("silver.detector", "silver.detector_flow"), ("congestion_reading",),
                  congestion_events),
    EventProducer("access", "数据访问审计", tuple(ACCESS_SOURCES), ("data_access",), access_events, any_of=True),
    # The network step (analytics/network_health.py) writes the states and causes these read.
    EventProducer("network_outage", "网络中断",
                  ("silver.link_state", "silver.node_state", "silver.camera_outage_cause", "silver.network_link",
                   "silver.network_node", "silver.network_attachment", "silver.camera"),
                  ("network_outage",), network_outage_events),
    EventProducer("link_load", "链路负载",
                  ("silver.link_utilisation", "silver.network_link", "silver.network_node",
                   "silver.network_attachment", "silver.camera"),
                  ("link_load",), link_load_events),
)
EVENT_TABLES = tuple(name for producer in PRODUCERS for name in producer.produces)


@dataclass(frozen=True)
class PolicyEventsReport:
    rows: dict[str, int]  # event type -> events written
    skipped: dict[str, tuple[str, ...]]  # producer -> the tables it lacked

    def markdown(self) -> str:
        lines = ["| 事件 event | 条数 rows |", "|---|---|"] + [f"| {n} | {r:,} |" for n, r in self.rows.items()]
        lines += [f"\n未运行 / skipped: {p} (缺少 / missing {', '.join(m)})"
                  for p, m in self.skipped.items()]
        return "\n".join(lines)


def refresh_policy_events(settings: Settings, as_of: dt.datetime | None = None,
                          producers: tuple[EventProducer, ...] = PRODUCERS) -> PolicyEventsReport:
    """Derive every producer's events from the whole of silver and replace their tables.

    as_of: the data's "now" (the landing clock of a replayed day; the wall clock when None), for what is judged
    against the present, such as a work order still open past its deadline."""
    now = as_of or dt.datetime.now(dt.timezone.utc)
    catalog = open_catalog(settings)
    rows: dict[str, int] = {}
    skipped: dict[str, tuple[str, ...]] = {}
    with connect(settings) as con:
        present = frozenset(publish_views(con, catalog, ("silver", "ops")))
        for producer in producers:
            missing = tuple(t for t in producer.inputs if t not in present)
            if missing and (not producer.any_of or len(missing) == len(producer.inputs)):
                skipped[producer.name] = missing
                continue
            for name, table in producer.derive(con, settings.city, now, present).items():
                replace_rows(catalog, f"silver.{name}", table, unless_equal_by=("_batch_id", "_line"))
                rows[name] = table.num_rows
        publish_views(con, catalog, ("silver",))
    return PolicyEventsReport(rows, skipped)
