"""Events of the support system behind the camera network (保障体系事件) for the security pack's policies, from the
rosters, work orders and budgets in silver:

- duty_gap: a shift with fewer officers on duty than it requires, at the shift's start (the roll call finds it);
- work_order_overdue: a work order finished after its deadline, at its closing, or still open past its deadline at
  `as_of`, with the hours it is late by then (one event per order: its id does not change while it stays open, so
  a policy acts on it once);
- budget_consumed: a district's spending of the year after each paid work order closes (the running total against
  the district's budget for that year), so crossing 90 % and 100 % of the budget is seen when it happens.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from safecity.config.profiles import CityProfile


def support_events(con: duckdb.DuckDBPyConnection, city: CityProfile, as_of: dt.datetime,
                   present: frozenset[str] = frozenset()) -> dict[str, pa.Table]:
    gaps = con.execute("""
        SELECT unit_code, shift_name, shift_start, officers_required, officers_on_duty, shift_start AS ts,
               'duty_gap:' || unit_code AS _batch_id, CAST(epoch(shift_start) AS BIGINT) AS _line
        FROM silver.duty_roster
        WHERE officers_on_duty < officers_required AND shift_start IS NOT NULL
        ORDER BY ts, unit_code""").to_arrow_table()
    overdue = con.execute("""
        WITH judged AS (
            SELECT work_order_id, device_id, point_level, due_at,
                   coalesce(closed_at, CAST(? AS TIMESTAMPTZ)) AS finished
            FROM silver.maintenance_work_order
            WHERE due_at IS NOT NULL AND (closed_at IS NOT NULL OR due_at < CAST(? AS TIMESTAMPTZ)))
        SELECT work_order_id, device_id, point_level,
               round(epoch(finished - due_at) / 3600, 1)::DOUBLE AS hours_overdue, finished AS ts,
               'work_order_overdue:' || work_order_id AS _batch_id, 0::BIGINT AS _line
        FROM judged WHERE finished > due_at
        ORDER BY ts, work_order_id""", [as_of, as_of]).to_arrow_table()
    zone = city.timezone
    consumed = con.execute(f"""
        WITH paid AS (
            SELECT work_order_id, division_code, closed_at, cost,
                   CAST(year(timezone('{zone}', closed_at)) AS INTEGER) AS year
            FROM silver.maintenance_work_order
            WHERE closed_at IS NOT NULL AND cost IS NOT NULL AND division_code IS NOT NULL),
        running AS (
            SELECT *, sum(cost) OVER (PARTITION BY division_code, year ORDER BY closed_at, work_order_id
                                      ROWS UNBOUNDED PRECEDING) AS spent
            FROM paid)
        SELECT r.division_code, r.year, round(r.spent, 2)::DOUBLE AS spent, b.budget_amount::DOUBLE AS budget,
               round(r.spent / b.budget_amount, 4)::DOUBLE AS ratio, r.closed_at AS ts,
               'budget_consumed:' || r.work_order_id AS _batch_id, 0::BIGINT AS _line
        FROM running r
        JOIN silver.maintenance_budget b ON b.division_code = r.division_code AND b.year = r.year
        WHERE b.budget_amount > 0
        ORDER BY ts, r.division_code""").to_arrow_table()
    return {"duty_gap": gaps, "work_order_overdue": overdue, "budget_consumed": consumed}
