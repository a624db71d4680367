"""Delivery in Dagster: the asset ops/action_delivery runs the executor over the outbox and shows, per sink, what
stands delivered, waiting for a retry and dead-lettered; its check fails while anything is in the dead letter.

With no sink configuration it delivers into rules/actions.jsonl in the state folder (no server needed); a site
names its webhooks and topics in a sink file (`sinks:` in the run config, as for `safecity rules deliver`).
"""
from pathlib import Path

import dagster as dg

from safecity.orchestration.defs.rules.assets import OUTBOX
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource, KafkaResource, step_settings
from safecity.rules.delivery import DEAD_LETTER_TABLE, DELIVERY_TABLE, deliver_outbox
from safecity.rules.executor import DEFAULT_CONFIG, load_executor_config

DELIVERY = dg.AssetKey(["ops", "action_delivery"])
SHOWN = 20  # dead letters listed in the check's metadata; the count covers all of them


class DeliveryConfig(dg.Config):
    # Sink configuration (YAML, as for `safecity rules deliver --sinks`); empty: the file sink in the state folder.
    sinks: str = ""


@dg.asset(key=DELIVERY, deps=[OUTBOX], group_name="rules", kinds={"iceberg"}, owners=["team:policy"],
          pool=WAREHOUSE_POOL,
          description="动作投递状态（每个动作、每个投递目标：已投递、待重试、死信）/ Delivery of the outbox's "
                      "actions per sink: delivered, retrying, dead-lettered",
          check_specs=[dg.AssetCheckSpec(
              "dead_letters", asset=DELIVERY,
              description="没有进入死信的动作（投递目标多次拒收的动作需人工处理）/ No action is dead-lettered "
                          "(actions a sink kept refusing wait for staff: `safecity rules dead-letter`)")])
def action_delivery(context: dg.AssetExecutionContext, config: DeliveryConfig,
                    catalog: IcebergCatalogResource, kafka: KafkaResource):
    settings = step_settings(catalog, kafka)
    sinks = load_executor_config(Path(config.sinks)) if config.sinks else DEFAULT_CONFIG
    run = deliver_outbox(settings, sinks)
    by_sink = run.report.by_sink()
    context.log.info("%d outbox records; per sink %s", run.records, by_sink)
    yield dg.MaterializeResult(metadata={
        "outbox_records": run.records,
        "sinks": dg.MetadataValue.json([s.name for s in sinks.sinks]),
        "by_sink": dg.MetadataValue.json(by_sink),
        **{f"{s}/{k}": v for s, counts in by_sink.items() for k, v in counts.items()
           if k in ("delivered", "retrying", "dead_letter")},
        "delivered": sum(c["delivered"] for c in by_sink.values()),
        "retrying": sum(c["retrying"] for c in by_sink.values()),
        "dead_letter": sum(c["dead_letter"] for c in by_sink.values()),
        "table": DELIVERY_TABLE,
    })
    dead = run.dead_letters.to_pylist()
    yield dg.AssetCheckResult(
        check_name="dead_letters", asset_key=DELIVERY, passed=not dead, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dead_letters": len(dead), "table": DEAD_LETTER_TABLE,
                  "listed": dg.MetadataValue.md("\n".join(
                      f"- {r['sink']} {r['policy_id']} {r['action']} `{r['idempotency_key'][:16]}` "
                      f"({r['attempts']} attempts): {r['last_error']}" for r in dead[:SHOWN]) or "none"),
                  "remedy": "safecity rules dead-letter list / retry --all"})
