"""The support system behind the camera network (保障体系): duty rosters, maintenance work orders with their costs,
and maintenance budgets, plus the events the security-system policies read (duty_gap, work_order_overdue,
budget_consumed).

Files use the standards' element ids as column names (the roster, work order and budget systems are the bureau's
own, exported in the standard form). The events are derived here, where the truth is known, so that replays and
benchmarks of the policies have realistic support data without a conformance pipeline for these sources yet.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.world import World
from safecity.simulator.writers import csv_text, relative, write_encoded, write_jsonl

CST = dt.timezone(dt.timedelta(hours=8))
ROSTER_HEADER = ["unit_code", "unit_name", "division_code", "duty_date", "shift_name", "shift_start", "shift_end",
                 "officers_on_duty", "officers_required", "leader_name", "leader_phone"]
ORDER_HEADER = ["work_order_id", "device_id", "division_code", "fault_type", "point_level", "opened_at", "due_at",
                "closed_at", "cost", "contractor"]
BUDGET_HEADER = ["division_code", "year", "budget_amount"]
SHIFTS = (("白班", 8, 12), ("夜班", 20, 12))
STATIONS_PER_DIVISION = 3
# Repair deadline by point level (hours), as the security pack's camera_repair_deadline table has them.
SLA_HOURS = {"key": 4, "important": 24, "normal": 72}
POINT_LEVEL = {"3": "key", "2": "important"}  # GB/T 28181 use type: 重点 → key, 交通 → important, else normal
FAULTS = (("offline", 0.35, 300), ("signal_loss", 0.15, 500), ("blur", 0.15, 800), ("occlusion", 0.1, 200),
          ("ptz_failure", 0.1, 2500), ("frozen", 0.15, 600))  # (type, share, typical cost in yuan)
CONTRACTORS = ("秦皇岛安视科技有限公司", "河北冀通智能工程有限公司", "北戴河城安运维服务中心")
BUDGET_PER_CAMERA_YUAN = 400  # a year
DAILY_FAULT_RATE = 0.02  # work orders per camera and day


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _rosters(world: World, rng: np.random.Generator, start: dt.date, days: int) -> tuple[list[list[str]], list[dict]]:
    rows, events = [], []
    for division in sorted(world.divisions):
        name = world.divisions[division].name_zh
        required = 6 if world.is_urban(division) else 4
        for station in range(1, STATIONS_PER_DIVISION + 1):
            unit = f"{division}{station:02d}0000"
            for day in range(days):
                date = start + dt.timedelta(days=day)
                for shift, hour, length in SHIFTS:
                    begin = dt.datetime.combine(date, dt.time(hour), CST)
                    # Most shifts are full; some lack an officer or two; a few are left empty (sick leave, a
                    # second incident): the gaps the duty-coverage policy is for.
                    draw = rng.random()
                    on_duty = 0 if draw < 0.03 else required - int(rng.binomial(2, 0.15))
                    rows.append([unit, f"{name}第{station}派出所", division, date.isoformat(), shift, _iso(begin),
                                 _iso(begin + dt.timedelta(hours=length)), str(on_duty), str(required),
                                 f"值班领导{station}", f"1390335{station:02d}{day % 100:02d}"])
                    if on_duty < required:
                        events.append({"type": "duty_gap", "id": f"gap:{unit}:{_iso(begin)}", "unit_code": unit,
                                       "shift_name": shift, "shift_start": _iso(begin),
                                       "officers_required": required, "officers_on_duty": on_duty,
                                       "ts": _iso(begin + dt.timedelta(minutes=5))})
    return rows, events


def _orders(rng: np.random.Generator, cameras: list[dict], start: dt.date, days: int,
            end: dt.datetime) -> tuple[list[list[str]], list[dict], dict[str, list[tuple[dt.datetime, float]]]]:
    rows, events = [], []
    spending: dict[str, list[tuple[dt.datetime, float]]] = defaultdict(list)
    shares = np.array([f[1] for f in FAULTS])
    number = 0
    for day in range(days):
        date = start + dt.timedelta(days=day)
        count = int(rng.poisson(max(1.0, len(cameras) * DAILY_FAULT_RATE)))
        for _ in range(count):
            camera = cameras[int(rng.integers(len(cameras)))]
            level = POINT_LEVEL.get(camera["use_type"], "normal")
            fault, _, cost = FAULTS[int(rng.choice(len(FAULTS), p=shares / shares.sum()))]
            opened = dt.datetime.combine(date, dt.time(), CST) + dt.timedelta(seconds=int(rng.integers(86_400)))
            due = opened + dt.timedelta(hours=SLA_HOURS[level])
            repair_hours = float(rng.lognormal(np.log(SLA_HOURS[level] * 0.6), 0.7))
            closed = opened + dt.timedelta(hours=repair_hours)
            number += 1
            order = f"WO{date:%Y%m%d}{number:05d}"
            amount = round(float(cost * rng.lognormal(0, 0.4)), 2)
            rows.append([order, camera["device_id"], camera["division"], fault, level, _iso(opened), _iso(due),
                         _iso(closed) if closed < end else "", f"{amount:.2f}" if closed < end else "",
                         CONTRACTORS[int(rng.integers(len(CONTRACTORS)))]])
            finished = min(closed, end)
            if finished > due:
                # Reported once, when the platform's daily check finds it late.
                events.append({"type": "work_order_overdue", "id": f"overdue:{order}", "work_order_id": order,
                               "device_id": camera["device_id"], "point_level": level,
                               "hours_overdue": round((finished - due).total_seconds() / 3600, 1),
                               "ts": _iso(finished)})
            if closed < end:
                spending[camera["division"]].append((closed, amount))
    return rows, events, spending


def _budgets(world: World, cameras: list[dict], year: int) -> dict[str, float]:
    per_division: dict[str, int] = defaultdict(int)
    for camera in cameras:
        per_division[camera["division"]] += 1
    # A year's budget, of which the simulated days may spend much: scaled so some districts come near or over it.
    return {d: float(max(1, per_division.get(d, 0)) * BUDGET_PER_CAMERA_YUAN / 50) for d in sorted(world.divisions)}


def _budget_events(spending: dict[str, list[tuple[dt.datetime, float]]], budgets: dict[str, float], year: int,
                   start: dt.date, days: int) -> list[dict]:
    events = []
    for division, budget in budgets.items():
        for day in range(days):
            cutoff = dt.datetime.combine(start + dt.timedelta(days=day + 1), dt.time(), CST)
            spent = round(sum(a for t, a in spending.get(division, []) if t < cutoff), 2)
            events.append({"type": "budget_consumed", "id": f"budget:{division}:{cutoff.date()}",
                           "division_code": division, "year": year, "spent": spent, "budget": budget,
                           "ratio": round(spent / budget, 4), "ts": _iso(cutoff - dt.timedelta(minutes=1))})
    return events


def write_support(world: World, start: dt.date, days: int, out: Path, manifest: Manifest,
                  cameras: Iterable[dict]) -> dict:
    """Rosters, work orders, budgets and the derived events; `cameras` are {device_id, division, use_type}."""
    cameras = list(cameras)
    rng = world.rng("support")
    end = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(), CST)
    rosters, gaps = _rosters(world, rng, start, days)
    orders, overdue, spending = _orders(rng, cameras, start, days, end)
    budgets = _budgets(world, cameras, start.year)
    consumed = _budget_events(spending, budgets, start.year, start, days)
    files = {
        out / "support" / f"duty_roster_{start:%Y%m%d}.csv": ("duty_roster_csv", ROSTER_HEADER, rosters),
        out / "support" / f"work_orders_{start:%Y%m%d}.csv": ("work_orders_csv", ORDER_HEADER, orders),
        out / "support" / f"budgets_{start.year}.csv": (
            "budgets_csv", BUDGET_HEADER, [[d, str(start.year), f"{b:.2f}"] for d, b in budgets.items()]),
    }
    for path, (kind, header, rows) in files.items():
        write_encoded(path, csv_text(header, rows), "utf-8")
        manifest.file(relative(path, out), kind, len(rows))
    events = sorted(gaps + overdue + consumed, key=lambda e: (e["ts"], e["id"]))
    events_path = out / "events" / f"support_events_{start:%Y%m%d}.jsonl"
    write_jsonl(events_path, events)
    manifest.file(relative(events_path, out), "support_events_jsonl", len(events))
    return {"rosters": len(rosters), "work_orders": len(orders), "budgets": len(budgets),
            "duty_gaps": len(gaps), "overdue": len(overdue), "budget_events": len(consumed)}
