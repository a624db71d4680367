"""Camera health: video quality diagnosis of the snapshots in landing, the network's state (analytics/network_health),
and every camera's state from keepalives, the catalog and the diagnoses with the root cause of each camera outage
(analytics/camera_health, after the network's state: the cause is the highest failed element above the camera)."""

import dagster as dg

from safecity.analytics.camera_health import CHANGES_TABLE, STATE_TABLE, refresh_camera_health
from safecity.analytics.network_health import CAUSE_TABLE, TABLES as NETWORK_TABLES, refresh_network_state
from safecity.analytics.network_state import REGISTRIES, TELEMETRY
from safecity.ingestion.video_quality.landing_batch import TABLE, diagnose_new_snapshots
from safecity.orchestration.resources import WAREHOUSE_POOL, IcebergCatalogResource
from safecity.standards.catalogue import load_catalogue

OWNERS = ["team:data-platform"]
DIAGNOSIS = dg.AssetKey(["silver", "snapshot_diagnosis"])
BASELINE = dg.AssetKey(["silver", "camera_baseline"])
STATE = dg.AssetKey(["silver", "camera_state"])
STATE_CHANGES = dg.AssetKey(["silver", "camera_state_change"])
CAUSE = dg.AssetKey(CAUSE_TABLE.split("."))
DEVICE_STATUS = dg.AssetKey(["silver", "device_status"])


class DiagnosisConfig(dg.Config):
    # Renew references into the landing area (local landing only); off for a read-only landing.
    persist_references: bool = True


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DIAGNOSIS, group_name="cameras", kinds={"iceberg", "opencv"}, owners=OWNERS,
                     description="摄像机快照视频质量诊断：每张快照每项检测的得分、门限（按摄像机基线）与结论 / Video quality "
                                 "diagnosis of camera snapshots: each check's score, limit (from the camera's baseline) "
                                 "and verdict, per snapshot"),
        dg.AssetSpec(BASELINE, group_name="cameras", kinds={"iceberg"}, owners=OWNERS,
                     description="摄像机画面基线：近期正常快照各度量的中位数与离散度 / Each camera's normal: median and "
                                 "spread of every measure over its recent good snapshots"),
    ],
    pool=WAREHOUSE_POOL, name="silver__snapshot_diagnosis")  # the step name it had as a one-table asset
def snapshot_diagnosis(context: dg.AssetExecutionContext, config: DiagnosisConfig,
                       catalog: IcebergCatalogResource):
    settings = catalog.settings()
    report = diagnose_new_snapshots(settings, persist_references=config.persist_references)
    context.log.info("%d snapshots in landing, %d new diagnosed", report.in_landing, len(report.new))
    table = catalog.open().load_table(TABLE).refresh()
    metadata = {name: dg.MetadataValue.md(value) if name in ("by_defect", "flagged") else value
                for name, value in report.metadata().items()}
    metadata["dagster/row_count"] = int(table.current_snapshot().summary["total-records"]) \
        if table.current_snapshot() else 0
    if report.sheet is not None:
        metadata["defect_samples"] = dg.MetadataValue.path(str(report.sheet))
        metadata["defect_samples_preview"] = dg.MetadataValue.md(f"![defects]({report.sheet.as_uri()})")
    yield dg.MaterializeResult(asset_key=DIAGNOSIS, metadata=metadata)
    yield dg.MaterializeResult(asset_key=BASELINE, metadata={"cameras": report.baselines_written})


class StateConfig(dg.Config):
    # Keepalive interval of the feed in seconds; 0 = the median spacing of keepalives in the data (60 s for a
    # GB/T 28181 platform, the summary step for a summarised feed).
    keepalive_seconds: int = 0
    missed_keepalives: int = 3


NETWORK_STATE = {name: dg.AssetKey(name.split(".")) for name in NETWORK_TABLES}
NETWORK_DESCRIPTIONS = {
    "silver.link_state": "网络链路状态（正常/劣化/拥塞/中断，含迟滞、原因与最后证据）/ Link state stays (up, degraded, "
                         "saturated, down) with hysteresis, reasons and the last evidence",
    "silver.node_state": "网络节点状态（上联正常而探测不通即为节点故障）/ Node state stays: down when its probe fails "
                         "while its uplink is up",
    "silver.link_utilisation": "链路每分钟带宽利用率（计数器复位不计为负流量）/ Link utilisation per minute (a counter "
                               "reset is not negative traffic)",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(STATE, group_name="cameras", kinds={"iceberg"}, owners=OWNERS,
                     deps=[DEVICE_STATUS, dg.AssetKey(["silver", "camera"]), DIAGNOSIS],
                     description="每台摄像机当前状态（在线/画面异常/离线/从未出流/已撤除）及原因、起始时间、最后证据 / "
                                 "Every camera's current state with its reason, since when, and the last evidence"),
        dg.AssetSpec(STATE_CHANGES, group_name="cameras", kinds={"iceberg"}, owners=OWNERS, deps=[STATE],
                     description="摄像机状态变化记录（含迟滞：漏1–2次心跳不翻转）/ Camera state changes, with "
                                 "hysteresis (one or two missed keepalives do not flip a camera)"),
        # Derived in this step (from its state changes) but shown with the network's assets: in the cameras group
        # the network's edges made its graph too large for the UI to show the camera assets.
        dg.AssetSpec(CAUSE, group_name="network", kinds={"iceberg"}, owners=OWNERS,
                     deps=[STATE_CHANGES, NETWORK_STATE["silver.link_state"], NETWORK_STATE["silver.node_state"]],
                     description="摄像机每次离线的根因：路径上最高一级故障元素及应派维修单位 / Each camera outage's root "
                                 "cause: the highest failed element on its path and the contractor to send"),
    ],
    pool=WAREHOUSE_POOL,
)
def camera_state(context: dg.AssetExecutionContext, config: StateConfig, catalog: IcebergCatalogResource):
    settings = catalog.settings()
    report = refresh_camera_health(settings, load_catalogue(settings.city.id),
                                   keepalive_seconds=config.keepalive_seconds, misses=config.missed_keepalives)
    context.log.info("%d keepalive/status messages, %d devices, keepalive interval %d s", report.messages,
                     report.devices, report.keepalive_seconds)
    yield dg.MaterializeResult(asset_key=STATE, metadata={
        "dagster/row_count": report.rows[STATE_TABLE], "keepalive_seconds": report.keepalive_seconds,
        "camera_health_events": report.rows["silver.camera_health"],
        "cameras_down": report.rows["silver.camera_down"],
        "by_state": dg.MetadataValue.md(report.by_state_markdown())})
    yield dg.MaterializeResult(asset_key=STATE_CHANGES, metadata={"dagster/row_count": report.rows[CHANGES_TABLE]})
    if report.causes is None:
        # The table stays (or is made) empty: materialized as such, so the dbt models reading it run.
        yield dg.MaterializeResult(asset_key=CAUSE, metadata={"skipped": "no network registries 无网络台账"})
    else:
        yield dg.MaterializeResult(asset_key=CAUSE, metadata={
            "dagster/row_count": report.rows[CAUSE_TABLE], "by_cause": dg.MetadataValue.md(report.causes_markdown())})


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="network", kinds={"iceberg"}, owners=OWNERS, skippable=True,
                        description=NETWORK_DESCRIPTIONS[name],
                        # The network entities' ingestion; the status feed for the end of the evidence (_as_of).
                        deps=[DEVICE_STATUS, *(dg.AssetKey(t.split(".")) for t in (*REGISTRIES, *TELEMETRY))])
           for name, key in NETWORK_STATE.items()],
    pool=WAREHOUSE_POOL, can_subset=False)
def network_state(context: dg.AssetExecutionContext, catalog: IcebergCatalogResource):
    report = refresh_network_state(catalog.settings())
    if report.skipped:
        # The tables stay (or are made) empty: they are materialized as such, so the dbt models reading them run.
        context.log.info("network state skipped: this site has no network registries (silver lacks %s)",
                         ", ".join(report.skipped))
        for key in NETWORK_STATE.values():
            yield dg.MaterializeResult(asset_key=key, metadata={"skipped": "no network registries 无网络台账"})
        return
    context.log.info("network state: %s", ", ".join(f"{n} {r:,}" for n, r in report.rows.items()))
    for name, key in NETWORK_STATE.items():
        yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": report.rows[name]})
