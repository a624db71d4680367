"""The network health step: link and node states and link utilisation (analytics/network_state), derived from the
network registries and telemetry in silver in one pass on the warehouse connection and written back to silver. It
needs no camera state, so it runs before the camera health step, which derives the root cause of every camera outage
(analytics/network_cause, silver.camera_outage_cause) from these states right after its state machine. A site
without the network registries (the real-data sites have no network files) is skipped, not failed: the derived
tables are made empty (ensure_network_tables) when absent, so the dbt models that read them build on every site."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from safecity.analytics.camera_state import heartbeats_end, stage_heartbeats
from safecity.analytics.network_state import REGISTRIES, derive_network_state, stage_telemetry, stage_topology
from safecity.config.profiles import Settings
from safecity.lakehouse.catalog import ensure_table, open_catalog, replace_rows
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect

# Each table with the columns that identify its rows: a rerun over unchanged silver writes no new snapshot.
TABLES = {"silver.link_state": ("link_id", "since"), "silver.node_state": ("node_id", "since"),
          "silver.link_utilisation": ("link_id", "minute")}
# The outage causes are the camera health step's (analytics/camera_health), keyed alike.
CAUSE_TABLE, CAUSE_KEY = "silver.camera_outage_cause", ("camera_id", "since")
_TEXT, _TIME, _NUMBER = pa.string(), pa.timestamp("us"), pa.float64()
_STAY = [("state", _TEXT), ("state_zh", _TEXT), ("since", _TIME), ("until", _TIME), ("reason", _TEXT),
         ("reason_zh", _TEXT), ("reason_en", _TEXT), ("evidence", _TEXT), ("last_evidence_at", _TIME)]
# The tables' columns as the derivation writes them (tests/analytics check the two agree), for a site without them.
SCHEMAS = {
    "silver.link_state": pa.schema([("link_id", _TEXT), *_STAY]),
    "silver.node_state": pa.schema([("node_id", _TEXT), *_STAY]),
    "silver.link_utilisation": pa.schema([("link_id", _TEXT), ("minute", _TIME), ("in_mbps", _NUMBER),
                                          ("out_mbps", _NUMBER), ("utilisation", _NUMBER)]),
    "silver.camera_outage_cause": pa.schema([("camera_id", _TEXT), ("since", _TIME), ("until", _TIME),
                                             ("cause_element_type", _TEXT), ("cause_element_id", _TEXT),
                                             ("contractor", _TEXT), ("reason_zh", _TEXT), ("reason_en", _TEXT)]),
}


def ensure_network_tables(catalog) -> list[str]:
    """The four derived tables (this step's and the outage causes), made empty where absent (a site without network
    registries, or before the first network step): the dbt sources name them. Returns the tables made."""
    made = [name for name in SCHEMAS if not catalog.table_exists(name)]
    for name in made:
        ensure_table(catalog, name, SCHEMAS[name])
    return made


@dataclass(frozen=True)
class NetworkStateReport:
    skipped: tuple[str, ...]                # the registries the site lacks (nothing derived then)
    rows: dict[str, int]                    # rows written per table


def refresh_network_state(settings: Settings) -> NetworkStateReport:
    """Derive the network's state from the whole history in silver and replace the three derived tables (one commit
    each); skipped (report.skipped names what is missing) without the registries."""
    catalog = open_catalog(settings)
    with connect(settings) as con:
        present = set(publish_views(con, catalog, ("silver",)))
        missing = tuple(t for t in REGISTRIES if t not in present)
        if missing:
            if ensure_network_tables(catalog):
                publish_views(con, catalog, ("silver",))
            return NetworkStateReport(missing, {})
        stage_topology(con)
        stage_telemetry(con, settings.city.timezone, present)
        as_of = _as_of(con, settings.city.timezone, present)
        derived = {f"silver.{name}": rows for name, rows in derive_network_state(con, as_of).items()}
        for name, rows in derived.items():
            replace_rows(catalog, name, rows, unless_equal_by=TABLES[name])
        publish_views(con, catalog, ("silver",))
    return NetworkStateReport((), {n: r.num_rows for n, r in derived.items()})


def _as_of(con, timezone: str, present: set[str]):
    """The end of the evidence: the last keepalive or status message (the camera state machine's as_of, which runs
    after this step) and the last telemetry, whichever is later (None: the state machine takes its last telemetry).
    Read from the status feed itself, not silver.camera_state, which is the previous run's here."""
    camera = None
    if "silver.device_status" in present:
        stage_heartbeats(con, timezone)
        camera = heartbeats_end(con)
    telemetry = con.execute("SELECT greatest((SELECT max(t) FROM if_status), (SELECT max(t) FROM if_counter), "
                            "(SELECT max(t) FROM probe))").fetchone()[0]
    known = [t for t in (camera, telemetry) if t is not None]
    return max(known) if known else None
