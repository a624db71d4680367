"""One simulated small day built once per session (gold published), and the real service on uvicorn over it."""
from __future__ import annotations

import pyarrow as pa
import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.service.app import create_app
from safecity.service.clients import Client, hash_secret
from tests.service.server import Running
from tests.transforms.simulated import build_simulated_day

SECRET = "s3cret-for-tests"


def read_arrow(service, client: str, table: str, **request) -> tuple[int, pa.Table | bytes]:
    """One query of a table by a client as an Arrow stream (all rows unless the request says otherwise)."""
    status, _, content = service.call("POST", f"/v1/tables/{table}/query", {"format": "arrow", "limit": 5_000_000,
                                                                           **request},
                                      token=service.token(client, SECRET))
    return status, (pa.ipc.open_stream(content).read_all() if status == 200 else content)


def _client(client_id: str, **rights) -> Client:
    rights = {"tables": ["*"], "level": "city", "clearance": "internal", **rights}
    return Client(id=client_id, name_zh=client_id, name_en=client_id, secret_hash=hash_secret(SECRET), **rights)


@pytest.fixture(scope="session")
def gold_day(tmp_path_factory):
    settings, _, result, _ = build_simulated_day(tmp_path_factory.mktemp("service"))
    assert result.success
    return settings


@pytest.fixture(scope="session")
def service_clients(gold_day) -> dict[str, Client]:
    division = gold_day.city.divisions[0].code
    clients = [
        _client("city_cleared", clearance="secret"),
        _client("city_public", clearance="public"),
        _client("city_internal"),
        _client("city_sensitive", clearance="sensitive"),
        _client("branch_cleared", level="branch", unit=division, clearance="secret"),
        _client("branch_internal", level="branch", unit=division),
        _client("traffic_only", tables=["mart_congestion_index"]),
        _client("slow_lane", requests_per_minute=3),
        _client("audited_one"),
        _client("bulk_reader"),
        _client("schema_fuzzer", requests_per_minute=1_000_000),
        _client("load_tester", requests_per_minute=1_000_000),
    ]
    return {c.id: c for c in clients}


@pytest.fixture(scope="session")
def service(gold_day, service_clients):
    app = create_app(open_catalog(gold_day), service_clients, "test-signing-key-" + "x" * 32)
    with Running(app) as running:
        running.app = app
        running.settings = gold_day
        yield running
