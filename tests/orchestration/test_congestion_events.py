"""Congestion readings of the watched junctions on the main job's simulated day (the events producer in the job's
events step), against a calculation in pandas from the raw landing files — the traffic platform's registry CSV
and flow CSV — the site's junctions.yaml and the standards' tables; and the junction_congestion policy's actions,
fired by the real rule engine in the job's policies step, for exactly the junctions whose readings that
calculation finds severe three times within 15 minutes."""
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from safecity.config.junctions import load_junctions
from safecity.lakehouse.warehouse import connect
from safecity.standards.catalogue import load_catalogue
from tests.congestion import congestion_grade, congestion_index
from tests.geo import haversine_m

pytestmark = [pytest.mark.integration, pytest.mark.slow]
POLICY = "command.junction_congestion"
SEVERE, COUNT, WITHIN = 8.0, 3, dt.timedelta(minutes=15)  # the policy file: 3 readings >= 8 within 15 minutes
FLOW_FIELDS = {"流量": "volume", "占有率(%)": "occupancy", "平均速度(km/h)": "mean_speed"}


def rows(settings, sql):
    with connect(settings, read_only=True) as con:
        cursor = con.execute(sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]


def members(landing, city, catalogue) -> dict[str, tuple[str, str, str, str]]:
    """detector -> (junction, division, segment, road class): the nearest junction within its approach_m, by the
    registry's last row of each detector (files in name order: the latest export last)."""
    registry = pd.concat([pd.read_csv(p, dtype=str) for p in sorted((landing / "detector_registry").glob("*.csv"))])
    registry = registry.drop_duplicates("检测器编号", keep="last")
    classes = {c.name_zh: c.code for c in catalogue.code_tables["road_class"].codes}
    junctions = load_junctions(city)
    found = {}
    for r in registry.itertuples(index=False):
        detector, segment, road_class, lon, lat = r[0], r[3], r[5], float(r[8]), float(r[9])
        reach = sorted((haversine_m(lon, lat, j.lon, j.lat), j.id, j.division) for j in junctions
                       if haversine_m(lon, lat, j.lon, j.lat) <= j.approach_m)
        if reach:
            found[detector] = (reach[0][1], reach[0][2], segment, classes[road_class])
    return found


@pytest.fixture(scope="module")
def expected(main_day):
    """{(junction, ts): reading} from the landing files: per approach (segment) and interval the volume-weighted
    speed of the lanes that saw vehicles, graded by its road class; the junction's reading is its worst approach."""
    settings, _ = main_day
    city, landing = settings.city, settings.paths.landing
    catalogue = load_catalogue(city.id)
    member = members(landing, city, catalogue)
    flows = pd.concat([pd.read_csv(p, dtype={"检测器编号": str}) for p in sorted((landing / "detectors").glob("*.csv"))])
    flows = flows.rename(columns=FLOW_FIELDS)
    # Rows outside the standard's ranges are quarantined at ingestion (E_RANGE), so they read for nothing.
    for element in catalogue.entities["detector_flow"].elements:
        if element.id in FLOW_FIELDS.values():
            values = flows[element.id]
            flows = flows[values.isna() | values.between(element.minimum, element.maximum)]
    flows = flows[flows["检测器编号"].isin(member) & (flows["volume"] > 0)].copy()
    for i, column in enumerate(("junction_id", "division_code", "segment_id", "road_class")):
        flows[column] = flows["检测器编号"].map(lambda d, i=i: member[d][i])
    flows["ts"] = pd.to_datetime(flows["统计开始时间"]).dt.tz_localize(ZoneInfo(city.timezone))
    flows["weighted"] = flows["volume"] * flows["mean_speed"]
    approaches = flows.groupby(["junction_id", "division_code", "segment_id", "road_class", "ts"], as_index=False).agg(
        weighted=("weighted", "sum"), volume=("volume", "sum"))
    thresholds = {c.code: c.attributes for c in catalogue.code_tables["road_class"].codes}
    bands = {c.code: c.attributes for c in catalogue.code_tables["congestion_grade"].codes}
    approaches["congestion_index"] = [congestion_index(w / v, thresholds[c]) for w, v, c in
                                      zip(approaches["weighted"], approaches["volume"], approaches["road_class"])]
    worst = approaches.sort_values(["junction_id", "ts", "congestion_index", "segment_id"],
                                   ascending=[True, True, False, True]).drop_duplicates(["junction_id", "ts"])
    return {(r.junction_id, r.ts.to_pydatetime()): {
                "segment_id": r.segment_id, "division_code": r.division_code,
                "congestion_index": r.congestion_index, "grade": congestion_grade(r.congestion_index, bands)}
            for r in worst.itertuples(index=False)}


def test_each_watched_junction_reads_its_worst_approach_every_interval_as_the_landing_files_give(main_day, expected):
    settings, _ = main_day
    got = {(r["junction_id"], r["ts"]): r for r in rows(settings, "SELECT * FROM silver.congestion_reading")}
    assert set(got) == set(expected)
    # several junctions of the profile have detectors in reach, each with a reading every 5 minutes of the day
    per_junction = pd.Series([j for j, _ in expected]).value_counts()
    assert len(per_junction) >= 2 and per_junction.max() == 288, per_junction.to_dict()
    for key, want in expected.items():
        reading = got[key]
        assert (reading["segment_id"], reading["division_code"], reading["grade"]) == (
            want["segment_id"], want["division_code"], want["grade"]), key
        assert reading["congestion_index"] == pytest.approx(want["congestion_index"], abs=1e-9), key
        # the event id names the subject and the moment, not the load order
        assert (reading["_batch_id"], reading["_line"]) == (f"congestion_reading:{key[0]}", int(key[1].timestamp()))
    assert len({(r["_batch_id"], r["_line"]) for r in got.values()}) == len(got)
    assert len({w["grade"] for w in expected.values()}) >= 3  # the day is not graded the same everywhere


def severe_runs(expected) -> dict[str, list[dt.datetime]]:
    """Per junction, the first reading of each three severe readings within 15 minutes, taken in time order, each
    reading counted once (a run of six severe readings is two)."""
    severe: dict[str, list[dt.datetime]] = {}
    for junction, ts in sorted(k for k, r in expected.items() if r["congestion_index"] >= SEVERE):
        severe.setdefault(junction, []).append(ts)
    runs: dict[str, list[dt.datetime]] = {}
    for junction, times in severe.items():
        i = 0
        while i + COUNT - 1 < len(times):
            if times[i + COUNT - 1] - times[i] <= WITHIN:
                runs.setdefault(junction, []).append(times[i])
                i += COUNT
            else:
                i += 1
    return runs


def test_the_junction_congestion_policy_fires_for_exactly_the_junctions_severe_three_times_in_15_minutes(
        main_day, expected):
    settings, _ = main_day
    runs = severe_runs(expected)
    assert runs, "the simulated day has no junction severely congested three times within 15 minutes"
    actions = rows(settings, f"SELECT action, params, partition_key FROM ops.outbox WHERE policy_id = '{POLICY}'")
    assert {a["partition_key"] for a in actions} == set(runs)
    zone = ZoneInfo(settings.city.timezone)
    dispatched = sorted((a["partition_key"], json.loads(a["params"])["reason"]) for a in actions
                        if a["action"] == "dispatch_order")
    assert dispatched == sorted(
        (j, f"路口 {j} 15 分钟内 3 次严重拥堵，自 {t.astimezone(zone).isoformat()} 起") for j, times in runs.items()
        for t in times)
    signals = [json.loads(a["params"]) for a in actions if a["action"] == "adjust_signal_plan"]
    assert sorted(s["junction_id"] for s in signals) == sorted(j for j, times in runs.items() for _ in times)


def test_the_simulated_evening_jam_is_severe_at_its_junction_throughout_and_sets_the_policy_off(main_day, expected):
    settings, _ = main_day
    manifest = json.loads((settings.paths.landing / "manifest.json").read_text(encoding="utf-8"))
    [jam] = [s for s in manifest["situations"] if s["kind"] == "severe_congestion"]
    start, end = dt.datetime.fromisoformat(jam["from"]), dt.datetime.fromisoformat(jam["to"])
    assert dt.timedelta(minutes=20) <= end - start <= dt.timedelta(minutes=30)
    during = {ts: r for (j, ts), r in expected.items() if j == jam["junction_id"] and start <= ts < end}
    assert len(during) == (end - start) // dt.timedelta(minutes=5)
    assert all(r["grade"] == "severe" for r in during.values()), during
    assert severe_runs(expected)[jam["junction_id"]][0] == start
