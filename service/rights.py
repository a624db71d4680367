"""What one client may see of one table: the columns its clearance allows (a column above it is withheld, unless
gold already publishes it masked) and its row scope, the same WHERE clause as the warehouse's scope_<unit> views
(transforms.gold.scope_filter), so the service and the scopes never disagree."""
from __future__ import annotations

from safecity.service.catalogue import TableInfo
from safecity.service.clients import Client
from safecity.transforms.gold import scope_filter


# Every column transforms.gold.scope_filter may test.
SCOPE_COLUMNS = ("level", "unit_code", "parent_code", "station_code", "division_code")


class NotInScope(Exception):
    """The table has no column for the client's jurisdiction: it does not exist for that client."""


def visible_columns(client: Client, info: TableInfo) -> list[str]:
    return [c.name for c in info.columns if c.masked or client.sees(c.sensitivity)]


def row_scope(client: Client, info: TableInfo) -> str | None:
    """The SQL condition restricting the table to the client's rows; None for a city-level client."""
    if client.level == "city":
        return None
    where = scope_filter([c.name for c in info.columns], client.unit)
    if where is None:
        raise NotInScope(info.name)
    return where


def unmasked_sensitive(client: Client, info: TableInfo, columns: list[str]) -> list[str]:
    """The sensitive columns this read returns in clear (for the audit)."""
    return [c for c in columns if (col := info.column(c)) and col.sensitivity in ("sensitive", "secret")
            and not col.masked]


def sensitive_read(info: TableInfo, columns: list[str]) -> int:
    """How many columns of class sensitive or secret this read returns, masked or not (data_access.sensitive_columns)."""
    return sum(1 for c in columns if (col := info.column(c)) and col.sensitivity in ("sensitive", "secret"))
