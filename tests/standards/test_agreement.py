"""Property: the conformer (DuckDB) — on a batch, and on one row through the pydantic model — gives every row
the reasons an independent Python oracle (row_oracle.py, test-only) finds.

Rows are generated from the catalogue itself — valid and invalid examples of formats, codes inside and outside
their tables, numbers inside and outside ranges, timestamps in several spellings, blanks and noise — for every
entity, so a new entity or element is covered without a new test.
"""
import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from safecity.standards.catalogue import Entity, load_catalogue
from safecity.standards.checks import plan
from safecity.standards.conform import Conformer
from safecity.standards.models import entity_model
from safecity.standards.single import check_value
from tests.standards.row_oracle import RowChecker

CATALOGUE = load_catalogue("qinhuangdao")
NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.timezone.utc)
NOISE = st.text(alphabet=st.sampled_from(list("0123456789 .-+:TZeE冀京ABCIO挂abc\u3000\u00a0\t")), max_size=24)


def timestamps():
    moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 12, 31))
    spelled = moments.flatmap(lambda m: st.sampled_from([
        m.strftime("%Y-%m-%d %H:%M:%S"), m.strftime("%Y-%m-%dT%H:%M:%S") + "+08:00", m.strftime("%Y-%m-%dT%H:%M"),
        m.strftime("%Y-%m-%d"), m.strftime("%Y-%m-%dT%H:%M:%SZ"), m.strftime("%Y%m%d%H%M%S"),
        m.strftime("%Y-%m-%d %H:%M:%S.%f"), m.strftime("%Y-%m-%d") + " 25:61:00"]))
    return st.one_of(spelled, st.sampled_from(["2026-02-30", "2026-13-01 00:00:00", "2026-11-26T08:00:00+0800"]))


def numbers(element):
    low = element.minimum if element.minimum is not None else -1e6
    high = element.maximum if element.maximum is not None else 1e6
    inside = st.floats(min_value=low, max_value=high, allow_nan=False).map(lambda x: f"{x:.6f}")
    around = st.floats(min_value=low - 100, max_value=high + 100, allow_nan=False).map(repr)
    whole = st.integers(min_value=int(low) - 5, max_value=int(high) + 5).map(str)
    return st.one_of(inside, around, whole, st.sampled_from(["1e400", "nan", "inf", "1_000", "١٢", "+5", ".5", "5."]))


def element_values(element):
    choices = [st.none(), st.just(""), st.just("  "), NOISE]
    if element.code_table:
        codes = sorted(c.code for c in CATALOGUE.code_tables[element.code_table].codes)
        choices += [st.sampled_from(codes)] * 4
    if element.format:
        examples = CATALOGUE.formats[element.format].examples
        known = list(examples.valid) + [e.value for e in examples.invalid]
        if known:
            choices += [st.sampled_from(known)] * 4
    if element.type in ("number", "integer"):
        choices += [numbers(element)] * 3
    if element.type == "timestamp":
        choices += [timestamps()] * 3
    if element.type == "boolean":
        choices += [st.sampled_from(["true", "false", "1", "0", "yes", "TRUE"])]
    if element.max_length:
        choices += [st.text(min_size=element.max_length - 1, max_size=element.max_length + 2)]
    return st.one_of(*choices)


def rows(entity_name):
    entity = CATALOGUE.entities[entity_name]
    sources = [e for e in entity.elements if e.derive is None]
    return st.fixed_dictionaries({e.id: element_values(e) for e in sources})


def sql_reasons(con, conformer, sql, batch):
    columns = conformer.source_columns()
    table = pa.table({c: pa.array([r.get(c) for r in batch], pa.string()) for c in columns}
                     | {"_line": pa.array(range(len(batch)), pa.int64())})
    con.register("batch", table)
    out = con.execute(sql).to_arrow_table().to_pylist()
    # Rejecting reasons and the flags of soft checks together: the oracle names both (repeats need the batch).
    return {row["_line"]: sorted((r["code"], r["field"]) for r in row["_reasons"] + row.get("_flags", [])
                                 if r["code"] not in ("E_DUPLICATE_KEY", "E_DUPLICATE_ROW"))
            for row in out}


@pytest.mark.parametrize("entity_name", sorted(CATALOGUE.entities))
def test_sql_and_python_agree_on_every_generated_row(entity_name):
    checker = RowChecker(plan(CATALOGUE, entity_name), NOW)
    model = entity_model(CATALOGUE, entity_name, NOW)
    conformer = Conformer(CATALOGUE, entity_name, NOW)
    sql = conformer.sql("batch", ("_line",), "_line").sql
    con = duckdb.connect()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(rows(entity_name), min_size=1, max_size=20))
    def check(batch):
        from_sql = sql_reasons(con, conformer, sql, batch)
        for index, row in enumerate(batch):
            expected = sorted((r.code, r.field) for r in checker.reasons(row))
            assert from_sql[index] == expected, row
            # A soft check flags the field; the record itself is accepted.
            expected = [r for r in expected if r[0] not in CATALOGUE.entities[entity_name].flags]
            try:
                model.model_validate(row)
                accepted = True
            except ValidationError as exc:
                accepted = False
                assert sorted((e["type"], e["loc"][0]) for e in exc.errors()) == expected
            assert accepted == (not expected)

    check()


@pytest.mark.parametrize("entity_name", sorted(CATALOGUE.entities))
def test_single_values_are_judged_as_the_oracle_judges_a_lone_element(entity_name):
    """check_value (policy literals, event fields) runs the conformer on one value of an element taken alone."""
    for element in (e for e in CATALOGUE.entities[entity_name].elements if e.derive is None):
        lone = element.model_copy(update={"edition_from": None})
        alone = Entity(entity="alone", name_zh=lone.name_zh, name_en=lone.name_en, standard="", key=(lone.id,),
                       elements=(lone,))
        oracle = RowChecker(plan(CATALOGUE, alone), NOW)

        @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(element_values(element))
        def check(value):
            reason = check_value(CATALOGUE, element, value, NOW)
            assert ([reason.code] if reason else []) == [r.code for r in oracle.reasons({lone.id: value})], value

        check()
