"""The nightly maintenance job through Dagster: files compacted, snapshots expired, exactly-once kept."""
import dagster as dg

from safecity.lakehouse.catalog import open_catalog
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.orchestration.definitions import build_definitions
from tests.conftest import SAMPLE_EXPORT


def test_maintenance_job_compacts_expires_and_keeps_batches(settings, catalogue):
    lines = SAMPLE_EXPORT.read_bytes().split(b"\n")
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    for part in range(4):
        (folder / f"part{part}.csv").write_bytes(b"\n".join([header] + rows[part::4]) + b"\n")
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    catalog = open_catalog(settings)
    first = ingest_source(catalog, catalogue, loaded, settings.paths.landing)
    silver_before = sorted(catalog.load_table("silver.camera").scan().to_arrow().column("_record_sha256").to_pylist())

    definitions = build_definitions(settings)
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in definitions.schedules}
    assert schedules["nightly_maintenance"] == ("30 3 * * *", "Asia/Shanghai")
    job = definitions.resolve_job_def("lakehouse_maintenance")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config={
        "ops": {"maintain_lakehouse": {"config": {"older_than_days": 0, "keep_last": 1}}}})
    assert result.success
    output = [e for e in result.events_for_node("maintain_lakehouse") if e.event_type_value == "STEP_OUTPUT"][0]
    meta = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert meta["files_after"] < meta["files_before"]
    assert meta["snapshots_expired"] >= 3 * 3 and meta["batches_ledgered"] >= 4

    silver = catalog.load_table("silver.camera")
    assert len(silver.snapshots()) == 1
    assert sorted(silver.scan().to_arrow().column("_record_sha256").to_pylist()) == silver_before
    again = ingest_source(catalog, catalogue, loaded, settings.paths.landing)
    assert again.files and all(f.skipped for f in again.files)
    assert again.received == first.received
    assert sorted(catalog.load_table("silver.camera").scan().to_arrow()
                  .column("_record_sha256").to_pylist()) == silver_before
