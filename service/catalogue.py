"""The catalogue of gold tables (数据目录): columns, types, Chinese and English descriptions from the dbt docs,
sensitivity from the standards (carried into the marts' column meta) and freshness from the current snapshot.

A TableInfo describes the table one client reads: `describe` gives gold's, where a column is `masked` if gold holds
it masked; service.rights.as_read_by turns it into a cleared client's view of gold_restricted, where `masked` says
what that client receives and `stored` names the column read for it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from safecity.config.yamlfile import load_yaml
from safecity.transforms.gold import GOLD, MASKED

MARTS_DOCS = Path(__file__).resolve().parent.parent / "transforms" / "models" / "marts"
SENSITIVE = ("sensitive", "secret")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description_zh: str
    description_en: str
    sensitivity: str
    masked: bool            # the reader receives this column masked (publication masking, transforms/macros/masking.sql)
    stored: str | None = None   # the Iceberg column read for it, when not its own name (a masked companion)


@dataclass(frozen=True)
class TableInfo:
    name: str
    description_zh: str
    description_en: str
    columns: tuple[Column, ...]
    snapshot_id: int | None
    updated_at: str | None
    identifier: str = ""        # the Iceberg table read: gold.<name>, or gold_restricted.<name> for a cleared client

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _split(text: str) -> tuple[str, str]:
    """dbt descriptions are written "中文 / English" or "中文\\nEnglish"."""
    text = (text or "").strip()
    for separator in (" / ", "\n", "/"):
        if separator in text:
            zh, en = text.split(separator, 1)
            return zh.strip(), en.strip()
    return text, text


@lru_cache(maxsize=1)
def mart_docs() -> dict[str, dict]:
    docs = {}
    for path in sorted(MARTS_DOCS.glob("*.yml")):
        for model in load_yaml(path).data.get("models", []):
            docs[model["name"]] = model
    return docs


def describe(table: Table, name: str) -> TableInfo:
    doc = mart_docs().get(name, {})
    column_docs = {c["name"]: c for c in doc.get("columns", [])}
    snapshot = table.current_snapshot()
    source = snapshot.summary.additional_properties.get("safecity.source", "") if snapshot else ""
    masked_table = source.startswith(f"{MASKED}.")
    columns = []
    for field in table.schema().fields:
        column_doc = column_docs.get(field.name, {})
        sensitivity = (column_doc.get("meta") or {}).get("sensitivity", "internal")
        zh, en = _split(column_doc.get("description", field.name))
        columns.append(Column(field.name, str(field.field_type), zh, en, sensitivity,
                              masked_table and sensitivity in SENSITIVE))
    zh, en = _split(doc.get("description", name))
    return TableInfo(name, zh, en, tuple(columns), *freshness(table), identifier=f"{GOLD}.{name}")


def freshness(table: Table) -> tuple[int | None, str | None]:
    """The current snapshot's id and commit time (ISO 8601, UTC)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return None, None
    return snapshot.snapshot_id, dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.timezone.utc).isoformat()


def gold_tables(catalog: Catalog) -> list[str]:
    return sorted(identifier[-1] for identifier in catalog.list_tables(GOLD))
