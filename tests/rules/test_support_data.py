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


def test_derived_events_agree_with_the_files(simulated):
    out, counts, _ = simulated
    roster = rows(out / "support" / "duty_roster_20250301.csv")
    orders = rows(out / "support" / "work_orders_20250301.csv")
    events = [json.loads(line) for line in (out / "events" / "support_events_20250301.jsonl").read_text().splitlines()]
    gaps = [e for e in events if e["type"] == "duty_gap"]
    assert len(gaps) == sum(int(r["officers_on_duty"]) < int(r["officers_required"]) for r in roster) > 0
    end = dt.datetime(2025, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    late = {r["work_order_id"] for r in orders
            if min(dt.datetime.fromisoformat(r["closed_at"]) if r["closed_at"] else end, end)
            > dt.datetime.fromisoformat(r["due_at"])}
    assert {e["work_order_id"] for e in events if e["type"] == "work_order_overdue"} == late and late
    spent = sum(float(r["cost"]) for r in orders if r["cost"])
    last_day = [e for e in events if e["type"] == "budget_consumed" and e["ts"].startswith("2025-03-03")]
    assert round(sum(e["spent"] for e in last_day), 2) == round(spent, 2)
    result = evaluate([], events)
    assert result.rejected == []


def test_security_policies_on_the_simulated_events(simulated):
    out, _, _ = simulated
    events = [json.loads(line) for line in (out / "events" / "support_events_20250301.jsonl").read_text().splitlines()]
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
