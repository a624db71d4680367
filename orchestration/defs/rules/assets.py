"""Policies over silver: the batch mode of the rule engine, writing fired actions to the outbox.

Every event in silver of a type some policy reads (safecity.rules.events.silver_events: alarm_received from
silver.alarm_call, camera_health and the camera_down facts from the camera health asset, … whichever silver tables
exist) is streamed in event-time order through the policy set in the supervised worker process; the types no
policy reads (a day's millions of vehicle passes) are only counted, in SQL, and reported as unrouted. Each run reads
silver from the previous run's watermark less the policies' horizons (so windows and statecharts see their
history) and writes the actions triggered after the watermark, with the new watermark in the same commit
(safecity.rules.batch); records whose idempotency key the outbox already holds are not written again.

Events that reach silver after the watermark has passed them are judged against the site's allowed lateness
(safecity.rules.lateness): within it they are evaluated, beyond it they are counted here (late_events_by_type),
logged and kept in ops.late_events.

The asset checks are the engine's health for the Dagster UI (issue #9): rule errors, events no rule handled,
policy versions the supervisor set aside after native crashes (also kept in ops.policy_set_aside), and the
outbox records no sink has taken yet.
"""

from collections import Counter

import dagster as dg

from safecity.orchestration.defs.cameras.assets import SILVER
from safecity.orchestration.defs.events.assets import EVENT_ASSETS
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource, KafkaResource, step_settings
from safecity.rules.batch import SET_ASIDE_TABLE, run_batch
from safecity.rules.engine import EvaluationResult
from safecity.rules.lateness import LATE_EVENTS_TABLE
from safecity.rules.policy_docs import policy_markdown
from safecity.rules.worker import SetAside
from safecity.standards.catalogue import load_catalogue

OUTBOX = dg.AssetKey(["ops", "outbox"])
SHOWN = 20  # errors listed in a check's metadata; the counts cover all of them


class OutboxConfig(dg.Config):
    # Undelivered outbox records above which outbox_backlog warns: the executor (`rules deliver`) is behind.
    backlog_warn: int = 100


# Every silver table the policies read, so that a run evaluates them after the day's ingestion, camera health and
# the event producers.
POLICY_INPUTS = [SILVER] + [dg.AssetKey(["silver", name]) for name in (
    "camera_state", "alarm_call", "case", "vehicle_pass", "traffic_incident", "detector_flow", "duty_roster",
    "maintenance_work_order", "maintenance_budget")] + EVENT_ASSETS


@dg.asset(key=OUTBOX, deps=POLICY_INPUTS, group_name="rules", kinds={"iceberg"}, owners=["team:policy"],
          pool=WAREHOUSE_POOL,
          description="策略触发的动作（发件箱，含策略版本与匹配记录）/ Actions fired by the policies: the outbox, "
                      "with policy version and matched records",
          check_specs=[
              dg.AssetCheckSpec("rule_errors", asset=OUTBOX,
                                description="本次运行无规则错误（动作异常、参数不合规、引擎崩溃）/ No rule errors in this "
                                            "run (action exceptions, invalid rendered parameters, worker crashes)"),
              dg.AssetCheckSpec("unhandled_events", asset=OUTBOX,
                                description="未被任何规则处理的事件数（按类型，仅报告）/ Events no rule handled, by "
                                            "type (reported, never fails)"),
              dg.AssetCheckSpec("policies_set_aside", asset=OUTBOX,
                                description="没有策略版本因引擎崩溃被搁置 / No policy version was set aside after "
                                            "crashing the engine worker"),
              dg.AssetCheckSpec("outbox_backlog", asset=OUTBOX,
                                description="尚未投递的动作不超过门限 / Outbox records not yet delivered to any sink "
                                            "stay below the threshold"),
          ])
def policy_outbox(context: dg.AssetExecutionContext, config: OutboxConfig,
                  catalog: IcebergCatalogResource, kafka: KafkaResource):
    settings = step_settings(catalog, kafka)
    step = run_batch(settings, load_catalogue(settings.city.id), context.run.run_id)
    run, policies = step.run, step.policies
    result, set_aside = run.result, run.set_aside
    by_policy = Counter(r.policy_id for r in result.outbox)
    context.log.info("%d policies, %d events evaluated, %d counted only, %d actions (%d new)", len(policies),
                     run.events, sum(run.counted_by_type.values()), len(result.outbox), len(step.new))
    if run.late or run.late_evaluated_by_type:
        context.log.warning("迟到事件 / late events (allowed lateness %d s): beyond it, kept in %s, not evaluated: "
                            "%s; within it, evaluated: %s", run.lateness, LATE_EVENTS_TABLE, run.late_by_type,
                            run.late_evaluated_by_type)
    yield dg.MaterializeResult(metadata={
        "policies": len(policies),
        "events_evaluated": run.events,
        "watermark": run.watermark.isoformat() if run.watermark else "",
        "previous_watermark": run.previous.isoformat() if run.previous else "",
        "actions_after_previous_watermark": len(run.fresh),
        "actions_fired": len(result.outbox),
        "actions_new": len(step.new),
        "actions_by_policy": dg.MetadataValue.json(dict(by_policy)),
        "actions_throttled": dg.MetadataValue.json(dict(result.throttled)),
        "unhandled_events": dg.MetadataValue.json(result.unhandled_by_type()),
        "rule_errors": len(result.errors),
        "rejected_events": len(result.rejected),
        "events_by_type": dg.MetadataValue.json(run.events_by_type),
        # Types no policy reads are counted in SQL and never reach the engine (see unhandled_events).
        "events_counted_not_evaluated": dg.MetadataValue.json(run.counted_by_type),
        "policies_set_aside": dg.MetadataValue.json([f"{s.policy_id}@{s.policy_version}" for s in set_aside]),
        # 容许迟到 / allowed lateness: events at or before the previous watermark that arrived since the last run.
        "allowed_lateness_seconds": run.lateness,
        "late_events_by_type": dg.MetadataValue.json(run.late_by_type),  # beyond it: kept in ops.late_events
        "late_events_evaluated_by_type": dg.MetadataValue.json(run.late_evaluated_by_type),  # within it
        "late_arrivals_known": run.arrivals_known,
        **policy_pages(policies, result),
    })
    yield rule_errors_check(result)
    yield unhandled_check(result)
    yield set_aside_check(set_aside)
    yield backlog_check(step.undelivered, step.outbox_records, config.backlog_warn)


def policy_pages(policies, result: EvaluationResult) -> dict[str, dg.MetadataValue]:
    """`policy/<id>`: each policy in plain words with its tests and the actions it fired in this run, as the
    catalogue of `safecity rules docs` shows it (its diagram is in the HTML catalogue: the UI renders no SVG)."""
    fired: dict[str, list[dict]] = {}
    for record in result.outbox:
        fired.setdefault(record.policy_id, []).append({"policy_id": record.policy_id, "action": record.action})
    return {f"policy/{loaded.id}": dg.MetadataValue.md(policy_markdown(loaded, fired.get(loaded.id, []),
                                                                      throttled=result.throttled[loaded.id]))
            for loaded in policies}


def rule_errors_check(result: EvaluationResult) -> dg.AssetCheckResult:
    errors = result.errors
    return dg.AssetCheckResult(
        check_name="rule_errors", asset_key=OUTBOX, passed=not errors, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rule_errors": len(errors), "rejected_events": len(result.rejected),
                  "by_code": dg.MetadataValue.json(dict(Counter(e.code for e in errors))),
                  "by_policy": dg.MetadataValue.json(dict(Counter(e.policy_id for e in errors))),
                  "errors": dg.MetadataValue.md("\n".join(
                      f"- {e.policy_id}@{e.policy_version} [{e.code}] {e.partition_key} "
                      f"{','.join(e.event_ids)}: {e.message}" for e in errors[:SHOWN]) or "none")})


def unhandled_check(result: EvaluationResult) -> dg.AssetCheckResult:
    # Unhandled events are normal (most readings break no rule); the counts show a policy that stopped matching.
    return dg.AssetCheckResult(
        check_name="unhandled_events", asset_key=OUTBOX, passed=True,
        metadata={"unhandled_by_type": dg.MetadataValue.json(result.unhandled_by_type()),
                  "unrouted_by_type": dg.MetadataValue.json(dict(result.unrouted)),
                  "unrouted_note": "无策略读取的类型仅计数、未送入引擎 / types no policy reads are counted in SQL, "
                                   "not evaluated",
                  "unhandled_total": sum(result.unhandled.values())})


def set_aside_check(set_aside: list[SetAside]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="policies_set_aside", asset_key=OUTBOX, passed=not set_aside,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"set_aside": dg.MetadataValue.json([
            {"policy_id": s.policy_id, "policy_version": s.policy_version, "policy_file_sha256": s.policy_file_sha256,
             "crashes": s.crashes, "exit_code": s.exit_code, "event_id": s.event_id} for s in set_aside]),
            "table": SET_ASIDE_TABLE})


def backlog_check(backlog: int | None, total: int, threshold: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="outbox_backlog", asset_key=OUTBOX, passed=backlog is None or backlog <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"undelivered": -1 if backlog is None else backlog, "outbox_records": total,
                  "threshold": threshold, "ledger": "present" if backlog is not None else
                  "无投递台账（执行器未运行）/ no delivery ledger: the executor has not run here"})
