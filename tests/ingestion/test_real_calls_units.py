"""A real CAD export with the units of a call packed in cells (tests/data/real/exports/calls/rvfd_...csv), onboarded with a
mapping file only (tests/data/real/rvfd_units_csv.yaml): every row accounted for, and the call intervals of the first
dispatched and first arriving unit equal to an independent calculation over the raw rows (plain Python + pandas)."""
from __future__ import annotations

import math
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

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
    first = {call: {"units": len(c["units"]),
                    "d2a": min(c["arr"]) - min(c["disp"]) if c["arr"] and c["disp"] else None,
                    "d2e": min(c["enr"]) - min(c["disp"]) if c["enr"] and c["disp"] else None}
             for call, c in calls.items()}
    return {"rows": len(raw), "silver": len(silver), "expected_rows": expected_rows, "no_units": no_units,
            "collisions": collisions, "copies": copies, "flags": flags, "first": first,
            "d2a": [f["d2a"] for f in first.values() if f["d2a"] is not None],
            "d2e": [f["d2e"] for f in first.values() if f["d2e"] is not None]}


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
    """The platform's call-level times (the dbt model every interval mart reads) equal the first units' times
    computed here from the raw rows, call by call; so do the headline figures taken over them."""
    from safecity.lakehouse.catalog import open_catalog as catalog_of
    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect
    from safecity.transforms.invocation import run_dbt

    settings = ingested[0].settings
    with connect(settings) as con:
        publish_views(con, catalog_of(settings))
    completed = run_dbt(settings, "run", "--select", "+int_alarm_calls__first_units")
    assert completed.returncode == 0, completed.stdout[-3000:]
    with connect(settings, read_only=True) as con:
        rows = con.execute(
            "SELECT call_id, units_dispatched, date_diff('second', first_dispatched_at, first_arrived_at), "
            "date_diff('second', first_dispatched_at, first_enroute_at) "
            "FROM intermediate.int_alarm_calls__first_units").fetchall()
    platform = {call: {"units": units, "d2a": d2a, "d2e": d2e} for call, units, d2a, d2e in rows}
    assert platform == independent["first"]
    d2a = [r["d2a"] for r in platform.values() if r["d2a"] is not None]
    assert len(d2a) == len(independent["d2a"]) > 1000
    for p in (0.5, 0.9):
        assert nearest_rank(d2a, p) == nearest_rank(independent["d2a"], p)


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
