"""Clearance decides, column by column, which sensitive values a client receives in clear.

Against the real service over the session's simulated day: a client cleared for `sensitive` receives the mart's raw
values (every returned cell compared to marts.<mart>), a client without clearance never opens gold_restricted and
its filters see masked values only, the catalogue and the audit say what came in clear, as_of works on the
restricted table. Mixed clearance (a `secret` column beside a `sensitive` one: no mart carries a secret column
today) is proved on a small Iceberg table of its own, read through the service's own rights and query code.
"""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.warehouse import connect
from safecity.service import query, rights
from safecity.service.audit import read_audit
from safecity.service.catalogue import Column, TableInfo
from safecity.transforms import gold as gold_module
from tests.service.conftest import SECRET, _client, read_arrow

# The marts gold masks, their row key and the columns the standards mark sensitive.
SENSITIVE = {"fct_alarm_calls": ("call_id", ("caller_name", "caller_phone", "address")),
             "fct_vehicle_passes": ("motor_vehicle_id", ("plate_no",))}
UNCLEARED = ("city_public", "city_internal", "branch_internal")


def _by_key(rows: pa.Table, key: str, columns: tuple[str, ...]) -> dict:
    return {r[key]: tuple(r[c] for c in columns) for r in rows.select([key, *columns]).to_pylist()}


def _marts(settings, table: str, key: str, columns: tuple[str, ...]) -> dict:
    """The raw values, straight from the warehouse's mart (not through Iceberg)."""
    select = ", ".join(f'"{c}"' for c in (key, *columns))
    with connect(settings, read_only=True) as con:
        return {r[0]: tuple(r[1:]) for r in con.execute(f"SELECT {select} FROM marts.{table}").fetchall()}


def _gold(settings, namespace: str, table: str) -> pa.Table:
    return open_catalog(settings).load_table(f"{namespace}.{table}").scan().to_arrow()


def test_a_client_cleared_for_sensitive_receives_the_raw_values(service):
    for table, (key, columns) in SENSITIVE.items():
        raw = _marts(service.settings, table, key, columns)
        masked = _by_key(_gold(service.settings, "gold", table), key, columns)
        status, got = read_arrow(service, "city_sensitive", table)
        assert status == 200 and got.num_rows == len(raw) > 0, table
        assert not [n for n in got.column_names if n.endswith("__masked")]
        in_clear = 0
        for row_key, values in _by_key(got, key, columns).items():
            assert values == raw[row_key], (table, row_key)          # every returned cell is the raw one
            in_clear += sum(v is not None and v != m for v, m in zip(values, masked[row_key]))
        assert in_clear > 100, table      # and gold would have shown these masked: the read proves something


def test_the_restricted_table_pairs_each_raw_value_with_golds_masked_one(service):
    """One masking rule: the companions are gold's values (the dbt governance view), the raw columns the mart's."""
    for table, (key, columns) in SENSITIVE.items():
        restricted = _gold(service.settings, "gold_restricted", table)
        assert _by_key(restricted, key, columns) == _marts(service.settings, table, key, columns)
        companions = tuple(f"{c}__masked" for c in columns)
        gold = _by_key(_gold(service.settings, "gold", table), key, columns)
        assert _by_key(restricted, key, companions) == gold and len(gold) == restricted.num_rows


def test_the_warehouse_exposes_no_restricted_table(service):
    with connect(service.settings, read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
        assert "gold" in schemas and "gold_restricted" not in schemas
        scopes = [s for s in schemas if s.startswith("scope_")]
        phones = [r[0] for s in scopes for r in con.execute(
            f"SELECT caller_phone FROM {s}.fct_alarm_calls WHERE caller_phone IS NOT NULL").fetchall()]
    assert scopes and phones and all("*" in p for p in phones)


@pytest.fixture
def opened(service, monkeypatch) -> list[str]:
    """Every table the running service loads from its catalog during the test."""
    catalog = service.app.state.service.catalog
    load, seen = catalog.load_table, []

    def recording(identifier, *args, **kwargs):
        seen.append(identifier if isinstance(identifier, str) else ".".join(identifier))
        return load(identifier, *args, **kwargs)

    monkeypatch.setattr(catalog, "load_table", recording)
    return seen


def test_a_client_without_clearance_never_opens_the_restricted_table(service, opened):
    phone = next(iter(_marts(service.settings, "fct_alarm_calls", "call_id", ("caller_phone",)).values()))[0]
    for client in UNCLEARED:
        token = service.token(client, SECRET)
        assert service.call("GET", "/v1/tables", token=token)[0] == 200
        for table in SENSITIVE:
            assert read_arrow(service, client, table)[0] == 200
        # A filter on a masked column compares the masked values: a raw phone number matches nothing.
        status, _, content = service.call("POST", "/v1/tables/fct_alarm_calls/query", {
            "columns": ["caller_phone"], "filters": [{"column": "caller_phone", "op": "eq", "value": phone}]},
            token=token)
        assert status == 200 and json.loads(content)["rows"] == []
    assert "gold.fct_alarm_calls" in opened and not [t for t in opened if t.startswith("gold_restricted.")]
    assert read_arrow(service, "city_sensitive", "fct_alarm_calls", columns=["call_id"], limit=1)[0] == 200
    assert "gold_restricted.fct_alarm_calls" in opened        # the recording sees a restricted read when there is one


def test_the_catalogue_says_masked_or_clear_per_client(service):
    catalog = open_catalog(service.settings)
    snapshots = {ns: catalog.load_table(f"{ns}.fct_alarm_calls").current_snapshot().snapshot_id
                 for ns in ("gold", "gold_restricted")}
    for client, masked, namespace in (("city_sensitive", False, "gold_restricted"), ("city_internal", True, "gold")):
        status, _, content = service.call("GET", "/v1/tables/fct_alarm_calls", token=service.token(client, SECRET))
        described = json.loads(content)
        columns = {c["name"]: c for c in described["columns"]}
        assert status == 200 and described["snapshot_id"] == snapshots[namespace], client
        assert {columns[c]["masked"] for c in SENSITIVE["fct_alarm_calls"][1]} == {masked}, client
        assert not columns["call_id"]["masked"] and not [n for n in columns if n.endswith("__masked")]


def test_the_audit_lists_the_columns_returned_in_clear(service):
    began = dt.datetime.now(dt.timezone.utc)
    request = {"columns": ["call_id", "caller_phone", "category"], "limit": 5}
    for client in ("city_sensitive", "city_internal"):
        status, _, _ = service.call("POST", "/v1/tables/fct_alarm_calls/query", request,
                                    token=service.token(client, SECRET))
        assert status == 200
    service.app.state.service.audit.flush()
    reads = {r["client_id"]: r for r in read_audit(open_catalog(service.settings)).to_pylist()
             if r["ts"] >= began and r["path"].endswith("/query")}
    assert (reads["city_sensitive"]["unmasked_columns"], reads["city_sensitive"]["table_name"]) == \
        ("caller_phone", "gold_restricted.fct_alarm_calls")
    assert (reads["city_internal"]["unmasked_columns"], reads["city_internal"]["table_name"]) == \
        ("", "gold.fct_alarm_calls")
    assert reads["city_sensitive"]["sensitive_columns"] == reads["city_internal"]["sensitive_columns"] == 1


def test_as_of_works_on_the_restricted_table(service):
    catalog = open_catalog(service.settings)
    restricted = catalog.load_table("gold_restricted.fct_alarm_calls").current_snapshot().snapshot_id
    gold = catalog.load_table("gold.fct_alarm_calls").current_snapshot().snapshot_id
    cleared, uncleared = service.token("city_sensitive", SECRET), service.token("city_internal", SECRET)
    path = "/v1/tables/fct_alarm_calls/query"
    status, headers, _ = service.call("POST", path, {"as_of_snapshot": restricted, "limit": 1}, token=cleared)
    assert status == 200 and headers["x-snapshot-id"] == str(restricted)
    status, headers, _ = service.call("POST", path, {"as_of_time": "2099-01-01T00:00:00+08:00", "limit": 1},
                                      token=cleared)
    assert status == 200 and headers["x-snapshot-id"] == str(restricted)
    # Each client's snapshots are those of the table it reads; an uncleared one cannot name a restricted snapshot.
    for token, other in ((cleared, gold), (uncleared, restricted)):
        status, _, content = service.call("POST", path, {"as_of_snapshot": other, "limit": 1}, token=token)
        assert status == 400 and json.loads(content)["error"]["code"] == "E_SNAPSHOT"


# --- the restricted publication and mixed clearance on a small table of their own --------------------------------

RAW = pa.table({"id": [1, 2, 3], "phone": ["13800001111", "13900002222", None], "dossier": ["A-17", "B-29", "C-33"]})
MASKED = pa.table({"id": [1, 2, 3], "phone": ["138****1111", "139****2222", None], "dossier": ["****", "****", "****"]})


def _warehouse(raw: pa.Table, masked: pa.Table):
    """A DuckDB of its own with a mart `t` holding `raw` and its masked form holding `masked`."""
    con = duckdb.connect()
    for schema, rows in (("marts", raw), ("gold_masked", masked)):
        con.execute(f"CREATE SCHEMA {schema}")
        con.register("rows", rows)
        con.execute(f"CREATE TABLE {schema}.t AS SELECT * FROM rows")
        con.unregister("rows")
    return con


def restricted_rows(raw: pa.Table, masked: pa.Table, companions: set[str] = frozenset()) -> pa.Table:
    return gold_module.restricted_rows(_warehouse(raw, masked), "t", companions).read_all()


def test_restricted_rows_pair_raw_and_masked_values_and_refuse_another_order():
    rows = restricted_rows(RAW, MASKED)
    assert rows.column_names == ["id", "phone", "dossier", "phone__masked", "dossier__masked"]
    assert rows.select(["id", "phone", "dossier"]).equals(RAW)
    assert rows["phone__masked"].equals(MASKED["phone"]) and rows["dossier__masked"].equals(MASKED["dossier"])
    with pytest.raises(ValueError, match="row for row"):
        restricted_rows(RAW, MASKED.take([1, 0, 2]))
    with pytest.raises(ValueError, match="columns and rows"):
        restricted_rows(RAW, MASKED.take([0, 1]))
    # A column the view left as it was (all null today) gets a companion only if it had one before.
    blank = RAW.set_column(1, "phone", pa.array([None] * 3, pa.string()))
    masked_blank = MASKED.set_column(1, "phone", pa.array([None] * 3, pa.string()))
    assert "phone__masked" not in restricted_rows(blank, masked_blank).column_names
    assert "phone__masked" in restricted_rows(blank, masked_blank, {"phone"}).column_names


def test_restricted_rows_read_in_batches_stay_paired(monkeypatch):
    """A mart longer than a batch: every batch pairs the same rows as one whole read would."""
    ids = list(range(1, 11))
    raw = pa.table({"id": ids, "phone": [f"1380000{i:04d}" for i in ids]})
    masked = pa.table({"id": ids, "phone": [f"138****{i:04d}" for i in ids]})
    monkeypatch.setattr(gold_module, "BATCH_ROWS", 3)
    batches = list(gold_module.restricted_rows(_warehouse(raw, masked), "t"))
    assert len(batches) == 4
    got = pa.Table.from_batches(batches)
    assert got["id"].to_pylist() == ids and got["phone"].equals(raw["phone"])
    assert got["phone__masked"].equals(masked["phone"])


def test_mixed_clearance_takes_each_column_by_its_class(tmp_path):
    catalog = SqlCatalog("safecity", uri=f"sqlite:///{tmp_path}/catalog.sqlite", warehouse=f"file://{tmp_path}")
    catalog.create_namespace("gold_restricted")
    rows = restricted_rows(RAW, MASKED)
    table = catalog.create_table("gold_restricted.t", schema=rows.schema)
    table.overwrite(rows)
    table = catalog.load_table("gold_restricted.t")
    gold = TableInfo("t", "t", "t", (Column("id", "long", "", "", "internal", False),
                                     Column("phone", "string", "", "", "sensitive", True),
                                     Column("dossier", "string", "", "", "secret", True)), None, None, "gold.t")

    def read(clearance: str, **request) -> tuple[pa.Table, list[str]]:
        client = _client(f"c_{clearance}", clearance=clearance)
        assert rights.wants_restricted(client, gold)
        seen = rights.as_read_by(client, gold, table)
        assert seen.identifier == "gold_restricted.t" and seen.snapshot_id == table.current_snapshot().snapshot_id
        body = query.QueryRequest(order_by=["id"], **request)
        plan = query.plan(body, rights.visible_columns(client, seen), None, seen.snapshot_id)
        needed = rights.stored_columns(seen, {*plan.columns, *body.order_by, *(f.column for f in body.filters)})
        batches = list(query.batches(table, plan, needed))
        got = pa.Table.from_batches(batches) if batches else pa.table({})
        return got, rights.unmasked_sensitive(seen, plan.columns)

    got, unmasked = read("sensitive")
    assert got.to_pylist() == [{**r, "dossier": m["dossier"]} for r, m in zip(RAW.to_pylist(), MASKED.to_pylist())]
    assert unmasked == ["phone"]
    got, unmasked = read("secret")
    assert got.to_pylist() == RAW.to_pylist() and unmasked == ["phone", "dossier"]
    # A filter on the column served masked compares masked values: the raw dossier number finds nothing.
    assert read("sensitive", filters=[{"column": "dossier", "op": "eq", "value": "A-17"}])[0].num_rows == 0
    assert read("sensitive", filters=[{"column": "dossier", "op": "eq", "value": "****"}])[0].num_rows == 3
    assert not rights.wants_restricted(_client("c_internal"), gold)
    # No masked value of the secret column to serve a `sensitive` client: it reads gold, never the raw column.
    bare = catalog.create_table("gold_restricted.bare", schema=RAW.schema)
    bare.overwrite(RAW)
    assert rights.as_read_by(_client("c_sensitive", clearance="sensitive"), gold, bare) is None
    assert rights.as_read_by(_client("c_secret", clearance="secret"), gold, bare) is not None

