"""Access logs of the systems that serve the bureau's data (数据访问日志), ``access_logs/access_log_<YYYYMMDD>.jsonl``,
one answered query a line in the standard's element names, and the day's rare situation: one account that pulls
sensitive columns in bulk three times within an hour late at night (the security pack's sensitive-data rule).

Ordinary use: officers and analysts look up a few records at a time during their shifts; the nightly report job
reads whole tables but no sensitive column. Neither comes near the rule's threshold.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.world import World
from safecity.simulator.writers import write_jsonl

CST = dt.timezone(dt.timedelta(hours=8))
# (account, role, system, queries a day, tables it reads)
ACCOUNTS = (
    ("jq_zhang0312", "patrol_officer", "指挥平台", 25, ("fct_alarm_calls",)),
    ("jq_li0517", "patrol_officer", "指挥平台", 18, ("fct_alarm_calls", "fct_vehicle_passes")),
    ("xz_wang0208", "investigator", "视频平台", 30, ("fct_vehicle_passes",)),
    ("fx_chen0901", "analyst", "数据服务", 12, ("mart_alarm_hotspots", "mart_congestion_index",
                                                  "fct_vehicle_passes")),
    ("report_job", "service", "数据服务", 4, ("mart_scorecard_district", "mart_camera_kpis_by_district")),
)
SENSITIVE = {"fct_alarm_calls": 2, "fct_vehicle_passes": 1}  # columns of these tables an officer usually sees
BULK_USER = ("xz_sun1102", "investigator", "数据服务")


def _line(system: str, user: str, role: str, table: str, sensitive: int, rows: int, at: dt.datetime) -> dict:
    return {"source_system": system, "user_id": user, "role": role, "table_name": table,
            "sensitive_columns": sensitive, "rows": rows, "accessed_at": at.replace(microsecond=0).isoformat()}


def write_access_logs(world: World, start: dt.date, days: int, out: Path, manifest: Manifest) -> dict:
    written = 0
    for day_index in range(days):
        day = start + dt.timedelta(days=day_index)
        rng = world.rng(f"access.{day:%Y%m%d}")
        midnight = dt.datetime.combine(day, dt.time(), CST)
        lines = []
        for user, role, system, per_day, tables in ACCOUNTS:
            for _ in range(int(rng.poisson(per_day))):
                table = tables[int(rng.integers(len(tables)))]
                if role == "service":  # the nightly reports: whole marts, nothing sensitive
                    at = midnight + dt.timedelta(hours=2, seconds=int(rng.integers(3600)))
                    lines.append(_line(system, user, role, table, 0, int(rng.integers(50, 400)), at))
                    continue
                at = midnight + dt.timedelta(hours=8, seconds=int(rng.integers(12 * 3600)))
                lines.append(_line(system, user, role, table, SENSITIVE.get(table, 0),
                                   int(rng.integers(1, 60)), at))
        if day_index == 0:
            # The situation: three bulk reads of plates and callers' phones within 40 minutes, after midnight.
            user, role, system = BULK_USER
            first = midnight + dt.timedelta(hours=1, seconds=int(rng.integers(1800)))
            for n, table in enumerate(("fct_vehicle_passes", "fct_alarm_calls", "fct_vehicle_passes")):
                at = first + dt.timedelta(minutes=15 * n, seconds=int(rng.integers(300)))
                lines.append(_line(system, user, role, table, 3, int(rng.integers(5000, 50000)), at))
        lines.sort(key=lambda r: (r["accessed_at"], r["user_id"]))
        relpath = f"access_logs/access_log_{day:%Y%m%d}.jsonl"
        write_jsonl(out / relpath, lines)
        manifest.keep("accesses", [{**line, "file": relpath} for line in lines])
        manifest.file(relpath, "access_log_jsonl", len(lines))
        if day_index == 0:
            manifest.situation("bulk_sensitive_access", BULK_USER[0], file=relpath, queries=3)
        written += len(lines)
    return {"files": days, "accesses": written}
