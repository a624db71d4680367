"""Simulated support data (duty rosters, work orders with costs, budgets) conforms to the standards and drives
the security-system policies as an independent reading of the files says it should."""
import csv
import datetime as dt
import json

import pytest

from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.simulator.manifest import Manifest
from safecity.simulator.support import write_support
from safecity.simulator.world import World
from safecity.standards.catalogue import load_catalogue

START = dt.date(2025, 3, 1)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("support")
    world = World.load("qinhuangdao", 5)
    cameras = [{"device_id": f"1303020000132{i:07d}", "division": d, "use_type": str(1 + i % 3)}
               for i, d in enumerate(sorted(world.divisions) * 90)]
    manifest = Manifest(5, "small", START.isoformat(), 3)
    counts = write_support(world, START, 3, out, manifest, cameras)
    return out, counts, manifest


def rows(path):
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_files_conform_to_the_standard_entities(simulated):
    from safecity.ingestion.filecheck import check_file
    out, counts, manifest = simulated
    catalogue = load_catalogue()
    for name, entity in (("duty_roster_20250301.csv", "duty_roster"), ("work_orders_20250301.csv",
                                                                        "maintenance_work_order"),
                         ("budgets_2025.csv", "maintenance_budget")):
        result = check_file(catalogue, out / "support" / name, entity, "utf-8")
        assert result.total > 0 and result.rejected == 0, (name, dict(result.reasons))
    assert manifest.files["support/duty_roster_20250301.csv"]["records"] == counts["rosters"] == 7 * 3 * 3 * 2


def _silver(out):
    """The three support files as silver holds them (typed), on an in-memory warehouse."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("CREATE SCHEMA silver")
    typed = {"duty_roster": ("duty_roster_20250301.csv", "shift_start::TIMESTAMPTZ AS shift_start, "
                             "officers_on_duty::BIGINT AS officers_on_duty, officers_required::BIGINT AS officers_required"),
             "maintenance_work_order": ("work_orders_20250301.csv",
                                        "due_at::TIMESTAMPTZ AS due_at, opened_at::TIMESTAMPTZ AS opened_at, "
                                        "nullif(closed_at, '')::TIMESTAMPTZ AS closed_at, nullif(cost, '')::DOUBLE AS cost"),
             "maintenance_budget": ("budgets_2025.csv", "year::BIGINT AS year, budget_amount::DOUBLE AS budget_amount")}
    for table, (name, casts) in typed.items():
        con.execute(f"CREATE TABLE silver.{table} AS SELECT * REPLACE ({casts}) "
                    f"FROM read_csv(?, all_varchar = true)", [str(out / "support" / name)])
    return con


def _events(out, as_of):
    """The producer's events as the batch mode reads them: its tables in silver, through rules.events."""
    from safecity.analytics.support_events import support_events
    from safecity.config.profiles import load_city
    from safecity.rules.events import silver_events

    con = _silver(out)
    for kind, table in support_events(con, load_city("qinhuangdao"), as_of).items():
        con.register("produced", table)
        con.execute(f"CREATE TABLE silver.{kind} AS SELECT * FROM produced")
        con.unregister("produced")
    return list(silver_events(con, load_catalogue(), only={"duty_gap", "work_order_overdue", "budget_consumed"}))


AS_OF = dt.datetime(2025, 3, 4, 6, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_derived_events_agree_with_the_files(simulated):
    """The platform's support producer against a reading of the exported files in plain Python."""
    out, counts, _ = simulated
    roster = rows(out / "support" / "duty_roster_20250301.csv")
    orders = rows(out / "support" / "work_orders_20250301.csv")
    budgets = {(r["division_code"], int(r["year"])): float(r["budget_amount"])
               for r in rows(out / "support" / "budgets_2025.csv")}
    events = _events(out, AS_OF)
    gaps = [e for e in events if e["type"] == "duty_gap"]
    assert sorted((e["unit_code"], e["shift_start"]) for e in gaps) == sorted(
        (r["unit_code"], dt.datetime.fromisoformat(r["shift_start"]).isoformat()) for r in roster
        if int(r["officers_on_duty"]) < int(r["officers_required"])) and gaps
    late = {}
    for r in orders:
        finished = dt.datetime.fromisoformat(r["closed_at"]) if r["closed_at"] else AS_OF
        due = dt.datetime.fromisoformat(r["due_at"])
        if finished > due:
            late[r["work_order_id"]] = round((finished - due).total_seconds() / 3600, 1)
    assert {e["work_order_id"]: e["hours_overdue"] for e in events if e["type"] == "work_order_overdue"} == late
    assert late
    running, expected = {}, {}
    for r in sorted((r for r in orders if r["cost"]), key=lambda r: (dt.datetime.fromisoformat(r["closed_at"]),
                                                                      r["work_order_id"])):
        key = (r["division_code"], dt.datetime.fromisoformat(r["closed_at"]).year)
        running[key] = running.get(key, 0.0) + float(r["cost"])
        expected[r["work_order_id"]] = round(running[key] / budgets[key], 4)
    assert {e["id"].split(":")[1]: e["ratio"] for e in events if e["type"] == "budget_consumed"} == expected
    result = evaluate([], events)
    assert result.rejected == []


def test_security_policies_on_the_derived_events(simulated):
    out, _, manifest = simulated
    events = sorted(_events(out, AS_OF), key=lambda e: e["ts"])
    policies = [load_policy(POLICIES_DIR / "security" / f) for f in ("duty_coverage.yaml", "repair_overdue.yaml",
                                                                       "maintenance_budget.yaml")]
    result = evaluate(policies, events, clock=EVENT_TIME)
    assert result.rejected == [] and result.errors == []
    fired = {}
    for r in result.outbox:
        fired[(r.policy_id, r.action)] = fired.get((r.policy_id, r.action), 0) + 1
    gaps = [e for e in events if e["type"] == "duty_gap"]
    overdue = [e for e in events if e["type"] == "work_order_overdue"]
    budget = [e for e in events if e["type"] == "budget_consumed"]
    expected = {
        ("security.duty_coverage", "notify_leadership"): sum(e["officers_on_duty"] == 0 for e in gaps),
        ("security.duty_coverage", "raise_alert"): sum(e["officers_on_duty"] > 0 for e in gaps),
        ("security.repair_overdue", "notify_leadership"): sum(e["point_level"] in ("key", "important")
                                                              and e["hours_overdue"] > 0 for e in overdue),
        ("security.maintenance_budget", "audit_flag"): sum(e["ratio"] >= 1.0 for e in budget),
        ("security.maintenance_budget", "notify_leadership"): sum(0.9 <= e["ratio"] < 1.0 for e in budget),
    }
    expected[("security.repair_overdue", "audit_flag")] = expected[("security.repair_overdue", "notify_leadership")]
    assert fired == {k: v for k, v in expected.items() if v}
    # The day's situations are among what fired: the key camera's late repair and the district over its budget.
    situations = {s["kind"]: s for s in manifest.situations}
    subjects = {(r.policy_id, r.action, r.partition_key) for r in result.outbox}
    assert ("security.repair_overdue", "notify_leadership",
            situations["overdue_key_repair"]["key"]) in subjects
    over = situations["over_budget_district"]["division_code"]
    assert {("security.maintenance_budget", "notify_leadership", over),
            ("security.maintenance_budget", "audit_flag", over)} <= subjects
