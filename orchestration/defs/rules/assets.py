"""Policies over silver: the batch mode of the rule engine, writing fired actions to the outbox."""

import datetime as dt
import hashlib
from collections import Counter

import dagster as dg

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import append_once, ensure_table, open_catalog, publish_views
from safecity.orchestration.defs.cameras.assets import SILVER
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource
from safecity.rules.engine import evaluate
from safecity.rules.loader import POLICIES_DIR, load_policies
from safecity.rules.outbox import OUTBOX_SCHEMA, to_arrow
from safecity.standards.catalogue import load_catalogue

OUTBOX = dg.AssetKey(["ops", "outbox"])
OUTBOX_TABLE = "ops.outbox"


def camera_events(con, catalogue) -> list[dict]:
    """camera_registered events, one per silver row, identified by the row's batch and line."""
    fields = [e.id for e in catalogue.event_fields("camera_registered")]
    cursor = con.execute(f"SELECT {', '.join(fields)}, _batch_id, _line FROM silver.camera ORDER BY _batch_id, _line")
    names = [d[0] for d in cursor.description]
    events = []
    for row in cursor.fetchall():
        record = dict(zip(names, row))
        event_id = f"{record.pop('_batch_id')}:{record.pop('_line')}"
        events.append({"type": "camera_registered", "id": event_id, **record})
    return events


@dg.asset(key=OUTBOX, deps=[SILVER], group_name="rules", kinds={"iceberg"}, owners=["team:policy"],
          pool=WAREHOUSE_POOL,
          description="策略触发的动作（发件箱，含策略版本与匹配记录）/ Actions fired by the policies: the outbox, "
                      "with policy version and matched records")
def policy_outbox(context: dg.AssetExecutionContext, safecity: SafeCityResource) -> dg.MaterializeResult:
    settings = safecity.settings()
    catalogue = load_catalogue(settings.city.id)
    policies = load_policies(POLICIES_DIR)
    with connect(settings, read_only=True) as con:
        events = camera_events(con, catalogue)
    result = evaluate(policies, events, clock=lambda: dt.datetime.now(dt.timezone.utc))
    catalog = open_catalog(settings)
    outbox = ensure_table(catalog, OUTBOX_TABLE, OUTBOX_SCHEMA)
    recorded = set(outbox.scan(selected_fields=("idempotency_key",)).to_arrow().column("idempotency_key").to_pylist())
    new = [r for r in result.outbox if r.idempotency_key not in recorded]
    if new:
        batch = hashlib.sha256("\n".join(sorted(r.idempotency_key for r in new)).encode()).hexdigest()[:32]
        append_once(outbox, to_arrow(new), f"rules:{batch}")
    with connect(settings) as con:
        publish_views(con, catalog, ("ops",))
    by_policy = Counter(r.policy_id for r in result.outbox)
    context.log.info("%d policies, %d events, %d actions (%d new)", len(policies), len(events),
                     len(result.outbox), len(new))
    return dg.MaterializeResult(metadata={
        "policies": len(policies),
        "events_evaluated": len(events),
        "actions_fired": len(result.outbox),
        "actions_new": len(new),
        "actions_by_policy": dg.MetadataValue.json(dict(by_policy)),
        "unhandled_events": dg.MetadataValue.json(result.unhandled_by_type()),
        "rule_errors": len(result.errors),
        "rejected_events": len(result.rejected),
    })
