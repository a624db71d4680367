"""The data service in the Dagster UI: its clients and rights, and the recent audit volumes of ops.data_access,
as the metadata of an observable source asset (the service writes the table; Dagster only looks at it)."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import dagster as dg

from safecity.orchestration.resources import IcebergCatalogResource
from safecity.service.audit import read_audit
from safecity.service.clients import Client

DATA_ACCESS = dg.AssetKey(["ops", "data_access"])
OBSERVE_JOB = "observe_data_service"


def clients_table(clients: dict[str, Client]) -> str:
    lines = ["| 客户端 / client | 数据表 / tables | 辖区 / scope | 密级 / clearance | 每分钟 / per min |",
             "|---|---|---|---|---:|"]
    lines += [f"| {c.id} ({c.name_zh}) | {', '.join(c.tables)} | {c.level} {c.unit or ''} | {c.clearance} | "
              f"{c.requests_per_minute} |" for c in clients.values()]
    return "\n".join(lines)


def audit_volumes(rows: list[dict], now: dt.datetime, hours: int = 24) -> dict[str, dict[str, int]]:
    """Per client over the last `hours`: requests, refused requests and rows returned."""
    since = now - dt.timedelta(hours=hours)
    volumes: dict[str, Counter] = {}
    for row in rows:
        if row["ts"] >= since:
            count = volumes.setdefault(row["client_id"] or "(anonymous)", Counter())
            count["requests"] += 1
            count["refused"] += row["status"] >= 400
            count["rows"] += row["rows"]
    return {client: dict(count) for client, count in sorted(volumes.items())}


def service_definitions() -> dg.Definitions:
    @dg.observable_source_asset(key=DATA_ACCESS, group_name="service",
                                description="数据服务访问审计（客户端与最近 24 小时访问量）/ The data service's audit: "
                                            "its clients and the last 24 hours' requests per client")
    def data_access(catalog: IcebergCatalogResource) -> dg.ObserveResult:
        from safecity.service.clients import load_clients
        audit = read_audit(catalog.open()).to_pylist()
        volumes = audit_volumes(audit, dt.datetime.now(dt.timezone.utc))
        lines = ["| client | requests | refused | rows |", "|---|---:|---:|---:|"]
        lines += [f"| {c} | {v.get('requests', 0)} | {v.get('refused', 0)} | {v.get('rows', 0)} |"
                  for c, v in volumes.items()]
        return dg.ObserveResult(metadata={
            "clients": dg.MetadataValue.md(clients_table(load_clients(catalog.settings()))),
            "last_24h": dg.MetadataValue.md("\n".join(lines)),
            "requests_total": dg.MetadataValue.int(len(audit))})
    job = dg.define_asset_job(OBSERVE_JOB, selection=dg.AssetSelection.assets(DATA_ACCESS),
                              description="观察数据服务的客户端与访问量 / Observe the data service's clients and audit")
    return dg.Definitions(assets=[data_access], jobs=[job])
