"""The bad-input corpus through the whole pipeline: every file and every record accounted for, every error naming
the file and the line."""
from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.exactly_once import committed_batches
from safecity.lakehouse.views import publish_views
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.reconcile import reconcile

HEADER = "设备编码,设备名称,生产厂商,设备型号,安装地址,经度,纬度,摄像机类型,用途,在线状态"
GOOD = "13030200001320000{n:03d},海港区点位{n},海康威视,DS,河北省秦皇岛市海港区,119.60{n:03d},39.93,1,3,ON"


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def test_every_record_of_every_bad_file_is_accounted_for(settings, catalogue):
    folder = settings.paths.landing / "cameras"
    folder.mkdir(parents=True)
    big_name = "长" * (50 * 1024 * 1024 // 4)
    corpus = {
        "01_empty.csv": (b"", 0, 0),
        "02_header_only.csv": (gb(HEADER + "\n"), 0, 0),
        "03_truncated.csv": (gb("\n".join([HEADER, GOOD.format(n=1), GOOD.format(n=2)[:30]])), 1, 1),
        "04_mixed_endings.csv": (gb(HEADER + "\r\n" + GOOD.format(n=3) + "\n" + GOOD.format(n=4) + "\r\n\r\n"
                                    + GOOD.format(n=5) + "\n"), 3, 0),
        "05_utf8_declared_gb18030.csv": ((HEADER + "\n" + GOOD.format(n=6) + "\n").encode("utf-8")
                                         .replace("海港".encode("utf-8"), b"\xff\xfe"), 0, 1),
        "06_binary.csv": (b"\x00\x01PK\x03\x04" * 100, 0, 1),
        "07_50mb_field.csv": (gb(HEADER + "\n" + GOOD.format(n=7).replace("海港区点位7", big_name) + "\n"
                                 + GOOD.format(n=8) + "\n"), 1, 1),
    }
    for name, (data, _, _) in corpus.items():
        (folder / name).write_bytes(data)
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    catalog = open_catalog(settings)
    report = ingest_source(catalog, catalogue, loaded, settings.paths.landing)
    outcome = {f.file.rsplit("/", 1)[-1]: (f.silver, f.quarantined) for f in report.files}
    assert outcome == {name: (silver, quarantined) for name, (_, silver, quarantined) in corpus.items()}
    with connect(settings) as con:
        publish_views(con, catalog)
        balances = reconcile(con, "bronze.video_platform_catalog_csv", "silver.camera", "quarantine.camera")
        assert len(balances) == 5 and all(b.balanced for b in balances)
        errors = dict(con.execute("SELECT _file, reasons[1].message_en FROM quarantine.camera "
                                  "WHERE primary_reason IN ('E_ENCODING', 'E_BINARY')").fetchall())
        truncated = con.execute("SELECT _line, primary_reason, reasons[1].message_en FROM quarantine.camera "
                                "WHERE _file LIKE '%03_truncated.csv'").fetchone()
        big = con.execute("SELECT length(json_extract_string(record, '$.设备名称')), primary_reason, reasons[1].field "
                          "FROM quarantine.camera WHERE _file LIKE '%07_50mb_field.csv'").fetchone()
    # UTF-8 Chinese is not GB18030: decoding fails in the header already, and says so.
    assert "05_utf8_declared_gb18030.csv:1" in errors["cameras/05_utf8_declared_gb18030.csv"]
    assert "06_binary.csv:1" in errors["cameras/06_binary.csv"]
    assert truncated[:2] == (3, "E_COLUMNS") and truncated[2].startswith("line 3:")
    # Files with no records are results too: their batches are committed (empty), so they are never read again.
    bronze_batches = committed_batches(catalog.load_table("bronze.video_platform_catalog_csv"))
    assert {f.batch_id for f in report.files} <= bronze_batches
    # The 50 MB name is read whole, is too long for the standard, and is kept whole in quarantine.
    assert big == (len(big_name), "E_FORMAT", "name")
