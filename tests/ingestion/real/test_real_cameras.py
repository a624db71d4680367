"""Real camera registries and GB/T 28181 messages onboarded with a mapping file only; figures checked against the
raw records: counts by status and by region, the online rate from the registry's own status (no keepalive feed),
positions converted from the Hong Kong 1980 Grid; every record in silver or quarantined with its reason."""
import csv
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter

import pyarrow as pa
from pyproj import Transformer

from safecity.analytics.camera_state import camera_states
from safecity.ingestion.filecheck import check_file
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.readers import LINE_COLUMN, read
from safecity.lakehouse.catalog import open_catalog
from tests.ingestion.real.cities import HONG_KONG, MARYLAND, SHIJIAZHUANG, WUHU, catalogue_for
from tests.ingestion.real.conftest import MAPPINGS, landing_with


def _silver(settings, entity: str) -> pa.Table:
    return open_catalog(settings).load_table(f"silver.{entity}").scan().to_arrow()


def test_a_registry_with_status_and_no_feed_has_the_registrys_online_rate(tmp_path, settings, catalogue, real_data):
    path = real_data / "cameras" / "maryland_chart_getCameraMapDataJSON.do"
    text = path.read_text(encoding="utf-8")
    records = json.loads(re.match(r"^[\w.$]+\((.*)\);?$", text, re.S).group(1))["data"]
    maryland = catalogue_for(catalogue, MARYLAND)
    report = ingest_source(open_catalog(settings), maryland, load_mapping(MAPPINGS / "maryland_chart_cameras.yaml",
                                                                          maryland),
                           LocalLanding(landing_with(tmp_path, "cameras", path)))
    assert report.received == len(records) == 450
    assert report.silver + report.quarantined == report.received
    silver = _silver(settings, "camera")
    assert silver.num_rows == report.silver
    assert Counter(silver.column("status").to_pylist()) == Counter(
        {"OK": "ON", "COMM_FAILURE": "OFF"}[r["opStatus"]] for r in records
        if r["id"] in set(silver.column("source_device_id").to_pylist()))
    # No keepalive ever: the registry's status decides, so the online rate is the registry's (386 of 450), not 0.
    heartbeats = pa.table({"CmdType": pa.array([], pa.string()), "DeviceID": pa.array([], pa.string()),
                           "Status": pa.array([], pa.string()), "Time": pa.array([], pa.timestamp("us"))})
    catalog = pa.table({"DeviceID": silver.column("device_id"), "ParentID": silver.column("parent_id"),
                        "Status": silver.column("status")})
    current = camera_states(heartbeats, catalog, as_of=__import__("datetime").datetime(2018, 10, 2, 16)).current
    online = sum(1 for s in current.column("state").to_pylist() if s == "online")
    expected = sum(1 for r in records if r["opStatus"] == "OK") / len(records)
    assert abs(online / current.num_rows - expected) <= 0.01 * expected
    assert "never_streamed" not in set(current.column("state").to_pylist())


def test_an_xml_registry_in_the_hong_kong_grid(tmp_path, settings, catalogue, real_data):
    path = real_data / "cameras" / "hongkong_td_imagelist_new.xml"
    images = ET.fromstring(path.read_bytes().removeprefix(b"\xef\xbb\xbf")).findall("image")
    hong_kong = catalogue_for(catalogue, HONG_KONG)
    report = ingest_source(open_catalog(settings), hong_kong, load_mapping(MAPPINGS / "hongkong_td_cameras.yaml",
                                                                           hong_kong),
                           LocalLanding(landing_with(tmp_path, "cameras", path)))
    assert report.received == len(images) == 183
    assert (report.silver, report.quarantined) == (183, 0), report.reasons
    silver = _silver(settings, "camera")
    to_wgs84 = Transformer.from_crs("EPSG:2326", "EPSG:4326", always_xy=True)
    by_key = {i.findtext("key"): to_wgs84.transform(float(i.findtext("EASTING")), float(i.findtext("NORTHING")))
              for i in images}
    for key, lon, lat in zip(*(silver.column(c).to_pylist() for c in ("source_device_id", "longitude", "latitude"))):
        assert abs(lon - by_key[key][0]) < 1e-6 and abs(lat - by_key[key][1]) < 1e-6
    # Counts by region: the raw file's English regions, against silver's rows joined back by the camera's key.
    region = {i.findtext("key"): i.findtext("english-region") for i in images}
    assert Counter(region[k] for k in silver.column("source_device_id").to_pylist()) == Counter(region.values())
    assert len(set(region.values())) == 7


def test_gb28181_messages_as_devices_send_them(catalogue, real_data):
    wuhu = catalogue_for(catalogue, WUHU)
    folder = real_data / "gb28181"
    catalog_mapping = load_mapping(MAPPINGS / "gb28181_catalog_sip.yaml", wuhu).mapping
    check = check_file(wuhu, folder / "dahua_catalog_response_message.sip.txt", "camera", mapping=catalog_mapping)
    # One channel, Status ON; the Catalog item carries no position, which a camera of the registry must have.
    assert check.total == 1 and check.rejected == 1
    assert set(check.reasons) == {"E_REQUIRED"}
    assert set(check.rejected_rows.column("fields").to_pylist()[0].split(";")) >= {"longitude", "latitude"}
    keepalive_mapping = load_mapping(MAPPINGS / "gb28181_keepalive_sip.yaml", wuhu).mapping
    check = check_file(wuhu, folder / "dahua_keepalive_message.sip.txt", "device_status", mapping=keepalive_mapping)
    # The Keepalive body has no time; the receiving platform stamps it: without that stamp it cannot be used.
    assert (check.total, check.rejected, set(check.reasons)) == (1, 1, {"E_REQUIRED"})
    assert check.rejected_rows.column("fields").to_pylist() == ["reported_at"]
    # DeviceStatus as sent: one record with its online state and the repeated alarm items as one JSON list.
    status = read(folder / "dahua_devicestatus_response_message.sip.txt", "xml", records="Response")
    [record] = status.table.drop_columns([LINE_COLUMN]).to_pylist()
    assert (record["DeviceID"], record["Online"], record["Record"]) == ("34020000001320000002", "ONLINE", "OFF")
    assert [i["DutyStatus"] for i in json.loads(record["Alarmstatus.Item"])] == ["ONDUTY", "ONDUTY"]
    assert record["SIP.User-Agent"] == "SIP UAS V3.0.0.675168"


def test_a_checkpoint_list_with_a_composite_key_and_no_status(tmp_path, settings, catalogue, real_data):
    path = real_data / "cameras" / "shijiazhuang_kakou.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    city = catalogue_for(catalogue, SHIJIAZHUANG)
    report = ingest_source(open_catalog(settings), city, load_mapping(MAPPINGS / "shijiazhuang_kakou.yaml", city),
                           LocalLanding(landing_with(tmp_path, "cameras", path)))
    assert report.received == len(rows) == 2683
    silver = _silver(settings, "camera")
    quarantine = open_catalog(settings).load_table("quarantine.camera").scan().to_arrow()
    assert silver.num_rows + quarantine.num_rows == len(rows)
    # One camera per (ID, direction). A later row of a pair is an exact copy (E_DUPLICATE_ROW) when it repeats the
    # first row of the pair in every column, else a key collision (E_DUPLICATE_KEY).
    pairs = Counter(f"{r['I_ID']}/{r['DIRECTION_INDEX']}" for r in rows)
    assert len(set(silver.column("device_id").to_pylist())) == len(pairs)
    first, expected = {}, Counter()
    for r in rows:
        key = f"{r['I_ID']}/{r['DIRECTION_INDEX']}"
        if key in first:
            expected["E_DUPLICATE_ROW" if first[key] == r else "E_DUPLICATE_KEY"] += 1
        else:
            first[key] = r
    assert Counter(quarantine.column("primary_reason").to_pylist()) == expected
    # Counts by ring-road zone, from silver's address against the raw column.
    kept = Counter(silver.column("address").to_pylist())
    raw = Counter(r["location"] for r in rows)
    assert set(kept) == set(raw) == {"二环内", "二环外三环内", "三环外"}
    assert sum(kept.values()) == silver.num_rows and all(kept[z] <= raw[z] for z in raw)
    assert all(abs(kept[z] - raw[z]) <= 0.01 * raw[z] for z in raw)
    assert set(silver.column("status").to_pylist()) == {None}
