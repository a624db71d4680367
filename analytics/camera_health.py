"""The camera health step: every camera's state and state changes, the root cause of each offline stay
(silver.camera_outage_cause, from the link and node states the network step wrote before it), and the camera_health /
camera_down events the rule engine reads with that cause, derived from silver in one pass on the warehouse
connection and written back to silver. Without the network registries and states (the real-data sites) there are no
causes: the events' cause fields are null and the cause table stays (or is made) empty."""
from __future__ import annotations

from dataclasses import dataclass

from safecity.analytics.camera_events import health_events
from safecity.analytics.camera_state import derive_states, stage_silver_inputs
from safecity.analytics.network_cause import outage_causes
from safecity.analytics.network_health import CAUSE_KEY, CAUSE_TABLE, ensure_network_tables
from safecity.config.profiles import Settings
from safecity.lakehouse.catalog import open_catalog, replace_rows
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.standards.catalogue import Catalogue

STATE_TABLE, CHANGES_TABLE = "silver.camera_state", "silver.camera_state_change"
EVENT_TABLES = ("silver.camera_health", "silver.camera_down")


@dataclass(frozen=True)
class CameraHealthReport:
    keepalive_seconds: int
    messages: int                           # keepalive and status messages read
    devices: int                            # devices in the registry
    rows: dict[str, int]                    # rows written per table
    by_state: list[tuple[str, str, int]]    # (state, Chinese name, cameras), most frequent first
    causes: list[tuple[str, int]] | None    # (cause element type, outages), most frequent first; None: no network

    def by_state_markdown(self) -> str:
        return "| 状态 state | 说明 | 设备 devices |\n|---|---|---|\n" + "\n".join(
            f"| {state} | {zh} | {n:,} |" for state, zh, n in self.by_state)

    def causes_markdown(self) -> str:
        return "| 原因 cause | 离线次数 outages |\n|---|---|\n" + "\n".join(
            f"| {kind} | {n:,} |" for kind, n in self.causes or [])


def refresh_camera_health(settings: Settings, catalogue: Catalogue, *, keepalive_seconds: int = 0,
                          misses: int = 3) -> CameraHealthReport:
    """Derive camera state from the whole history in silver and replace the derived tables (one commit each): the
    state, its changes, the outage causes (where silver has the network's state) and the two event tables.

    keepalive_seconds: the feed's keepalive interval; 0 = the median spacing of keepalives in the data (60 s for a
    GB/T 28181 platform, the summary step for a summarised feed). misses: keepalives missed before offline."""
    defects = {c.code: (c.name_zh, c.name_en) for c in catalogue.code_tables["vqd_item"].codes}
    catalog = open_catalog(settings)
    with connect(settings) as con:
        present = set(publish_views(con, catalog, ("silver",)))
        feed = stage_silver_inputs(con, settings.city.timezone)
        interval = keepalive_seconds or feed.keepalive_seconds
        states = derive_states(con, interval_seconds=interval, misses=misses, has_previous=feed.has_previous,
                               defect_names=defects)
        causes = outage_causes(con, present)
        events = health_events(con, settings.city, causes=causes is not None)
        messages, devices = con.execute("SELECT (SELECT count(*) FROM heartbeats_in), "
                                        "(SELECT count(*) FROM registry_in)").fetchone()
        by_state = con.execute("SELECT state, state_zh, count(*) FROM state_current GROUP BY ALL "
                               "ORDER BY 3 DESC, 1").fetchall()
        by_cause = None if causes is None else con.execute(
            "SELECT cause_element_type, count(*) FROM outage_cause GROUP BY ALL ORDER BY 2 DESC, 1").fetchall()
        derived = {STATE_TABLE: states.current, CHANGES_TABLE: states.changes,
                   **{f"silver.{name}": rows for name, rows in events.items()}}
        for name, rows in derived.items():
            replace_rows(catalog, name, rows)
        if causes is None:
            ensure_network_tables(catalog)      # the dbt models read the (empty) cause table on every site
        else:
            replace_rows(catalog, CAUSE_TABLE, causes, unless_equal_by=CAUSE_KEY)
            derived[CAUSE_TABLE] = causes
        # The warehouse's views follow the new snapshots: dbt reads these tables next.
        publish_views(con, catalog, ("silver",))
    return CameraHealthReport(interval, messages, devices, {n: r.num_rows for n, r in derived.items()}, by_state,
                              by_cause)
