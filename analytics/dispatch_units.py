"""Call-level response intervals from the dispatched units of a call (silver.dispatched_unit): NFPA 1710 and the
reference CAD systems time a call by its FIRST dispatched unit and its FIRST unit on scene, whichever rows of the
export they are on. Taking one row per call (the file's first, or any one) makes the intervals those of an arbitrary
unit: longer, and the share on scene within a target lower.

Percentiles are nearest rank (DuckDB `quantile_disc`: the ceil(p·n)-th smallest value), as in the dbt marts
(transforms/macros/safecity_var.sql `nearest_rank`). A unit's time that a soft check left out (NULL in silver, an
arrival before its dispatch) does not count as that unit's arrival.
"""
from __future__ import annotations

from dataclasses import dataclass

from safecity.standards.conform import quote

PERCENTILE_METHOD = "nearest_rank"


def first_unit_calls_sql(units: str) -> str:
    """One row per call over `units` (the columns of silver.dispatched_unit): the first dispatched, en route and
    arriving unit's times, the units sent and the intervals in seconds."""
    return (
        f"SELECT call_id, count(DISTINCT unit_id) AS units, min(dispatched_at) AS first_dispatched_at, "
        f"min(enroute_at) AS first_enroute_at, min(arrived_at) AS first_arrived_at, "
        f"date_diff('second', min(dispatched_at), min(enroute_at)) AS dispatched_to_enroute_s, "
        f"date_diff('second', min(dispatched_at), min(arrived_at)) AS dispatched_to_arrived_s "
        f"FROM {units} GROUP BY call_id")


@dataclass(frozen=True)
class ResponseKpis:
    calls: int
    units: int
    arrived_calls: int
    dispatched_to_arrived_p50_s: int | None
    dispatched_to_arrived_p90_s: int | None
    dispatched_to_enroute_p50_s: int | None
    dispatched_to_enroute_p90_s: int | None
    on_scene_within_share: float | None
    within_minutes: int


def response_kpis(con, units: str, within_minutes: int = 5) -> ResponseKpis:
    """The KPIs of the calls in `units`: nearest-rank P50/P90 of dispatched→first on scene and dispatched→first en
    route, and the share of calls with an arrival whose first unit was on scene within `within_minutes`."""
    limit = within_minutes * 60
    row = con.execute(
        f"SELECT count(*), sum(units), count(dispatched_to_arrived_s), "
        f"quantile_disc(dispatched_to_arrived_s, 0.5), quantile_disc(dispatched_to_arrived_s, 0.9), "
        f"quantile_disc(dispatched_to_enroute_s, 0.5), quantile_disc(dispatched_to_enroute_s, 0.9), "
        f"count(*) FILTER (WHERE dispatched_to_arrived_s <= {limit}) / nullif(count(dispatched_to_arrived_s), 0) "
        f"FROM ({first_unit_calls_sql(units)})").fetchone()
    return ResponseKpis(row[0], int(row[1] or 0), row[2], *row[3:8], within_minutes)


def silver_units(con, table) -> str:
    """Registers the rows of an Iceberg table (silver.dispatched_unit) on `con` as `dispatched_units`."""
    con.register("dispatched_units", table.scan().to_arrow())
    return quote("dispatched_units")
