"""What one client may see of one table: the columns its clearance allows (a column above it is withheld, unless
gold already publishes it masked), which of them it receives in clear, and its row scope, the same WHERE clause as
the warehouse's scope_<unit> views (transforms.gold.scope_filter), so the service and the scopes never disagree.

Clear or masked is decided column by column. Gold holds a sensitive column masked; gold_restricted.<mart> holds it
raw beside its masked companion `<column>__masked` (transforms.gold.restricted_rows). A client cleared for the class
of some column gold masks reads the restricted table, and for each column takes the raw value where its clearance
covers the column's class and the companion where not, so a client cleared for `sensitive` but not `secret` gets
the one in clear and the other masked, from one table at one snapshot. The masking itself is never done here: the
companion is the dbt governance view's value (transforms/macros/masking.sql). A client cleared for no such column
never opens the restricted table.
"""
from __future__ import annotations

from dataclasses import replace

from pyiceberg.table import Table

from safecity.service.catalogue import SENSITIVE, TableInfo, freshness
from safecity.service.clients import Client
from safecity.transforms.gold import MASKED_SUFFIX, RESTRICTED, scope_filter


# Every column transforms.gold.scope_filter may test.
SCOPE_COLUMNS = ("level", "unit_code", "parent_code", "station_code", "division_code")


class NotInScope(Exception):
    """The table has no column for the client's jurisdiction: it does not exist for that client."""


def visible_columns(client: Client, info: TableInfo) -> list[str]:
    return [c.name for c in info.columns if c.masked or client.sees(c.sensitivity)]


def wants_restricted(client: Client, info: TableInfo) -> bool:
    """Whether gold masks a column of this table that the client's clearance lets it see in clear."""
    return any(c.masked and client.sees(c.sensitivity) for c in info.columns)


def as_read_by(client: Client, info: TableInfo, restricted: Table) -> TableInfo | None:
    """Gold's description (`describe`) turned into what this client reads of gold_restricted: the columns it is
    cleared for in clear, every other column gold masks from its masked companion; None when the restricted table
    does not have gold's columns (a publication between its two commits) or lacks the companion of a masked column
    the client may not see in clear (nothing masked to serve it), and the client then reads gold."""
    stored = set(restricted.schema().column_names)
    if any(c.name not in stored for c in info.columns):
        return None
    columns = []
    for column in info.columns:
        companion = f"{column.name}{MASKED_SUFFIX}"
        if column.masked and client.sees(column.sensitivity):
            columns.append(replace(column, masked=False))
        elif companion in stored:
            columns.append(replace(column, stored=companion))     # what gold holds
        elif column.masked:
            return None
        else:
            # Masking left it as it was in every snapshot (transforms.gold.restricted_rows): gold's value.
            columns.append(column)
    snapshot_id, updated_at = freshness(restricted)
    return replace(info, columns=tuple(columns), snapshot_id=snapshot_id, updated_at=updated_at,
                   identifier=f"{RESTRICTED}.{info.name}")


def stored_columns(info: TableInfo, names: set[str]) -> dict[str, str]:
    """Each of these columns (in the table's order) with the stored column it is read from for this client."""
    return {c.name: c.stored or c.name for c in info.columns if c.name in names}


def row_scope(client: Client, info: TableInfo) -> str | None:
    """The SQL condition restricting the table to the client's rows; None for a city-level client."""
    if client.level == "city":
        return None
    where = scope_filter([c.name for c in info.columns], client.unit)
    if where is None:
        raise NotInScope(info.name)
    return where


def unmasked_sensitive(info: TableInfo, columns: list[str]) -> list[str]:
    """The sensitive or secret columns this read returns in clear (for the audit), `info` being the client's."""
    return [c for c in columns if (col := info.column(c)) and col.sensitivity in SENSITIVE and not col.masked]


def sensitive_read(info: TableInfo, columns: list[str]) -> int:
    """How many columns of class sensitive or secret this read returns, masked or not (data_access.sensitive_columns)."""
    return sum(1 for c in columns if (col := info.column(c)) and col.sensitivity in SENSITIVE)
