"""The shipped policies on a simulated day's camera silver tables (written by the Dagster camera assets): the
repair-deadline table fires for exactly the offline cameras its thresholds name, and the blind-spot policy joins
incidents with the real camera_down facts. Expectations are SQL over the same silver tables."""

import pytest
from test_policy_silver_events import BLIND_SPOT, BLIND_SPOT_SQL, REPAIR, REPAIR_SQL

from safecity.lakehouse.warehouse import connect
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.views import publish_views
from safecity.rules.engine import EVENT_TIME
from safecity.rules.events import fact_types, silver_events
from safecity.rules.loader import load_policies
from safecity.rules.worker import evaluate_supervised

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def silver(camera_day):
    settings = camera_day["settings"]
    con = connect(settings, ":memory:")
    publish_views(con, open_catalog(settings), ("silver",))
    # The day has no 110 incidents: one in each cell with a single camera down, 10 minutes after it went down,
    # one an hour before, and one in a cell with no camera down.
    con.execute("""CREATE TABLE silver.incident_reported AS
        SELECT 'A' || row_number() OVER (ORDER BY grid_id) AS incident_id, '010000' AS category, grid_id,
               min(since) + INTERVAL 10 MINUTE AS ts, 'incidents' AS _batch_id,
               row_number() OVER (ORDER BY grid_id) AS _line
        FROM silver.camera_down GROUP BY grid_id HAVING count(*) = 1
        UNION ALL
        SELECT 'B' || row_number() OVER (ORDER BY grid_id), '020000', grid_id, min(since) - INTERVAL 1 HOUR,
               'incidents', 1000 + row_number() OVER (ORDER BY grid_id)
        FROM silver.camera_down GROUP BY grid_id HAVING count(*) = 1
        UNION ALL
        SELECT 'C1', '010000', 'G0', TIMESTAMPTZ '2026-07-01 12:00:00+08', 'incidents', 2000""")
    yield con
    con.close()


def test_camera_policies_fire_for_exactly_the_cameras_silver_names(silver, catalogue):
    policies = load_policies()
    events = silver_events(silver, catalogue, facts=fact_types(policies))
    result, set_aside = evaluate_supervised(policies, events, clock=EVENT_TIME)
    assert set_aside == [] and result.errors == [] and result.rejected == []

    expected_repairs = sorted(silver.execute(REPAIR_SQL).fetchall())
    assert {h for _, _, h in expected_repairs} >= {4, 24}  # the day has a key and an important camera down
    repairs = sorted((r.matched_event_ids[0], r.params["device_id"], r.params["sla_hours"])
                     for r in result.outbox if r.policy_id == REPAIR)
    assert repairs == expected_repairs

    expected_dispatches = sorted(tuple(sorted(p)) for p in silver.execute(BLIND_SPOT_SQL).fetchall())
    assert expected_dispatches and all(i.startswith("incidents:") and f.startswith("camera_down:")
                                       for f, i in expected_dispatches)
    dispatches = sorted(tuple(sorted(r.matched_event_ids)) for r in result.outbox
                        if r.policy_id == BLIND_SPOT and r.action == "dispatch_order")
    assert dispatches == expected_dispatches

    # One alert each time a key-point camera goes offline: the state machine's own change records (not the
    # camera_health events the policy reads), with each camera's point level.
    went_offline = sorted(r[0] for r in silver.execute("""
        SELECT c.device_id FROM silver.camera_state_change c
        WHERE c.to_state = 'offline'
          AND c.device_id IN (SELECT camera_id FROM silver.camera_health WHERE point_level = 'key')""").fetchall())
    assert went_offline
    assert sorted(r.partition_key for r in result.outbox if r.policy_id == "camera.key_point_offline") == went_offline


def test_the_rewritten_packs_fire_the_same_actions_on_the_simulated_day(silver, catalogue):
    """Issue 19 rewrote packs (the escalation ladder, policy names in templates): on the simulated day the
    shipped set and the set as it was before (tests/rules/fixtures/before) fire the same outbox."""
    from pathlib import Path
    from safecity.rules.loader import POLICIES_DIR, load_policy
    before_dir = Path(__file__).parent / "fixtures" / "before"
    shipped = load_policies()
    before = [load_policy(before_dir / p.path.relative_to(POLICIES_DIR))
              if (before_dir / p.path.relative_to(POLICIES_DIR)).exists() else p for p in shipped]
    assert sum(a is not b for a, b in zip(before, shipped)) == len(list(before_dir.rglob("*.yaml"))) == 8
    fired = []
    for policies in (before, shipped):
        events = silver_events(silver, catalogue, facts=fact_types(policies))
        result, set_aside = evaluate_supervised(policies, events, clock=EVENT_TIME)
        assert set_aside == [] and result.errors == []
        fired.append(sorted((r.idempotency_key, r.action, str(r.params)) for r in result.outbox))
    assert len(fired[0]) > 10 and fired[1] == fired[0]
