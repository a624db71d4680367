"""A site folder for a city outside China, made by `safecity site new` and file edits only, onboards a real export
(Edinburgh's 2012 STATS19 accidents, tests/data/real/exports) and its mart counts days and hours in Europe/London as an
independent reading of the raw rows (csv module) does; a new mapping file is a new source in the Dagster graph with no
code; --site and SAFECITY_SITE pick the site on every command."""
import collections
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.compute as pc
import pytest

from benchmarks.onboarding import EXAMPLE, make_site as edit_into_edinburgh
from safecity.config.profiles import load_settings
from safecity.config.site import SITE_ENV
from safecity.lakehouse.catalog import open_catalog
from tests.real_data import REAL_DATA

BIN = Path(sys.executable).parent
REAL = REAL_DATA / "accidents" / "edinburgh_2012_accident.csv"
MAPPING = "edinburgh_accidents_csv"


def safecity(*args, env=None, timeout=900):
    environment = {k: v for k, v in os.environ.items() if k not in (SITE_ENV, "SAFECITY_HOME", "SAFECITY_ENV")}
    return subprocess.run([str(BIN / "safecity"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**environment, **(env or {})})


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory):
    """site new → edits → site check → the file in landing → `safecity run` (the main job on what landing holds)."""
    if not REAL.exists():
        pytest.fail(f"{REAL} is missing: the real-data set is part of the test fixtures")
    root = tmp_path_factory.mktemp("edinburgh")
    site, home = root / "site", root / "home"
    made = safecity("site", "new", str(site))
    assert made.returncode == 0, made.stderr
    edit_into_edinburgh(site)
    checked = safecity("site", "check", str(site))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (home / "landing" / "accidents").mkdir(parents=True)
    shutil.copy(REAL, home / "landing" / "accidents" / REAL.name)
    ran = safecity("--site", str(site), "run", "--json", "--home", str(home), timeout=1800)
    return {"site": site, "home": home, "run": ran}


@pytest.mark.slow
def test_the_main_job_runs_on_the_sites_export_without_simulating(onboarded):
    ran, home = onboarded["run"], onboarded["home"]
    assert ran.returncode == 0, ran.stderr[-4000:]
    # Landing held the site's export: nothing simulated next to it.
    assert not (home / "landing" / "manifest.json").exists()
    assert sorted(p.name for p in (home / "landing").rglob("*") if p.is_file()) == [REAL.name]


@pytest.mark.slow
def test_every_row_is_in_silver_and_the_marts_count_days_and_hours_in_the_citys_zone(onboarded):
    with REAL.open(newline="", encoding="ascii") as handle:
        raw = list(csv.DictReader(handle))
    # Independently: the local day and hour of each accident as the export writes them (UK local time).
    expected = collections.Counter((dt.datetime.strptime(r["a_date"], "%d/%m/%Y").date(), int(r["a_time_hr"]))
                                   for r in raw)
    with duckdb.connect(str(onboarded["home"] / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT occurred_date, occurred_hour, sum(incidents) FROM marts.mart_traffic_incident_volumes "
                           "WHERE level = 'city' GROUP BY ALL").fetchall()
        city_code = con.execute("SELECT DISTINCT unit_code FROM marts.mart_traffic_incident_volumes "
                                "WHERE level = 'city'").fetchall()
    assert city_code == [("S12000036",)]
    got = {(day, hour): n for day, hour, n in rows}
    assert sum(got.values()) == len(raw) == 1163
    # A mart counting in Asia/Shanghai would put every accident 7 or 8 hours later (and some on the next day).
    assert sorted(got) == sorted(expected)
    worst = max(abs(got[k] - expected[k]) / expected[k] for k in expected)
    assert worst <= 0.01, worst
    peak = max(range(24), key=lambda h: sum(n for (_, hour), n in expected.items() if hour == h))
    assert max(range(24), key=lambda h: sum(n for (_, hour), n in got.items() if hour == h)) == peak
    assert 8 <= peak <= 18  # a daytime peak, as road accidents have; it fell at night in the wrong zone
    # British National Grid easting/northing converted to WGS-84: inside the council area.
    settings = load_settings("local", onboarded["home"], site=onboarded["site"])
    silver = open_catalog(settings).load_table("silver.traffic_incident").scan(
        selected_fields=("longitude", "latitude")).to_arrow()
    assert silver.num_rows == len(raw)
    positions = (pc.min(silver["longitude"]).as_py(), pc.max(silver["longitude"]).as_py(),
                 pc.min(silver["latitude"]).as_py(), pc.max(silver["latitude"]).as_py())
    assert -3.55 < positions[0] < positions[1] < -3.05 and 55.80 < positions[2] < positions[3] < 56.01, positions
    fatal = sum(r["severity"] == "Fatal" for r in raw)
    with duckdb.connect(str(onboarded["home"] / "warehouse.duckdb"), read_only=True) as con:
        fatal_mart = con.execute("SELECT sum(incidents) FROM marts.mart_traffic_incident_volumes WHERE level = 'city' "
                                 "AND accident_type = 'fatal'").fetchone()[0]
    assert fatal_mart == fatal == 13


@pytest.mark.slow
def test_the_sites_real_accidents_are_reported_and_escalated_without_a_call_export(onboarded):
    """The site has accident records and no 110 export: every accident is still an incident report with its
    casualties, and the emergency pack opens level IV for each one with a casualty (STATS19 records injury
    accidents only, so for all of them), as an independent reading of the raw rows says."""
    with REAL.open(newline="", encoding="ascii") as handle:
        raw = list(csv.DictReader(handle))
    casualties = {r["acc_ref"]: int(r["no_casualt"]) for r in raw}
    catalog = open_catalog(load_settings("local", onboarded["home"], site=onboarded["site"]))
    reported = catalog.load_table("silver.incident_reported").scan(
        selected_fields=("incident_id", "casualties", "category")).to_arrow().to_pylist()
    assert {r["incident_id"]: r["casualties"] for r in reported} == casualties and len(reported) == len(raw)
    assert {r["category"] for r in reported} == {"030000"}
    outbox = catalog.load_table("ops.outbox").scan().to_arrow().to_pylist()
    levels = collections.Counter((r["params"]["incident_id"], r["params"]["level"]) for r in
                                 ({**r, "params": json.loads(r["params"])} for r in outbox)
                                 if r["policy_id"] == "emergency.incident_escalation")
    assert levels == collections.Counter({(ref, "IV"): 1 for ref, n in casualties.items() if n >= 1})
    assert len(levels) == 1163


def test_a_new_mapping_file_is_a_new_source_of_its_entitys_asset_without_code(tmp_path, monkeypatch):
    from safecity.config.site import default_site
    from safecity.config.site_scaffold import scaffold_site
    from safecity.orchestration.defs.ingestion import SOURCES_TAG, site_ingestion
    monkeypatch.delenv(SITE_ENV, raising=False)
    site = tmp_path / "site"
    scaffold_site(site, default_site())
    monkeypatch.setenv(SITE_ENV, str(site))
    before = site_ingestion()
    assert "edinburgh_accidents_csv" not in before["traffic_incident"].op.tags[SOURCES_TAG]
    text = (EXAMPLE / "sources" / f"{MAPPING}.yaml").read_text(encoding="utf-8")
    (site / "sources" / f"{MAPPING}.yaml").write_text(text, encoding="utf-8")
    # A reload builds the definitions again from the files: the entity's one asset now reads both sources.
    from safecity.orchestration.definitions import build_definitions
    from safecity.config.profiles import load_settings
    definitions = build_definitions(load_settings(home=tmp_path / "home"))
    incidents = definitions.resolve_assets_def(dg.AssetKey(["silver", "traffic_incident"]))
    assert incidents.op.tags[SOURCES_TAG].split(",") == ["edinburgh_accidents_csv", "traffic_incidents_jsonl"]
    assert definitions.resolve_assets_def(dg.AssetKey(["bronze", MAPPING])) is incidents
    (site / "sources" / "traffic_incidents_jsonl.yaml").unlink()
    (site / "sources" / "cases_csv.yaml").unlink()
    after = site_ingestion()
    assert "case" not in after and after["traffic_incident"].op.tags[SOURCES_TAG] == MAPPING


@pytest.mark.slow
def test_site_and_its_environment_variable_pick_the_site_on_several_commands(onboarded, tmp_path):
    site, home = onboarded["site"], onboarded["home"]
    by_option = safecity("--site", str(site), "quarantine", "summary", "--json", "--home", str(home))
    by_command = safecity("quarantine", "summary", "--json", "--home", str(home), "--site", str(site))
    by_env = safecity("quarantine", "summary", "--json", "--home", str(home), env={SITE_ENV: str(site)})
    assert by_option.returncode == by_command.returncode == by_env.returncode == 0, by_env.stderr
    assert by_option.stdout == by_command.stdout == by_env.stdout
    # The site's mapping ids resolve through the site; the default site does not know them.
    check = safecity("standards", "check", str(REAL), "--entity", "traffic_incident", "--mapping", MAPPING,
                     "--json", "--site", str(site))
    assert check.returncode == 0, check.stderr
    assert '"total": 1163' in check.stdout and '"rejected": 0' in check.stdout
    unknown = safecity("ingest", MAPPING, str(REAL), "--home", str(tmp_path / "other"))
    assert unknown.returncode == 2 and "edinburgh_accidents_csv" in unknown.stderr
    # rules check with no folder checks the site's live set (its one enabled pack).
    rules = safecity("rules", "check", env={SITE_ENV: str(site)})
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # Nothing falls back to the default site: a folder that is not a site stops every command.
    for command in (["run"], ["ingest", MAPPING], ["quarantine", "summary"]):
        refused = safecity(*command, "--home", str(tmp_path / "h"), env={SITE_ENV: str(tmp_path)})
        assert refused.returncode == 2 and "E_SITE" in refused.stderr, (command, refused.stderr)


def test_site_check_names_file_and_line_of_each_problem(tmp_path):
    site = tmp_path / "site"
    assert safecity("site", "new", str(site)).returncode == 0
    edit_into_edinburgh(site)
    city = (site / "city.yaml").read_text(encoding="utf-8")
    (site / "city.yaml").write_text(city.replace("timezone: Europe/London", "timezone: Europe/Edinburgh"),
                                    encoding="utf-8")
    checked = safecity("site", "check", str(site))
    line = next(n for n, text in enumerate((site / "city.yaml").read_text().splitlines(), 1)
                if text.startswith("timezone:"))
    assert checked.returncode == 1
    assert f"{site / 'city.yaml'}:{line}" in checked.stderr and "Europe/Edinburgh" in checked.stderr


def test_partitions_and_schedules_are_days_in_the_site_citys_zone(tmp_path, monkeypatch):
    import datetime
    from safecity.config.site import default_site
    from safecity.config.site_scaffold import scaffold_site
    from safecity.orchestration.defs.lakehouse.maintenance import nightly_maintenance
    from safecity.orchestration.defs.partitions import daily, local_day
    monkeypatch.delenv(SITE_ENV, raising=False)
    assert daily().timezone == "Asia/Shanghai"
    site = tmp_path / "site"
    scaffold_site(site, default_site())
    edit_into_edinburgh(site)
    monkeypatch.setenv(SITE_ENV, str(site))
    assert daily().timezone == nightly_maintenance().execution_timezone == "Europe/London"
    # 16:30 UTC is 17:30 in Edinburgh (BST), still 1 July, and 00:30 on 2 July in Qinhuangdao.
    moment = datetime.datetime(2026, 7, 1, 16, 30, tzinfo=datetime.timezone.utc)
    assert local_day(moment) == "2026-07-01"
    monkeypatch.delenv(SITE_ENV)
    assert local_day(moment) == "2026-07-02"
