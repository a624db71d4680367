"""The Dagster UI's view of the service: clients and the audit volumes as the metadata of ops/data_access."""
import datetime as dt

import dagster as dg

from safecity.orchestration.defs.service import OBSERVE_JOB, audit_volumes, service_definitions
from safecity.orchestration.resources import resources_for
from tests.service.conftest import SECRET


def test_audit_volumes_count_recent_requests_refusals_and_rows():
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.timezone.utc)
    rows = [{"ts": now - dt.timedelta(hours=1), "client_id": "a", "status": 200, "rows": 10},
            {"ts": now - dt.timedelta(hours=2), "client_id": "a", "status": 404, "rows": 0},
            {"ts": now - dt.timedelta(hours=30), "client_id": "a", "status": 200, "rows": 99},
            {"ts": now, "client_id": "", "status": 401, "rows": 0}]
    assert audit_volumes(rows, now) == {"(anonymous)": {"requests": 1, "refused": 1, "rows": 0},
                                        "a": {"requests": 2, "refused": 1, "rows": 10}}


def test_the_observation_shows_the_clients_and_the_audit(service):
    service.call("GET", "/v1/tables", token=service.token("city_internal", SECRET))
    service.app.state.service.audit.flush()
    defs = dg.Definitions.merge(service_definitions(), dg.Definitions(resources=resources_for(service.settings)))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(OBSERVE_JOB).execute_in_process(instance=instance)
        assert result.success
        [observation] = [e.event_specific_data.asset_observation for e in result.all_events
                         if e.event_type_value == "ASSET_OBSERVATION"]
    assert "provincial_platform" in observation.metadata["clients"].value
    assert "| city_internal |" in observation.metadata["last_24h"].value
    assert observation.metadata["requests_total"].value >= 2
