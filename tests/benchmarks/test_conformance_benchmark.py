"""The benchmark measures real conformance: on its generated data the vectorised validator rejects exactly the rows
the independent Python oracle rejects, for the same reasons, and exactly the generator's faulty rows."""
import csv
import datetime as dt

import duckdb

import benchmarks.conformance as bench
from safecity.standards.catalogue import load_catalogue
from safecity.standards.checks import plan
from tests.standards.row_oracle import RowChecker


def test_vectorised_rejects_the_rows_the_oracle_rejects(tmp_path):
    data = tmp_path / "passes.csv"
    bench.generate(data, 3000)
    out = tmp_path / "vectorised.parquet"
    assert bench.run_vectorised(data, out) == 3000
    from_sql = {line - 2: sorted((r["code"], r["field"]) for r in reasons)
                for line, reasons in duckdb.execute(f"SELECT _line, _reasons FROM '{out}'").fetchall()}
    checker = RowChecker(plan(load_catalogue(), bench.ENTITY), dt.datetime.fromisoformat(bench.NOW))
    with open(data, newline="", encoding="utf-8") as handle:
        from_python = {i: sorted((r.code, r.field) for r in checker.reasons(row))
                       for i, row in enumerate(csv.DictReader(handle))}
    assert from_sql == from_python
    rejected = sum(1 for reasons in from_sql.values() if reasons)
    # The generator's faults: future times (1 in 997), bad plates (1 in 211), impossible speeds (1 in 503).
    assert rejected == len({i for i in range(3000) if i % 997 == 0 or i % 211 == 0 or i % 503 == 0})


def test_plain_copy_keeps_every_row(tmp_path):
    data = tmp_path / "passes.csv"
    bench.generate(data, 500)
    assert bench.run_plain(data, tmp_path / "plain.parquet") == 500
