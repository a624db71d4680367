"""The support system behind the camera network (保障体系): duty rosters, maintenance work orders with their costs,
and maintenance budgets, with two rare situations a day (a key camera's overdue repair, a district going over its
budget) listed in the manifest.

Files use the standards' element ids as column names (the roster, work order and budget systems are the bureau's
own, exported in the standard form). The events the security policies read (duty_gap, work_order_overdue,
budget_consumed) are not written here: the platform derives them from these files once they are in silver
(safecity.analytics.support_events), as it would from a real bureau's exports.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.world import World
from safecity.simulator.writers import csv_text, relative, write_encoded

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


def _rosters(world: World, rng: np.random.Generator, start: dt.date, days: int) -> list[list[str]]:
    rows = []
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
    return rows


def _orders(rng: np.random.Generator, cameras: list[dict], start: dt.date, days: int,
            end: dt.datetime) -> tuple[list[list[str]], dict[str, list[tuple[dt.datetime, float]]]]:
    rows = []
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
            if closed < end:
                spending[camera["division"]].append((closed, amount))
    return rows, spending


def _situation_orders(world: World, cameras: list[dict], start: dt.date, number: int,
                      spending: dict[str, list[tuple[dt.datetime, float]]]) -> list[tuple[str, list[str]]]:
    """The day's two rare support situations, from a random stream of their own (the day's other orders stay as
    they were): a key-point camera whose repair misses its 4-hour deadline by hours, and a district whose repairs of
    the day push its maintenance spending past 90 % and then 100 % of its budget (see _budgets). (kind, row) pairs."""
    rng = world.rng("support.situations")
    keys = [c for c in cameras if POINT_LEVEL.get(c["use_type"]) == "key"] or cameras
    key_camera = keys[int(rng.integers(len(keys)))]
    morning = dt.datetime.combine(start, dt.time(8), CST) + dt.timedelta(seconds=int(rng.integers(1800)))
    level = POINT_LEVEL.get(key_camera["use_type"], "normal")
    closed = morning + dt.timedelta(hours=SLA_HOURS[level] + 2 + float(rng.random()) * 3)
    rows = [("overdue_key_repair", [f"WO{start:%Y%m%d}{number + 1:05d}", key_camera["device_id"],
                                    key_camera["division"], "ptz_failure", level, _iso(morning),
                                    _iso(morning + dt.timedelta(hours=SLA_HOURS[level])), _iso(closed), "2480.00",
                                    CONTRACTORS[0]])]
    # Two repairs in another district, at noon and in the afternoon: the second pushes the district over budget.
    districts = sorted({c["division"] for c in cameras} - {key_camera["division"]}) or [key_camera["division"]]
    district = districts[int(rng.integers(len(districts)))]
    in_district = [c for c in cameras if c["division"] == district]
    for n, (hour, cost) in enumerate(((12, 2400.0), (16, 200.0)), start=2):
        camera = in_district[int(rng.integers(len(in_district)))]
        opened = dt.datetime.combine(start, dt.time(hour - 3), CST)
        done = dt.datetime.combine(start, dt.time(hour), CST) + dt.timedelta(seconds=int(rng.integers(1800)))
        camera_level = POINT_LEVEL.get(camera["use_type"], "normal")
        rows.append(("over_budget_district", [f"WO{start:%Y%m%d}{number + n:05d}", camera["device_id"], district,
                                              "signal_loss", camera_level, _iso(opened),
                                              _iso(opened + dt.timedelta(hours=SLA_HOURS[camera_level])),
                                              _iso(done), f"{cost:.2f}", CONTRACTORS[1]]))
    spending[key_camera["division"]].append((closed, 2480.0))
    for _, row in rows[1:]:
        spending[district].append((dt.datetime.fromisoformat(row[7]), float(row[8])))
    return rows


def _budgets(world: World, cameras: list[dict], year: int) -> dict[str, float]:
    per_division: dict[str, int] = defaultdict(int)
    for camera in cameras:
        per_division[camera["division"]] += 1
    # A year's budget, of which the simulated days may spend much: scaled so some districts come near or over it.
    return {d: float(max(1, per_division.get(d, 0)) * BUDGET_PER_CAMERA_YUAN / 50) for d in sorted(world.divisions)}


def write_support(world: World, start: dt.date, days: int, out: Path, manifest: Manifest,
                  cameras: Iterable[dict]) -> dict:
    """Rosters, work orders and budgets; `cameras` are {device_id, division, use_type}."""
    cameras = list(cameras)
    rng = world.rng("support")
    end = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(), CST)
    rosters = _rosters(world, rng, start, days)
    orders, spending = _orders(rng, cameras, start, days, end)
    situations = _situation_orders(world, cameras, start, len(orders), spending)
    orders += [row for _, row in situations]
    budgets = _budgets(world, cameras, start.year)
    # The over-budget district's year budget: its spending up to the second situation repair is 102 % of it, and the
    # first (2,400 of the two repairs' 2,600 yuan) already took it past 90 %.
    over, last_repair = situations[-1][1][2], dt.datetime.fromisoformat(situations[-1][1][7])
    budgets[over] = round(sum(a for t, a in spending[over] if t <= last_repair) / 1.02, 2)
    files = {
        out / "support" / f"duty_roster_{start:%Y%m%d}.csv": ("duty_roster_csv", ROSTER_HEADER, rosters),
        out / "support" / f"work_orders_{start:%Y%m%d}.csv": ("work_orders_csv", ORDER_HEADER, orders),
        out / "support" / f"budgets_{start.year}.csv": (
            "budgets_csv", BUDGET_HEADER, [[d, str(start.year), f"{b:.2f}"] for d, b in budgets.items()]),
    }
    for path, (kind, header, rows) in files.items():
        write_encoded(path, csv_text(header, rows), "utf-8")
        manifest.file(relative(path, out), kind, len(rows))
        manifest.keep(kind, [{**dict(zip(header, row)), "file": relative(path, out)} for row in rows])
    orders_file = relative(out / "support" / f"work_orders_{start:%Y%m%d}.csv", out)
    for kind, row in situations:
        manifest.situation(kind, row[0], file=orders_file, division_code=row[2], point_level=row[4], closed_at=row[7])
    return {"rosters": len(rosters), "work_orders": len(orders), "budgets": len(budgets)}
