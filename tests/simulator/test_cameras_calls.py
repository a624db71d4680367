"""The simulated camera catalog, heartbeats, 110 calls and cases: deterministic, faithful to their manifest, and
shaped like the city (dense Haigang, key points at key places, urban arrival faster than suburban)."""
import csv
import dataclasses
import datetime as dt
import io
import json
import statistics
from collections import Counter


from safecity.ingestion.filecheck import check_file
from safecity.ingestion.mapping import load_mapping, mapping_path
from safecity.simulator import calls, cameras
from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import SCALES
from safecity.simulator.world import World

START = dt.datetime(2026, 7, 15)
NOW = dt.datetime(2026, 7, 16, 6)


def simulate(out, seed=11, scale=SCALES["small"], days=1):
    world = World.load("qinhuangdao", seed)
    manifest = Manifest(seed, scale.name, START.date().isoformat(), days)
    registry = cameras.build_registry(world, scale)
    cameras.simulate_outages(world, registry, START, days, manifest, "heartbeats/status_20260715.jsonl")
    cameras.write_catalog(world, registry, out, manifest, START.date())
    cameras.write_heartbeats(registry, scale, START, days, out, manifest)
    calls.write_calls(world, scale, START, days, out, manifest, NOW)
    manifest.write(out)
    return registry, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_csv(path):
    data = path.read_bytes()
    text = data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("gb18030")
    return list(csv.reader(io.StringIO(text)))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    simulate(tmp_path / "a")
    simulate(tmp_path / "b")
    simulate(tmp_path / "c", seed=12)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_manifest_counts_match_the_files(tmp_path):
    _, manifest = simulate(tmp_path)
    for name, entry in manifest["files"].items():
        path = tmp_path / name
        if entry["kind"].endswith("_csv"):
            assert len(read_csv(path)) - 1 == entry["records"], name
        elif entry["kind"].endswith("jsonl"):
            assert len(path.read_text(encoding="utf-8").splitlines()) == entry["records"], name
        elif entry["kind"] == "catalog_json":
            assert len(json.loads(path.read_text(encoding="utf-8"))["DeviceList"]) == entry["records"]
    assert manifest["fault_counts"] == dict(sorted(Counter(f["kind"] for f in manifest["faults"]).items()))


def test_catalog_faults_are_exactly_what_the_platform_rejects(tmp_path, catalogue):
    """The ground truth is the platform's own verdict: every rejected line is in the manifest with its reason."""
    _, manifest = simulate(tmp_path, scale=dataclasses.replace(SCALES["small"], cameras=2000))
    mapping = load_mapping(mapping_path("video_platform_catalog_csv"), catalogue).mapping
    for name, entry in manifest["files"].items():
        if entry["kind"] != "catalog_csv":
            continue
        result = check_file(catalogue, tmp_path / name, "camera", mapping=mapping, now=NOW)
        found = {(row["line"], row["reason_codes"].split(";")[0]) for row in result.rejected_rows.to_pylist()}
        expected = {(f["line"], f["reason"]) for f in manifest["faults"] if f["file"] == name and "line" in f}
        assert found == expected, name
        assert entry["encoding"] in {"gb18030", "utf-8-bom"}
    encodings = Counter(e["encoding"] for e in manifest["files"].values() if e["kind"] == "catalog_csv")
    assert set(encodings) == {"gb18030", "utf-8-bom"}


def test_catalog_fault_rates_follow_the_configuration(tmp_path):
    world = World.load("qinhuangdao", 5)
    _, manifest = simulate(tmp_path, seed=5, scale=dataclasses.replace(SCALES["small"], cameras=12000))
    rows = sum(e["records"] for e in manifest["files"].values() if e["kind"] == "catalog_csv")
    for kind, rate in world.faults.catalog.model_dump().items():
        observed = manifest["fault_counts"].get(kind, 0)
        expected = rate * rows
        assert abs(observed - expected) <= 4 * (expected ** 0.5) + 2, (kind, observed, expected)


def test_cameras_are_densest_in_haigang_and_key_points_stand_at_key_places(tmp_path):
    registry, _ = simulate(tmp_path, scale=dataclasses.replace(SCALES["small"], cameras=3000))
    channels = [c for c in registry if c.type_code != "118"]
    per_division = Counter(c.division for c in channels)
    assert per_division.most_common(1)[0][0] == "130302"
    key_points = [c for c in channels if c.use_type == "3"]
    assert key_points and all(c.place for c in key_points)
    assert all(c.parent_id for c in channels)


def test_an_nvr_outage_takes_its_channels_down(tmp_path):
    registry, manifest = simulate(tmp_path, scale=dataclasses.replace(SCALES["small"], cameras=3000))
    by_id = {c.device_id: c for c in registry}
    nvr_faults = [f for f in manifest["faults"] if f["kind"] == "nvr_outage"]
    assert nvr_faults
    for fault in nvr_faults:
        window = (dt.datetime.fromisoformat(fault["start"]), dt.datetime.fromisoformat(fault["end"]))
        for channel in (c for c in registry if c.parent_id == fault["key"]):
            assert window in channel.outages
    assert by_id[nvr_faults[0]["key"]].type_code == "118"


def test_urban_calls_are_reached_faster_than_suburban_and_evenings_are_busier(tmp_path):
    simulate(tmp_path, scale=dataclasses.replace(SCALES["small"], calls_per_day=3000))
    rows = read_csv(tmp_path / "calls" / "calls_20260715.csv")
    header, rows = rows[0], rows[1:]
    at = {name: header.index(name) for name in ("bjsj", "ddsj", "xzqh")}
    urban = {d.code for d in World.load("qinhuangdao", 1).city.divisions if d.urban}
    parse = lambda text: dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    delays = {True: [], False: []}
    hours = Counter()
    for row in rows:
        received, arrived = parse(row[at["bjsj"]]), parse(row[at["ddsj"]])
        hours[received.hour] += 1
        if arrived > received:
            delays[row[at["xzqh"]] in urban].append((arrived - received).total_seconds())
    assert statistics.median(delays[True]) < 0.8 * statistics.median(delays[False])
    assert sum(hours[h] for h in (19, 20, 21)) > 3 * sum(hours[h] for h in (3, 4, 5))
