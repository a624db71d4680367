"""Camera health: video quality diagnosis of the snapshots in landing, and every camera's state from keepalives,
the catalog and the diagnoses (ingestion/video_quality, ingestion/camera_state)."""

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import dagster as dg
import pyarrow as pa

from safecity.config.duckdb_session import connect
from safecity.config.lakehouse import append_once, ensure_table, open_catalog, publish_views
from safecity.ingestion.camera_events import health_events
from safecity.ingestion.camera_state import camera_states, silver_inputs
from safecity.ingestion.landing import Landing, LocalLanding, open_landing
from safecity.ingestion.video_quality.batch import SCHEMA as DIAGNOSIS_SCHEMA, diagnose_files, diagnoses_table
from safecity.ingestion.video_quality.contact_sheet import contact_sheet
from safecity.ingestion.video_quality.references import ReferenceStore
from safecity.ingestion.video_quality.snapshots import jpeg_size
from safecity.orchestration.resources import WAREHOUSE_POOL, SafeCityResource

OWNERS = ["team:data-platform"]
SNAPSHOTS = "snapshots"
REFERENCE = "reference"
DIAGNOSIS = dg.AssetKey(["silver", "snapshot_diagnosis"])
STATE = dg.AssetKey(["silver", "camera_state"])
STATE_CHANGES = dg.AssetKey(["silver", "camera_state_change"])
# Picture size beside the diagnosis: the HD ratio (高清率) of the network is measured on what cameras deliver.
TABLE_SCHEMA = pa.schema(list(DIAGNOSIS_SCHEMA) + [pa.field("width", pa.int32()), pa.field("height", pa.int32()),
                                                   pa.field("_batch_id", pa.string()),
                                                   pa.field("_diagnosed_at", pa.timestamp("us", tz="UTC"))])


def _local_files(landing: Landing, names: list[str], cache: Path) -> dict[str, Path]:
    """Local paths for landing files: the files themselves in a local landing, a downloaded copy from a bucket."""
    if isinstance(landing, LocalLanding):
        return {name: landing.root / name for name in names}
    paths = {}
    for name in names:
        target = cache / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(landing.read(name))
        paths[name] = target
    return paths


class DiagnosisConfig(dg.Config):
    # Renew references into the landing area (local landing only); off for a read-only landing.
    persist_references: bool = True


@dg.asset(key=DIAGNOSIS, group_name="cameras", kinds={"iceberg", "opencv"}, owners=OWNERS, pool=WAREHOUSE_POOL,
          description="摄像机快照视频质量诊断：每张快照每项检测的得分、门限与结论 / Video quality diagnosis of camera "
                      "snapshots: each check's score, threshold and verdict, per snapshot")
def snapshot_diagnosis(context: dg.AssetExecutionContext, config: DiagnosisConfig, safecity: SafeCityResource):
    settings = safecity.settings()
    catalog = open_catalog(settings)
    table = ensure_table(catalog, "silver.snapshot_diagnosis", TABLE_SCHEMA)
    landing = open_landing(settings)
    every = [n for n in landing.files(SNAPSHOTS, "*.jpg") if f"/{REFERENCE}/" not in f"/{n}"]
    done = set(table.scan(selected_fields=("file",)).to_arrow().column("file").to_pylist()) \
        if table.current_snapshot() else set()
    new = [n for n in every if n not in done]
    context.log.info("%d snapshots in landing, %d new to diagnose", len(every), len(new))
    references = [n for n in landing.files(f"{SNAPSHOTS}/{REFERENCE}", "*.jpg")]
    with tempfile.TemporaryDirectory() as cache:
        local = _local_files(landing, new + references, Path(cache))
        reference_dir = (landing.root / SNAPSHOTS / REFERENCE) if isinstance(landing, LocalLanding) \
            else Path(cache) / SNAPSHOTS / REFERENCE
        store = ReferenceStore(reference_dir, persist=config.persist_references and isinstance(landing, LocalLanding))
        results = list(diagnose_files([local[n] for n in new], store))
        names = {str(path): name for name, path in local.items()}
        diagnoses = diagnoses_table(results)
        diagnoses = diagnoses.set_column(0, "file", pa.array([names.get(f, f) for f in
                                                             diagnoses.column("file").to_pylist()], pa.string()))
        batch_id = "vqd:" + hashlib.sha256("\n".join(sorted(new)).encode()).hexdigest()[:32]
        now = dt.datetime.now(dt.timezone.utc)
        sizes = {}
        for name, path in local.items():
            with open(path, "rb") as handle:
                sizes[name] = jpeg_size(handle.read(1 << 16)) or (None, None)
        files = diagnoses.column("file").to_pylist()
        rows = diagnoses.append_column("width", pa.array([sizes.get(f, (None, None))[0] for f in files], pa.int32())) \
            .append_column("height", pa.array([sizes.get(f, (None, None))[1] for f in files], pa.int32()))
        rows = rows.append_column("_batch_id", pa.array([batch_id] * diagnoses.num_rows, pa.string())) \
            .append_column("_diagnosed_at", pa.array([now] * diagnoses.num_rows, pa.timestamp("us", tz="UTC")))
        # Nothing new, nothing to commit: a run over an unchanged landing leaves the table as it was.
        if new:
            append_once(table, rows, batch_id)
        sheet = contact_sheet([r for r in results if r.diagnosis is not None and r.diagnosis.defect],
                              settings.paths.reports / "vqd" / f"defects_{now:%Y%m%dT%H%M%S}.png")
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        by_defect = con.execute(
            "SELECT coalesce(defect, '正常 ok'), count(DISTINCT file) FROM silver.snapshot_diagnosis "
            "WHERE _batch_id = ? AND error IS NULL GROUP BY 1 ORDER BY 2 DESC", [batch_id]).fetchall()
        errors = con.execute("SELECT count(*) FROM silver.snapshot_diagnosis WHERE _batch_id = ? AND error IS NOT "
                             "NULL", [batch_id]).fetchone()[0]
    metadata = {
        "dagster/row_count": table.refresh().current_snapshot().summary["total-records"] if table.current_snapshot()
        else 0,
        "snapshots_diagnosed": len(new), "unreadable": errors,
        "by_defect": dg.MetadataValue.md("| 结论 verdict | 快照 snapshots |\n|---|---|\n" + "\n".join(
            f"| {defect} | {count} |" for defect, count in by_defect)),
    }
    if sheet is not None:
        metadata["defect_samples"] = dg.MetadataValue.path(str(sheet))
        metadata["defect_samples_preview"] = dg.MetadataValue.md(f"![defects]({sheet.as_uri()})")
    return dg.MaterializeResult(metadata=metadata)


class StateConfig(dg.Config):
    # Keepalive interval of the feed in seconds; 0 = the median spacing of keepalives in the data (60 s for a
    # GB/T 28181 platform, the summary step for a summarised feed).
    keepalive_seconds: int = 0
    missed_keepalives: int = 3


@dg.multi_asset(
    specs=[
        dg.AssetSpec(STATE, group_name="cameras", kinds={"iceberg"}, owners=OWNERS,
                     deps=[dg.AssetKey(["silver", "device_status"]), dg.AssetKey(["silver", "camera"]), DIAGNOSIS],
                     description="每台摄像机当前状态（在线/画面异常/离线/从未出流/已撤除）及原因、起始时间、最后证据 / "
                                 "Every camera's current state with its reason, since when, and the last evidence"),
        dg.AssetSpec(STATE_CHANGES, group_name="cameras", kinds={"iceberg"}, owners=OWNERS, deps=[STATE],
                     description="摄像机状态变化记录（含迟滞：漏1–2次心跳不翻转）/ Camera state changes, with "
                                 "hysteresis (one or two missed keepalives do not flip a camera)"),
    ],
    pool=WAREHOUSE_POOL,
)
def camera_state(context: dg.AssetExecutionContext, config: StateConfig, safecity: SafeCityResource):
    settings = safecity.settings()
    catalog = open_catalog(settings)
    zone = settings.city.timezone
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        inputs = silver_inputs(con, zone)
        interval = config.keepalive_seconds or inputs.keepalive_seconds
    heartbeats, registry, vqd, previous = inputs.heartbeats, inputs.registry, inputs.vqd, inputs.previous
    devices = registry.select(["device_id", "parent_id", "status"]).rename_columns(["DeviceID", "ParentID", "Status"])
    context.log.info("%d keepalive/status messages, %d devices, keepalive interval %d s", heartbeats.num_rows,
                     devices.num_rows, interval)
    states = camera_states(heartbeats, devices, vqd, interval_seconds=interval, misses=config.missed_keepalives,
                           previous=previous)
    # Derived from the whole history each run, so each run replaces the tables (one commit each).
    for key, rows in ((STATE, states.current), (STATE_CHANGES, states.changes)):
        table = ensure_table(catalog, ".".join(key.path), rows.schema)
        table.overwrite(rows.cast(table.schema().as_arrow()))
    events = health_events(settings.city, states, registry)
    for name, rows in events.items():
        table = ensure_table(catalog, f"silver.{name}", rows.schema)
        table.overwrite(rows.cast(table.schema().as_arrow()))
    with connect(settings) as con:
        publish_views(con, catalog, ("silver",))
        by_state = con.execute("SELECT state, state_zh, count(*) FROM silver.camera_state GROUP BY ALL "
                               "ORDER BY 3 DESC").fetchall()
    yield dg.MaterializeResult(asset_key=STATE, metadata={
        "dagster/row_count": states.current.num_rows, "keepalive_seconds": interval,
        "camera_health_events": events["camera_health"].num_rows, "cameras_down": events["camera_down"].num_rows,
        "by_state": dg.MetadataValue.md("| 状态 state | 说明 | 设备 devices |\n|---|---|---|\n" + "\n".join(
            f"| {s} | {zh} | {n:,} |" for s, zh, n in by_state))})
    yield dg.MaterializeResult(asset_key=STATE_CHANGES, metadata={"dagster/row_count": states.changes.num_rows})
