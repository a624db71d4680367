"""A real CAD export with the units of a call packed in cells (tests/data/real/exports/calls/rvfd_...csv), onboarded with a
mapping file only (tests/data/real/rvfd_units_csv.yaml): every row accounted for, and the call intervals of the first
dispatched and first arriving unit equal to an independent calculation over the raw rows (plain Python + pandas)."""
from __future__ import annotations

import math
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from safecity.analytics.dispatch_units import response_kpis, silver_units
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import FileIngestor
from safecity.lakehouse.catalog import open_catalog
from tests.real_data import REAL_DATA

REAL = REAL_DATA / "calls/rvfd_calls_for_service_2010-2020_first10000.csv"
MAPPING = Path(__file__).resolve().parents[1] / "data" / "real" / "rvfd_units_csv.yaml"
CELLS = ["Unit_Dispatch_Times", "Unit_Enroute_Times", "Unit_Arrive_Times", "Unit_Clear_Times"]
ENTRY = re.compile(r"^\s*(.+?)\s*=\s*(\d+):(\d+):(\d+)\s*$")
DAY, EARLY = 86_400, 3_600



def _entries(cell: str) -> list[tuple[str, int]]:
    if cell.strip() in ("", "NULL"):
        return []
    out = []
    for part in cell.split(","):
        m = ENTRY.match(part)
        assert m, f"unexpected entry {part!r}"  # the file has none; the ingestion would reject them with E_TYPE
        out.append((m.group(1), int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))))
    return out


def _unit_records(row) -> list[dict]:
    """The row's unit records, each (unit, k) once with its number of identical copies, times in absolute seconds."""
    cells = [_entries(row[c]) for c in CELLS]
    anchor = next((entries[0][1] for entries in cells if entries), None)
    if anchor is None:
        return []
    base = pd.Timestamp(pd.to_datetime(row["incident_date"], format="%m/%d/%y %I:%M %p")).value // 10**9

    def absolute(t: int) -> int:
        d = (t - anchor) % DAY
        return base + anchor + (d - DAY if d > DAY - EARLY else d)

    records: dict[tuple[str, int], dict] = {}
    for stage, entries in zip(("disp", "enr", "arr", "clr"), cells):
        copies = Counter((unit, absolute(t)) for unit, t in entries)
        per_unit: dict[str, list[int]] = {}
        for unit, when in copies:
            per_unit.setdefault(unit, []).append(when)
        for unit, times in per_unit.items():
            for k, when in enumerate(sorted(times), 1):
                record = records.setdefault((unit, k), {"unit": unit, "k": k, "copies": 1})
                record[stage] = when
                record["copies"] = max(record["copies"], copies[(unit, when)])
    return list(records.values())


def _flagged(r: dict) -> set[str]:
    """The soft E_ORDER checks of dispatched_unit: a time earlier than one before it in the chain."""
    order = ["disp", "enr", "arr", "clr"]
    out = set()
    for i, later in enumerate(order):
        if r.get(later) is not None and any(r.get(e) is not None and r[later] < r[e] for e in order[:i]):
            out.add(later)
    return out


@pytest.fixture(scope="module")
def independent():
    raw = pd.read_csv(REAL, dtype=str, keep_default_na=False)
    silver: dict[tuple, dict] = {}
    expected_rows, no_units, collisions, copies, flags = 0, 0, 0, 0, 0
    for _, row in raw.iterrows():
        records = _unit_records(row)
        if not records:
            no_units += 1
            expected_rows += 1
            continue
        for r in records:
            expected_rows += r["copies"]
            copies += r["copies"] - 1
            key = (row["incident_num"].strip(), r["unit"], r["k"])
            if key in silver:
                # The key was taken by an earlier line (the first one wins): the same times again is one more exact
                # copy (with any copies of its own), other times a key collision.
                same = all(silver[key].get(s) == r.get(s) for s in ("disp", "enr", "arr", "clr"))
                copies, collisions = (copies + 1, collisions) if same else (copies, collisions + 1)
                continue
            silver[key] = r
            flags += len(_flagged(r))
    calls: dict[str, dict] = {}
    for (call, _, _), r in silver.items():
        kept = {s: r.get(s) for s in ("disp", "enr", "arr") if s not in _flagged(r)}
        c = calls.setdefault(call, {"disp": [], "enr": [], "arr": [], "units": set()})
        c["units"].add(r["unit"])
        for s, v in kept.items():
            if v is not None:
                c[s].append(v)
    d2a = [min(c["arr"]) - min(c["disp"]) for c in calls.values() if c["arr"] and c["disp"]]
    d2e = [min(c["enr"]) - min(c["disp"]) for c in calls.values() if c["enr"] and c["disp"]]
    return {"rows": len(raw), "silver": len(silver), "expected_rows": expected_rows, "no_units": no_units,
            "collisions": collisions, "copies": copies, "flags": flags, "calls": len(calls),
            "units": sum(len(c["units"]) for c in calls.values()), "d2a": d2a, "d2e": d2e}


def nearest_rank(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered)) - 1]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, catalogue):
    from safecity.config.profiles import load_settings

    settings = load_settings("local", tmp_path_factory.mktemp("rvfd") / "home")
    folder = settings.paths.landing / "calls"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REAL, folder / REAL.name)
    ingestor = FileIngestor(open_catalog(settings), catalogue, load_mapping(MAPPING, catalogue), settings.paths.landing)
    report = ingestor.ingest(f"calls/{REAL.name}")
    ingestor.settings = settings
    return ingestor, report


def test_every_row_is_accounted_for(ingested, independent):
    ingestor, report = ingested
    assert report.received == independent["rows"] == 10_000
    assert report.reconciled and report.unaccounted_lines == 0
    assert report.silver == independent["silver"]
    assert report.silver + report.quarantined == independent["expected_rows"]
    # A call row that sent no unit is kept with its reason; a unit written twice with the same time is a counted
    # exact duplicate; the same key from another line with other times is a key collision.
    assert report.reasons["E_REQUIRED"] == independent["no_units"]
    assert report.reasons["E_DUPLICATE_ROW"] == independent["copies"] > 1000
    assert report.reasons["E_DUPLICATE_KEY"] == independent["collisions"]
    assert set(report.reasons) <= {"E_REQUIRED", "E_DUPLICATE_ROW", "E_DUPLICATE_KEY"}


def test_out_of_order_times_flag_the_field_and_keep_the_unit(ingested, independent):
    ingestor, report = ingested
    assert report.flags["E_ORDER"] == independent["flags"] > 0
    flags = ingestor.batches.flags.refresh().scan().to_arrow().to_pylist()
    assert len(flags) == independent["flags"]
    silver = {(r["call_id"], r["unit_id"], r["response_no"]): r
              for r in ingestor.tables["silver"].refresh().scan().to_arrow().to_pylist()}
    for flag in flags:
        call, unit, k = flag["record_key"].split("|")
        assert silver[(call, unit, int(k))][flag["field"]] is None  # left out of silver, the unit itself kept
        assert flag["message_zh"] and flag["message_en"]


def test_call_intervals_are_those_of_the_first_units(ingested, independent):
    ingestor, _ = ingested
    con = duckdb.connect()
    kpis = response_kpis(con, silver_units(con, ingestor.tables["silver"].refresh()), within_minutes=5)
    d2a, d2e = independent["d2a"], independent["d2e"]
    assert kpis.calls == independent["calls"] and kpis.units == independent["units"]
    assert kpis.arrived_calls == len(d2a) > 1000
    assert kpis.dispatched_to_arrived_p50_s == pytest.approx(nearest_rank(d2a, 0.5), rel=0.01)
    assert kpis.dispatched_to_arrived_p90_s == pytest.approx(nearest_rank(d2a, 0.9), rel=0.01)
    assert kpis.dispatched_to_enroute_p50_s == pytest.approx(nearest_rank(d2e, 0.5), rel=0.01)
    assert kpis.dispatched_to_enroute_p90_s == pytest.approx(nearest_rank(d2e, 0.9), rel=0.01)
    assert kpis.on_scene_within_share == pytest.approx(sum(v <= 300 for v in d2a) / len(d2a), rel=0.01)


def test_standards_check_reports_rejections_and_flags_alike(catalogue, independent):
    from safecity.ingestion.filecheck import check_file

    result = check_file(catalogue, REAL, "dispatched_unit", mapping=load_mapping(MAPPING, catalogue).mapping)
    assert result.total == independent["expected_rows"]
    assert result.accepted == independent["silver"]
    assert result.reasons["E_REQUIRED"] == independent["no_units"]
    assert result.reasons["E_DUPLICATE_ROW"] == independent["copies"]
    assert result.flags["E_ORDER"] == independent["flags"]


def test_quarantine_summary_lists_every_reason_and_the_flags(ingested, independent):
    from safecity.ingestion.quarantine import quarantine_summary

    ingestor, _ = ingested
    groups = quarantine_summary(ingestor.settings, "dispatched_unit")
    rejected = {(g["reason"], g["field"]): g["rows"] for g in groups if g["kind"] == "reject"}
    flagged = sum(g["rows"] for g in groups if g["kind"] == "flag")
    assert rejected[("E_REQUIRED", "unit_id")] == independent["no_units"]
    assert rejected[("E_DUPLICATE_ROW", "call_id")] == independent["copies"]
    assert flagged == independent["flags"]
    assert all(g["message_zh"] for g in groups)
