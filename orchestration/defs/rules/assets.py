"""Policies over silver: the batch mode of the rule engine, writing fired actions to the outbox.

Every event in silver (safecity.rules.events.silver_events: camera_registered from silver.camera, alarm_received
from silver.alarm_call, camera_health and the camera_down facts from the camera health asset, … whichever silver
tables exist) runs in event-time order through the policy
set in the supervised worker process. The whole history is evaluated each time, so windows and statecharts see
earlier events; records whose idempotency key the outbox already holds are not written again.
"""

import hashlib
from collections import Counter

import dagster as dg

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import append_once, ensure_table, open_catalog, publish_views
from safecity.orchestration.defs.cameras.assets import SILVER
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource
from safecity.rules.engine import utc_now
from safecity.rules.events import fact_types, silver_events
from safecity.rules.loader import POLICIES_DIR, load_policies
from safecity.rules.outbox import OUTBOX_SCHEMA, to_arrow
from safecity.rules.worker import evaluate_supervised
from safecity.standards.catalogue import load_catalogue

OUTBOX = dg.AssetKey(["ops", "outbox"])
OUTBOX_TABLE = "ops.outbox"


@dg.asset(key=OUTBOX, deps=[SILVER], group_name="rules", kinds={"iceberg"}, owners=["team:policy"],
          pool=WAREHOUSE_POOL,
          description="策略触发的动作（发件箱，含策略版本与匹配记录）/ Actions fired by the policies: the outbox, "
                      "with policy version and matched records")
def policy_outbox(context: dg.AssetExecutionContext, safecity: SafeCityResource) -> dg.MaterializeResult:
    settings = safecity.settings()
    catalogue = load_catalogue(settings.city.id)
    policies = load_policies(POLICIES_DIR)
    with connect(settings, read_only=True) as con:
        events = silver_events(con, catalogue, facts=fact_types(policies))
    # spawn, not fork: the Dagster process runs threads, and a forked child could inherit a held lock.
    result, set_aside = evaluate_supervised(policies, events, clock=utc_now, start_method="spawn")
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
        "events_by_type": dg.MetadataValue.json(dict(Counter(e["type"] for e in events))),
        "policies_set_aside": dg.MetadataValue.json([f"{s.policy_id}@{s.policy_version}" for s in set_aside]),
    })
