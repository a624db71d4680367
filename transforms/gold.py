"""Gold after dbt: the marts published as Apache Iceberg tables (`gold.<mart>` in the lakehouse catalog, readable by
any Iceberg engine without our code) and the row scopes of each branch (分局) and station (派出所) in the DuckDB
warehouse.

- A mart with a masked view (`gold_masked.<mart>`, sensitive columns from the standards masked) is published
  masked: gold leaves the warehouse, and the unmasked rows stay with the roles that may read `marts.*`.
- Such a mart is also published to the restricted namespace `gold_restricted.<mart>`, for the data service's
  cleared clients only (and, in production, the catalog roles granted that namespace): every column as in the
  mart, raw, plus `<column>__masked` holding the masked value of each column gold masks, taken from the same
  masked view. Why both: the service then serves any mix of clearances by selecting a stored column per requested
  column (raw where the client is cleared for the column's class, the companion where not) from one table at one
  snapshot, with no row key, no join and no second masking rule (transforms/macros/masking.sql stays the only
  one). A restricted table never reaches the DuckDB views (gold.*, scope_<unit>).
- Each publication replaces the table's rows in one Iceberg commit (overwrite), so a reader sees the old or the new
  build, never half of one. A mart whose columns changed gets its table recreated.
- Row scopes: schema `scope_<division>` holds a view of every mart restricted to that branch's rows: rows of its
  division (`division_code`), or, in the three-level marts, its own branch row and the rows of its stations.
  Schema `scope_<station>` (a 12-digit police organisation code, division + station number + 0000) holds a
  station's own rows: its station rows of the three-level marts and the facts whose `station_code` is its own; a
  mart of district figures only (scorecard, district KPIs) is not in a station's scope. The stations are the ones
  the marts name, so a new station gets its scope with the first build that sees it; the code <division>000000
  stands for a branch's own unit, not a station, and gets no scope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
from pyiceberg.catalog import Catalog

from safecity.config.profiles import Settings
from safecity.lakehouse.catalog import iceberg_ready_batches, open_catalog, overwrite_batches
from safecity.lakehouse.views import publish_views
from safecity.lakehouse.warehouse import connect
from safecity.standards.conform import quote

GOLD = "gold"
MARTS = "marts"
MASKED = "gold_masked"
RESTRICTED = "gold_restricted"
MASKED_SUFFIX = "__masked"      # gold_restricted.<mart>: the masked companion of a column gold masks


@dataclass(frozen=True)
class Published:
    mart: str
    rows: int
    masked: bool
    metadata_location: str
    restricted_location: str | None = None      # gold_restricted.<mart>, for a mart gold publishes masked


def _tables(con, schema: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                                      "ORDER BY 1", [schema]).fetchall()]


def _columns(con, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]


# A publication holds a few batches of BATCH_ROWS rows and one data file's worth of them (lakehouse FILE_BYTES),
# never a whole mart: read whole, masked and raw, the full day's fct_vehicle_passes (6 M rows) had taken 3.0 GB.
BATCH_ROWS = 100_000


def _overwrite(catalog: Catalog, identifier: str, rows: pa.RecordBatchReader, properties: dict[str, str]):
    """Replace the table's rows in one commit, batch by batch; a table whose columns changed is recreated for the
    new shape."""
    table = catalog.create_table_if_not_exists(identifier, schema=rows.schema)
    if [f.name for f in table.schema().fields] != rows.schema.names:
        catalog.drop_table(identifier)
        table = catalog.create_table(identifier, schema=rows.schema)
    return overwrite_batches(table, rows, properties)


def _batches(con, sql: str) -> pa.RecordBatchReader:
    return iceberg_ready_batches(con.execute(sql).to_arrow_reader(BATCH_ROWS))


def _count(con, schema: str, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {schema}.{quote(table)}").fetchone()[0]


def _value_sums(con, schema: str, mart: str, columns: list[str]) -> tuple:
    """Per column, the sum of its values' hashes: equal for a column the masked view passes through unchanged."""
    sums = ", ".join(f"sum(hash({quote(n)}))" for n in columns)
    return con.execute(f"SELECT {sums} FROM {schema}.{quote(mart)}").fetchone() if columns else ()


def _in_step(left: Iterator[pa.RecordBatch], right: Iterator[pa.RecordBatch]):
    """Two readers of the same number of rows as pairs of equally long slices, whatever their batch sizes."""
    a = b = None
    while True:
        while a is None or a.num_rows == 0:
            if (a := next(left, None)) is None:
                break
        while b is None or b.num_rows == 0:
            if (b := next(right, None)) is None:
                break
        if a is None or b is None:
            if a is not None or b is not None:
                raise ValueError("the two reads ended at different rows")
            return
        n = min(a.num_rows, b.num_rows)
        yield a.slice(0, n), b.slice(0, n)
        a, b = a.slice(n), b.slice(n)


def restricted_rows(con, mart: str, companions: set[str] = frozenset()) -> pa.RecordBatchReader:
    """The mart's raw rows beside `<column>__masked`, the masked view's value, for each column the view masks in
    this build (its values differ from the mart's somewhere) or that had a companion before (`companions`: the
    table keeps its shape, and a column without one equals its masked value in every snapshot).

    The mart and its masked view are read side by side, each in insertion order (DuckDB keeps it for a plain
    SELECT), so row i of one is row i of the other. Proof rather than trust, on every row written: masking yields
    text, so every column of another type passes through the view unchanged and must equal the mart's; and a column
    given no companion must equal it too. Otherwise the publication stops rather than pair a masked value with
    another row's raw one or store a masked value as raw. Which columns the view masks is found before, from
    order-free sums over each column, so nothing is held back to decide it."""
    columns = _columns(con, MARTS, mart)
    kinds = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                             "AND table_name = ? ORDER BY ordinal_position", [MASKED, mart]).fetchall())
    if list(kinds) != columns or _count(con, MARTS, mart) != _count(con, MASKED, mart):
        raise ValueError(f"{MASKED}.{mart} does not have the columns and rows of {MARTS}.{mart}")
    text = [n for n in columns if kinds[n] == "VARCHAR"]
    refused = ValueError(f"{MASKED}.{mart} and {MARTS}.{mart} cannot be paired row for row (rows read in another "
                         f"order, or no column but text to prove the order by): {RESTRICTED}.{mart} not written")
    if len(text) == len(columns):
        raise refused
    masked = [n for n, raw_sum, masked_sum in zip(text, _value_sums(con, MARTS, mart, text),
                                                   _value_sums(con, MASKED, mart, text))
              if raw_sum != masked_sum or n in companions]
    equal = [n for n in columns if n not in masked]
    raw_rows = _batches(con, f"SELECT * FROM {MARTS}.{quote(mart)}")
    view_con = con.cursor()     # a second connection: both reads stream at once
    masked_rows = _batches(view_con, f"SELECT * FROM {MASKED}.{quote(mart)}")
    schema = pa.schema([*raw_rows.schema, *(pa.field(n + MASKED_SUFFIX, masked_rows.schema.field(n).type)
                                            for n in masked)])

    def proven():
        with view_con:
            for raw, view in _in_step(iter(raw_rows), iter(masked_rows)):
                if any(not raw.column(n).equals(view.column(n)) for n in equal):
                    raise refused
                yield pa.RecordBatch.from_arrays([*raw.columns, *(view.column(n) for n in masked)], schema=schema)
    return pa.RecordBatchReader.from_batches(schema, proven())


def publish_gold(con, catalog: Catalog) -> list[Published]:
    """Write every mart to `gold.<mart>` (masked where a masked view exists, the raw rows and the masked values then
    to `gold_restricted.<mart>`) and expose gold, never the restricted tables, as DuckDB views."""
    masked = set(_tables(con, MASKED))
    if masked:
        catalog.create_namespace_if_not_exists(RESTRICTED)
    published = []
    for mart in _tables(con, MARTS):
        schema = MASKED if mart in masked else MARTS
        table = _overwrite(catalog, f"{GOLD}.{mart}", _batches(con, f"SELECT * FROM {schema}.{quote(mart)}"),
                           {"safecity.source": f"{schema}.{mart}"})
        restricted = None
        if mart in masked:
            identifier = f"{RESTRICTED}.{mart}"
            before = ({n[:-len(MASKED_SUFFIX)] for n in catalog.load_table(identifier).schema().column_names
                       if n.endswith(MASKED_SUFFIX)} if catalog.table_exists(identifier) else set())
            restricted = _overwrite(catalog, identifier, restricted_rows(con, mart, before),
                                    {"safecity.source": f"{MARTS}.{mart}"}).metadata_location
        # The rows gold.<mart> now holds, as its commit recorded them (no second read of the mart).
        rows = int(table.current_snapshot().summary["total-records"])
        published.append(Published(mart, rows, mart in masked, table.metadata_location, restricted))
    publish_views(con, catalog, (GOLD,))
    return published


def scope_filter(columns: list[str], unit: str) -> str | None:
    """The WHERE clause restricting a mart to one branch (6-digit division) or one station (12-digit police
    organisation code), or None when the mart has no column for that jurisdiction."""
    three_level = {"level", "unit_code", "parent_code"} <= set(columns)
    if len(unit) == 12:
        if three_level:
            return f"level = 'station' AND unit_code = '{unit}'"
        return f"station_code = '{unit}'" if "station_code" in columns else None
    if three_level:
        return (f"(level = 'branch' AND unit_code = '{unit}') OR "
                f"(level = 'station' AND parent_code = '{unit}')")
    if "division_code" in columns:
        return f"division_code = '{unit}'"
    return None


def stations(con, divisions: list[str]) -> list[str]:
    """The stations of these branches that the marts name (station rows of the three-level marts, station_code of
    the facts)."""
    found: set[str] = set()
    for mart in _tables(con, MARTS):
        columns = _columns(con, MARTS, mart)
        if {"level", "unit_code", "parent_code"} <= set(columns):
            sql = f'SELECT DISTINCT unit_code FROM {MARTS}."{mart}" WHERE level = \'station\''
        elif "station_code" in columns:
            sql = f'SELECT DISTINCT station_code FROM {MARTS}."{mart}"'
        else:
            continue
        found |= {r[0] for r in con.execute(sql).fetchall() if r[0]}
    return sorted(s for s in found if s.isdigit() and len(s) == 12 and s[:6] in divisions and s[6:] != "000000")


def create_row_scopes(con, divisions: list[str]) -> dict[str, list[str]]:
    """A `scope_<unit>` schema per branch and per station with a view of each mart restricted to its rows (masked
    where a masked view exists). Marts without a column for the unit's jurisdiction are left out of its scope."""
    masked = set(_tables(con, MASKED))
    for division in divisions:
        # The code names a schema and sits in a literal: GB/T 2260 digits or a local code of letters, digits and _.
        if not re.fullmatch(r"[A-Za-z0-9_]+", division):
            raise ValueError(f"not a division code: {division!r}")
    # Read once: the catalogue queries, not the views, are what grows with the number of stations.
    marts = {mart: _columns(con, MARTS, mart) for mart in _tables(con, MARTS)}
    scopes: dict[str, list[str]] = {}
    for unit in [*divisions, *stations(con, divisions)]:
        schema = f"scope_{unit}"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for mart, columns in marts.items():
            source = MASKED if mart in masked else MARTS
            where = scope_filter(columns, unit)
            if where is None:
                continue
            con.execute(f'CREATE OR REPLACE VIEW {schema}."{mart}" AS SELECT * FROM {source}."{mart}" WHERE {where}')
            scopes.setdefault(schema, []).append(mart)
    return scopes


@dataclass(frozen=True)
class GoldReport:
    published: list[Published]
    scopes: dict[str, list[str]]        # scope schema: the marts it holds

    def summary(self) -> str:
        return ("gold: " + ", ".join(f"{p.mart} ({p.rows} rows"
                                     f"{', masked; raw in ' + RESTRICTED if p.restricted_location else ''})"
                                     for p in self.published)
                + "; row scopes: " + ", ".join(sorted(self.scopes)))


def publish(settings: Settings) -> GoldReport:
    """The gold step after a dbt build: every mart to gold.<mart> and the branches' and stations' row scopes."""
    with connect(settings) as con:
        published = publish_gold(con, open_catalog(settings))
        scopes = create_row_scopes(con, [d.code for d in settings.city.divisions])
    return GoldReport(published, scopes)
