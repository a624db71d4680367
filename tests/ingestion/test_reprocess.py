"""Quarantined records are re-judged after a mapping fix: the fixed ones move to silver, exactly once."""
from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.reconcile import reconcile
from safecity.ingestion.reprocess import reprocess_quarantine

MAPPING = """\
id: vendor_calls
name_zh: 某区县接警单
entity: alarm_call
format: csv
landing: calls
columns:
  编号: call_id
  报警时间: received_at
  级别: alarm_priority
  状态: status
"""
# The vendor's priority words were not in the mapping at first: every row with one is rejected (E_CODE).
FIXED = MAPPING.replace("  级别: alarm_priority\n",
                        "  级别: { element: alarm_priority, codes: { 特急: \"1\", 紧急: \"2\", 一般: \"3\" } }\n")
ROWS = ["编号,报警时间,级别,状态",
        "J1,2026-07-01 08:00:00,特急,closed",
        "J2,2026-07-01 08:05:00,3,closed",
        "J3,2026-07-01 08:10:00,一般,closed",
        "J4,not a time,一般,closed",
        "J2,2026-07-01 08:06:00,3,closed"]


def test_a_fixed_mapping_recovers_exactly_the_fixable_records(tmp_path, settings, catalogue):
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "day.csv").write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    mapping = tmp_path / "vendor_calls.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    catalog = open_catalog(settings)
    first = ingest_source(catalog, catalogue, load_mapping(mapping, catalogue), LocalLanding(tmp_path))
    assert (first.silver, first.quarantined) == (1, 4)

    mapping.write_text(FIXED, encoding="utf-8")
    fixed = load_mapping(mapping, catalogue)
    report = reprocess_quarantine(catalog, catalogue, fixed)
    assert report.recovered == 2 and report.removed_from_quarantine == 2
    assert report.still_rejected == {"E_TYPE": 1, "E_DUPLICATE_KEY": 1}
    silver = catalog.load_table("silver.alarm_call").scan().to_arrow()
    assert sorted(zip(silver.column("call_id").to_pylist(), silver.column("alarm_priority").to_pylist())) == \
        [("J1", "1"), ("J2", "3"), ("J3", "3")]
    quarantine = catalog.load_table("quarantine.alarm_call").scan().to_arrow()
    assert sorted(quarantine.column("_line").to_pylist()) == [5, 6]
    with connect(settings) as con:
        publish_views(con, catalog)
        balances = reconcile(con, "bronze.vendor_calls", "silver.alarm_call", "quarantine.alarm_call")
    assert [(b.bronze, b.silver, b.quarantine) for b in balances] == [(5, 3, 2)]

    # Running it again finds nothing new and changes nothing.
    snapshots = len(catalog.load_table("silver.alarm_call").snapshots())
    again = reprocess_quarantine(catalog, catalogue, fixed)
    assert again.recovered == 0 and len(catalog.load_table("silver.alarm_call").snapshots()) == snapshots
