"""One simulated small day built through the whole asset graph, shared by the KPI tests of this folder."""
import pytest

from safecity.lakehouse.warehouse import connect
from tests.transforms.simulated import build_simulated_day


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    settings, manifest, result, seconds = build_simulated_day(tmp_path_factory.mktemp("analysis"))
    con = connect(settings, read_only=True)
    yield {"settings": settings, "manifest": manifest, "result": result, "seconds": seconds, "con": con}
    con.close()


@pytest.fixture
def q(built):
    def run(sql, params=None):
        return built["con"].execute(sql, params or []).fetchall()
    return run
