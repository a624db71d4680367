"""The landing area in a bucket (production) behaves like the local folder, against a real S3-protocol server."""
import io

import pytest

from safecity.ingestion.landing import BucketLanding, LocalLanding, open_landing


def _put(client, bucket: str, key: str, data: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(data), len(data))


def test_production_profile_lands_in_the_bucket(production_settings, s3_server):
    landing = open_landing(production_settings)
    assert isinstance(landing, BucketLanding)
    assert landing.bucket == "safecity"
    assert landing.uri("cameras/a.csv") == "s3://safecity/landing/cameras/a.csv"


def test_local_profile_still_lands_in_a_folder(settings):
    assert isinstance(open_landing(settings), LocalLanding)


def test_files_lists_recursively_matches_names_and_reads_bytes(production_settings, s3_server):
    client = s3_server.client()
    objects = {
        "landing/cameras/2026/11/b.csv": "点位,编号\n".encode("gb18030"),
        "landing/cameras/a.csv": b"x,y\n1,2\n",
        "landing/cameras/readme.txt": b"not a csv",
        "landing/cameras_old/c.csv": b"other folder sharing the prefix",
        "landing/checkpoints/d.csv": b"other source",
        "cameras/e.csv": b"outside the landing prefix",
    }
    for key, data in objects.items():
        _put(client, "safecity", key, data)
    landing = open_landing(production_settings)

    assert landing.files("cameras", "*.csv") == ["cameras/2026/11/b.csv", "cameras/a.csv"]
    assert landing.files("cameras") == ["cameras/2026/11/b.csv", "cameras/a.csv", "cameras/readme.txt"]
    assert landing.files("cameras/", "*.txt") == ["cameras/readme.txt"]
    assert landing.files("nothing-here") == []
    # the pattern applies to the file name only, as in LocalLanding
    assert landing.files("cameras", "2026*") == []
    assert landing.read("cameras/2026/11/b.csv").decode("gb18030") == "点位,编号\n"
    assert landing.read("cameras/a.csv") == objects["landing/cameras/a.csv"]


def test_local_and_bucket_landings_agree(production_settings, s3_server, tmp_path):
    names = ["cameras/x/1.csv", "cameras/2.csv", "cameras/3.CSV", "cameras/4.txt"]
    local = LocalLanding(tmp_path / "landing")
    client = s3_server.client()
    for name in names:
        (local.root / name).parent.mkdir(parents=True, exist_ok=True)
        (local.root / name).write_bytes(name.encode())
        _put(client, "safecity", "landing/" + name, name.encode())
    bucket = open_landing(production_settings)
    for pattern in ("*", "*.csv", "?.*"):
        assert bucket.files("cameras", pattern) == local.files("cameras", pattern)
    assert [bucket.read(n) for n in names] == [local.read(n) for n in names]


def test_a_missing_object_is_an_oserror_naming_its_uri(production_settings):
    landing = open_landing(production_settings)
    with pytest.raises(OSError, match=r"s3://safecity/landing/cameras/gone\.csv.*NoSuchKey"):
        landing.read("cameras/gone.csv")


def test_a_missing_bucket_is_an_oserror_naming_the_bucket(production_settings, s3_server):
    landing = BucketLanding(s3_server.client(), "no-such-bucket")
    with pytest.raises(OSError, match=r"s3://no-such-bucket/landing/cameras/.*NoSuchBucket"):
        landing.files("cameras")
    with pytest.raises(OSError, match=r"s3://no-such-bucket/landing/cameras/a\.csv"):
        landing.read("cameras/a.csv")


# The sample export's planted defects (config/samples/landing/cameras/): 40 rows, 10 of them wrong in these ways.
SAMPLE_REASONS = {"E_CODE": 3, "E_FORMAT": 2, "E_OUT_OF_AREA": 2, "E_COLUMNS": 1, "E_REQUIRED": 1,
                  "E_DUPLICATE_KEY": 1}


def test_a_gb18030_export_in_the_bucket_is_ingested_through_the_production_profile(production_settings, s3_server,
                                                                                     catalogue):
    from safecity.lakehouse.warehouse import connect
    from safecity.lakehouse.catalog import open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.ingestion.mapping import load_mapping, mapping_path
    from safecity.ingestion.pipeline import ingest_source
    from tests.conftest import SAMPLE_EXPORT

    data = SAMPLE_EXPORT.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the bytes really are GB18030, as the bureau's platform exports them
    source_ids = {line.split(",")[0] for line in data.decode("gb18030").splitlines()[1:]}
    _put(s3_server.client(), "safecity", f"landing/cameras/{SAMPLE_EXPORT.name}", data)

    catalog = open_catalog(production_settings)
    loaded = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue)
    report = ingest_source(catalog, catalogue, loaded, open_landing(production_settings))
    [file] = report.files
    assert file.file == f"cameras/{SAMPLE_EXPORT.name}"
    assert (file.received, file.silver, file.quarantined, file.skipped) == (40, 30, 10, False)
    assert dict(file.reasons) == SAMPLE_REASONS

    silver = catalog.load_table("silver.camera").scan().to_arrow()
    quarantine = catalog.load_table("quarantine.camera").scan().to_arrow()
    assert (silver.num_rows, quarantine.num_rows) == (30, 10)
    assert set(silver.column("device_id").to_pylist()) <= source_ids
    assert "海港区第一中学门口01" in silver.column("name").to_pylist()  # Chinese text decoded, not mangled

    again = ingest_source(open_catalog(production_settings), catalogue, loaded, open_landing(production_settings))
    assert again.files[0].skipped
    with connect(production_settings) as con:
        publish_views(con, catalog)
        counts = con.execute("SELECT (SELECT count(*) FROM silver.camera), (SELECT count(*) FROM quarantine.camera),"
                             " (SELECT count(*) FROM bronze.video_platform_catalog_csv)").fetchone()
    assert counts == (30, 10, 40)
