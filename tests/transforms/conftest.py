"""One simulated small day, ingested and built through Dagster (dbt assets with their checks, then gold), shared by
the KPI tests of this folder."""
import time

import dagster as dg
import pytest

from safecity.config.duckdb_session import connect
from tests.transforms.simulated import land_simulated_day


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    from safecity.orchestration.defs.transforms.assets import build_dbt_assets
    from safecity.orchestration.resources import SafeCityResource, dbt_resource, prepare_dbt

    settings, manifest = land_simulated_day(tmp_path_factory.mktemp("analysis"))
    project = prepare_dbt(settings)
    resources = {"safecity": SafeCityResource(environment="local", home=str(settings.paths.home)),
                 "dbt": dbt_resource()}
    started = time.monotonic()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([build_dbt_assets(project)], resources=resources, instance=instance,
                                raise_on_error=False)
    seconds = time.monotonic() - started
    con = connect(settings, read_only=True)
    yield {"settings": settings, "manifest": manifest, "result": result, "seconds": seconds, "con": con}
    con.close()


@pytest.fixture
def q(built):
    def run(sql, params=None):
        return built["con"].execute(sql, params or []).fetchall()
    return run
