"""Devices without a conforming GB/T 28181 ID get a stable one, built as the standard lays it out."""
import io

from openpyxl import Workbook

from safecity.lakehouse.catalog import open_catalog
from safecity.ingestion.coordinates import wgs84_to_gcj02
from safecity.ingestion.id_allocation import FIRST_ALLOCATED_SERIAL, REGISTRY_TABLE
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.standards.ids import decode_gb28181

HEADER = ["国标编码", "设备编号", "设备名称", "品牌", "安装位置", "经度", "纬度", "类型", "状态"]
# (vendor number, WGS-84 position, the division whose seat is nearest)
HAIGANG = ("YS-0001", (119.60, 39.94), "130302")
BEIDAIHE = ("YS-0002", (119.49, 39.83), "130304")
CHANGLI = ("YS-0003", (119.17, 39.71), "130322")
BEIJING = ("YS-0004", (116.40, 39.90), "130300")


def ledger(path, devices, conforming=()):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for vendor_id, (lon, lat), _ in devices:
        gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
        sheet.append([None, vendor_id, f"社区{vendor_id}", "萤石", "小区门口", float(gcj_lon), float(gcj_lat), "枪机", "在线"])
    for device_id in conforming:
        sheet.append([device_id, None, "学校门口", "海康威视", "学校", 119.6, 39.94, "球机", "离线"])
    data = io.BytesIO()
    book.save(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.getvalue())


def ingest(settings, catalogue, root):
    loaded = load_mapping(mapping_path("community_cameras_xlsx"), catalogue)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, loaded, LocalLanding(root))
    silver = catalog.load_table("silver.camera").scan().to_arrow().to_pylist()
    return report, catalog, silver


def test_allocated_ids_follow_the_standard_and_never_change(tmp_path, settings, catalogue):
    ledger(tmp_path / "community" / "day1.xlsx", [HAIGANG, BEIDAIHE, BEIJING], conforming=["13030200001320000007"])
    report, catalog, silver = ingest(settings, catalogue, tmp_path)
    by_vendor = {r["source_device_id"]: r for r in silver if r["source_device_id"]}
    for vendor_id, _, division in (HAIGANG, BEIDAIHE):
        device_id = by_vendor[vendor_id]["device_id"]
        decoded = decode_gb28181(catalogue, device_id)
        assert not decoded.problems, decoded.problems
        assert device_id[:6] == division and device_id[10:13] == "132"
        assert int(device_id[14:]) == FIRST_ALLOCATED_SERIAL
        assert by_vendor[vendor_id]["division_code"] == division and by_vendor[vendor_id]["ptz_type"] == "3"
    # A device outside the city gets the city's own code, and is then rejected as out of area (not lost).
    quarantine = catalog.load_table("quarantine.camera").scan().to_arrow().to_pylist()
    assert [q["primary_reason"] for q in quarantine] == ["E_OUT_OF_AREA"]
    assert "13030200001320000007" in {r["device_id"] for r in silver}

    # The next ledger: the same devices keep their IDs, a new one in an already used block takes the next serial.
    (tmp_path / "community" / "day1.xlsx").unlink()
    ledger(tmp_path / "community" / "day2.xlsx", [BEIDAIHE, HAIGANG, ("YS-0005", (119.61, 39.95), "130302"), CHANGLI])
    again, catalog, silver = ingest(settings, catalogue, tmp_path)
    ids = {}
    for r in silver:
        ids.setdefault(r["source_device_id"], set()).add(r["device_id"])
    assert ids["YS-0001"] == {by_vendor["YS-0001"]["device_id"]}
    assert ids["YS-0002"] == {by_vendor["YS-0002"]["device_id"]}
    assert ids["YS-0005"] == {f"13030200001320{FIRST_ALLOCATED_SERIAL + 1:06d}"}
    assert ids["YS-0003"] == {f"13032200001320{FIRST_ALLOCATED_SERIAL:06d}"}
    # A registry is re-sent whole: each export is a version of its devices, none is a duplicate.
    assert again.quarantined == 0 and len([r for r in silver if r["source_device_id"] == "YS-0001"]) == 2
    registry = catalog.load_table(REGISTRY_TABLE).scan().to_arrow().to_pylist()
    assert sorted(r["source_device_id"] for r in registry) == ["YS-0001", "YS-0002", "YS-0003", "YS-0004", "YS-0005"]
