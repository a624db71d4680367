"""The data service, running on uvicorn over a simulated day's gold: tokens, scopes, masking, audit, limits."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.warehouse import connect
from safecity.rules.engine import EVENT_TIME, evaluate
from safecity.rules.loader import POLICIES_DIR, load_policy
from safecity.service import tokens
from safecity.analytics.policy_events import PRODUCERS, refresh_policy_events
from safecity.lakehouse.views import publish_views
from safecity.rules.events import silver_events
from safecity.service.audit import read_audit
from safecity.service.catalogue import gold_tables
from safecity.standards.catalogue import load_catalogue
from tests.service.conftest import SECRET, read_arrow as _arrow

KEY = "test-signing-key-" + "x" * 32


def _gold(settings, table: str) -> pa.Table:
    return open_catalog(settings).load_table(f"gold.{table}").scan().to_arrow()


def test_token_needs_the_right_secret_and_grant(service):
    assert service.call("POST", "/oauth/token",
                        form=f"grant_type=client_credentials&client_id=city_internal&client_secret={SECRET}x")[0] == 401
    status, _, content = service.call("POST", "/oauth/token",
                                      form=f"grant_type=password&client_id=city_internal&client_secret={SECRET}")
    assert status == 400 and json.loads(content)["error"]["code"] == "E_GRANT"
    token = service.token("city_internal", SECRET)
    status, _, content = service.call("GET", "/v1/tables", token=token)
    assert status == 200 and "fct_alarm_calls" in {t["name"] for t in json.loads(content)["tables"]}


def test_expired_and_forged_tokens_are_refused(service):
    expired = tokens.issue(KEY, "city_internal", lifetime=60, now=time.time() - 3600)
    forged = tokens.issue("another-key-" + "y" * 32, "city_internal")
    for token in (expired, forged, "not.a.token"):
        status, _, content = service.call("GET", "/v1/tables", token=token)
        assert status == 401
        error = json.loads(content)["error"]
        assert error["code"] == "E_TOKEN" and error["message_zh"] and error["message_en"]


def _in_branch(rows: pa.Table, unit: str) -> pa.Table:
    """The branch's rows computed here with pyarrow, independently of the service's SQL."""
    names = set(rows.column_names)
    if {"level", "unit_code", "parent_code"} <= names:
        mask = pc.or_(pc.and_(pc.equal(rows["level"], "branch"), pc.equal(rows["unit_code"], unit)),
                      pc.and_(pc.equal(rows["level"], "station"), pc.equal(rows["parent_code"], unit)))
    else:
        mask = pc.equal(rows["division_code"], unit)
    return rows.filter(pc.fill_null(mask, False))


def _rows(table: pa.Table) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in table.to_pylist())


def _restricted(settings, table: str) -> pa.Table | None:
    """gold_restricted.<table> without its masked companions (the raw mart), or None if the table has none."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(f"gold_restricted.{table}"):
        return None
    rows = catalog.load_table(f"gold_restricted.{table}").scan().to_arrow()
    return rows.select([n for n in rows.column_names if not n.endswith("__masked")])


def test_a_branch_client_never_receives_another_branchs_rows(service, service_clients):
    """branch_cleared (clearance secret) reads the raw rows of the marts gold masks: its scope holds there too."""
    unit = service_clients["branch_cleared"].unit
    checked, restricted = 0, 0
    for table in gold_tables(open_catalog(service.settings)):
        raw = _restricted(service.settings, table)
        unscoped = raw if raw is not None else _gold(service.settings, table)
        restricted += raw is not None
        status, got = _arrow(service, "branch_cleared", table)
        if not ({"division_code"} <= set(unscoped.column_names)
                or {"level", "unit_code", "parent_code"} <= set(unscoped.column_names)):
            assert status == 404, table   # no column for a branch: the table does not exist for it
            continue
        assert status == 200, (table, got)
        assert _rows(got) == _rows(_in_branch(unscoped, unit)), table
        checked += 1
    assert checked >= 5 and restricted >= 2


def test_no_unmasked_sensitive_value_without_clearance(service):
    with connect(service.settings, read_only=True) as con:
        raw = {v for table, columns in {"fct_alarm_calls": ("caller_name", "caller_phone", "address"),
                                        "fct_vehicle_passes": ("plate_no",)}.items()
               for column in columns
               for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM marts.{table} WHERE "{column}" IS NOT NULL')
               .fetchall()}
    assert len(raw) > 100
    for client in ("city_public", "city_internal", "branch_internal"):
        for table in ("fct_alarm_calls", "fct_vehicle_passes"):
            status, got = _arrow(service, client, table)
            assert status == 200 and got.num_rows > 0
            leaked = {v for column in got.columns for v in column.to_pylist() if isinstance(v, str) and v in raw}
            assert not leaked, (client, table, sorted(leaked)[:5])


def test_columns_above_clearance_are_withheld(service):
    status, got = _arrow(service, "city_public", "fct_alarm_calls")
    assert status == 200 and set(got.column_names) == {"caller_name", "caller_phone", "address"}   # masked in gold
    status, _, content = service.call("POST", "/v1/tables/fct_alarm_calls/query", {"columns": ["call_id"]},
                                      token=service.token("city_public", SECRET))
    assert status == 400 and json.loads(content)["error"]["code"] == "E_COLUMN"


def test_a_table_outside_the_rights_is_404(service):
    token = service.token("traffic_only", SECRET)
    status, _, content = service.call("GET", "/v1/tables", token=token)
    assert [t["name"] for t in json.loads(content)["tables"]] == ["mart_congestion_index"]
    for path in ("/v1/tables/fct_alarm_calls", "/v1/tables/no_such_table"):
        status, _, content = service.call("GET", path, token=token)
        assert status == 404 and json.loads(content)["error"]["code"] == "E_NOT_FOUND"


def test_filters_sorting_and_keyset_pages_match_one_read(service):
    token = service.token("city_cleared", SECRET)
    whole = _gold(service.settings, "fct_alarm_calls")
    category = whole["category"][0].as_py()
    expected = sorted(r for r, c in zip(whole["call_id"].to_pylist(), whole["category"].to_pylist()) if c == category)
    seen, after = [], None
    while True:
        request = {"columns": ["call_id", "category"], "filters": [{"column": "category", "op": "in",
                                                                  "value": [category]}],
                   "order_by": ["call_id"], "limit": 7, **({"after": after} if after else {})}
        status, _, content = service.call("POST", "/v1/tables/fct_alarm_calls/query", request, token=token)
        assert status == 200, content
        page = json.loads(content)
        if not page["rows"]:
            break
        assert all(r["category"] == category for r in page["rows"])
        seen += [r["call_id"] for r in page["rows"]]
        after = page["next_after"]
    assert seen == expected and len(seen) > 7


def test_csv_and_as_of_snapshot(service):
    token = service.token("city_internal", SECRET)
    snapshot = open_catalog(service.settings).load_table("gold.mart_congestion_index").current_snapshot().snapshot_id
    status, headers, content = service.call("POST", "/v1/tables/mart_congestion_index/query",
                                            {"format": "csv", "as_of_snapshot": snapshot, "limit": 10}, token=token)
    assert status == 200 and headers["x-snapshot-id"] == str(snapshot) and len(content.decode().splitlines()) == 11
    status, _, content = service.call("POST", "/v1/tables/mart_congestion_index/query",
                                      {"as_of_snapshot": 12345}, token=token)
    assert status == 400 and json.loads(content)["error"]["code"] == "E_SNAPSHOT"
    status, headers, _ = service.call("POST", "/v1/tables/mart_congestion_index/query",
                                      {"as_of_time": "2099-01-01T00:00:00+08:00", "limit": 1}, token=token)
    assert status == 200 and headers["x-snapshot-id"] == str(snapshot)
    status, _, content = service.call("POST", "/v1/tables/mart_congestion_index/query",
                                      {"as_of_time": "2000-01-01T00:00:00+08:00"}, token=token)
    assert status == 400 and json.loads(content)["error"]["code"] == "E_SNAPSHOT"


def test_rate_limit_and_size_limit(service):
    token = service.token("slow_lane", SECRET)
    statuses = [service.call("GET", "/v1/tables/mart_congestion_index", token=token)[0] for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    big = {"filters": [{"column": "category", "op": "in", "value": ["x" * 100] * 1000}]}
    status, _, content = service.call("POST", "/v1/tables/fct_alarm_calls/query", big,
                                      token=service.token("city_internal", SECRET))
    assert status == 413 and json.loads(content)["error"]["code"] == "E_TOO_LARGE"


def test_every_request_is_audited(service):
    began = dt.datetime.now(dt.timezone.utc)
    token = service.token("audited_one", SECRET)
    calls = [("GET", "/v1/tables", None), ("GET", "/v1/tables/fct_alarm_calls", None),
             ("POST", "/v1/tables/fct_alarm_calls/query", {"limit": 5}),
             ("POST", "/v1/tables/fct_alarm_calls/query", {"columns": ["nope"]}),
             ("GET", "/v1/tables/no_such_table", None)]
    for method, path, body in calls:
        service.call(method, path, body, token=token)
    service.app.state.service.audit.flush()
    audit = [r for r in read_audit(open_catalog(service.settings)).to_pylist() if r["client_id"] == "audited_one" and r["ts"] >= began]
    assert len(audit) == len(calls) + 1     # the token request too
    assert sorted(r["status"] for r in audit) == [200, 200, 200, 200, 400, 404]
    read = next(r for r in audit if r["path"].endswith("/query") and r["status"] == 200)
    assert read["rows"] == 5 and read["table_name"] == "gold.fct_alarm_calls" and read["snapshot_id"]


def test_a_bulk_read_fires_the_sensitive_data_policy(service):
    for _ in range(3):
        status, got = _arrow(service, "bulk_reader", "fct_vehicle_passes")
        assert status == 200 and got.num_rows >= 1000
    service.app.state.service.audit.flush()
    policy = load_policy(POLICIES_DIR / "security" / "sensitive_data_access.yaml")
    # The audit reaches the policy as the batch mode sees it: the access producer's events in silver.
    access = tuple(p for p in PRODUCERS if p.name == "access")
    assert refresh_policy_events(service.settings, producers=access).rows["data_access"] >= 3
    with connect(service.settings) as con:
        publish_views(con, open_catalog(service.settings), ("silver",))
        events = list(silver_events(con, load_catalogue(), only={"data_access"}))
    result = evaluate([policy], events, clock=EVENT_TIME)
    fired = {(r.action, r.params.get("subject")) for r in result.outbox}
    assert ("audit_flag", "bulk_reader") in fired and ("restrict_data_access", "bulk_reader") in fired
    assert not any(subject == "audited_one" for _, subject in fired)


def test_openapi_carries_chinese_and_english(service):
    status, _, content = service.call("GET", "/openapi.json")
    document = json.loads(content)
    assert status == 200 and "数据服务" in document["info"]["title"]
    query = document["paths"]["/v1/tables/{name}/query"]["post"]
    assert "查询" in query["summary"] and "Query" in query["summary"]


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(service, tmp_path):
    """Property-based and stateful runs of the OpenAPI document against the running service."""
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run([str(schemathesis), "run", f"{service.url}/openapi.json",
                          "-H", f"Authorization: Bearer {service.token('schema_fuzzer', SECRET)}",
                          "-c", "not_a_server_error,response_schema_conformance", "-n", "20", "--seed", "20",
                          "--request-timeout", "60"], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)    # schemathesis keeps its state in the working folder
    assert run.returncode == 0, run.stdout[-4000:]
    assert " passed" in run.stdout
