"""110 calls with their dispatch chain, as the dispatch system exports them, and the cases they lead to.

Calls cluster at hotspots (stations, the beach, squares, busy junctions) and in the evening; the dispatch chain
(received → dispatched → arrived → handled → closed) draws log-normal intervals, longer in suburban districts.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np

from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import Scale
from safecity.simulator.world import World
from safecity.simulator.writers import csv_text, relative, write_encoded

log = logging.getLogger(__name__)

CALL_HEADER = ["jjdbh", "bjsj", "pjsj", "ddsj", "czsj", "jssj", "bjrxm", "bjrxb", "lxdh", "afdz", "xzb", "yzb",
               "jqlbdm", "jqjbdm", "jjlxdm", "xzqh", "gxdwdm", "bjnr", "jjdzt"]
# One row per responding unit (派车记录), the shape of CAD exports that list every unit a call sent.
UNIT_HEADER = ["jjdbh", "cjdw", "pjsj", "cdsj", "ddsj", "qcsj"]
CASE_HEADER = ["案件编号", "案件类型", "案件类别", "立案时间", "案件状态", "破案时间", "结案时间", "行政区划", "发案地址",
               "经度", "纬度", "办案单位", "关联接警单编号", "损失金额"]
# Category mix of 110 calls (default table codes) and what callers say.
CATEGORIES = [("050000", 0.30, "群众求助：{place}附近有人需要帮助"), ("030000", 0.22, "{place}附近发生交通事故"),
              ("080000", 0.16, "{place}有人发生纠纷"), ("020000", 0.14, "{place}附近有人打架斗殴"),
              ("010000", 0.08, "{place}附近发生盗窃"), ("060000", 0.05, "举报{place}附近噪音扰民"),
              ("040000", 0.03, "{place}附近起火冒烟"), ("070000", 0.02, "{place}附近人员聚集")]
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华")
TIME = "%Y-%m-%d %H:%M:%S"


def _hourly_starts(rng: np.random.Generator, shares: tuple[float, ...], count: int, day: dt.datetime) -> list[dt.datetime]:
    weights = np.array(shares) / sum(shares)
    hours = rng.choice(24, size=count, p=weights)
    seconds = rng.integers(0, 3600, size=count)
    return sorted(day + dt.timedelta(hours=int(h), seconds=int(s)) for h, s in zip(hours, seconds))


def write_calls(world: World, scale: Scale, start: dt.datetime, days: int, out: Path, manifest: Manifest,
                now: dt.datetime) -> dict:
    """The calls and cases of each day, and the day's units export (write_units)."""
    rng = world.rng("calls")
    rates = world.faults.calls
    places = world.profile.key_places
    junctions = world.profile.junctions
    hotspots = [(p.lon, p.lat, p.division, p.name_zh, p.weight, p.summer_factor) for p in places] + \
               [(j.lon, j.lat, j.division, j.name_zh, 1.5, j.summer_factor) for j in junctions]
    division_codes = sorted(world.shares)
    division_weights = np.array([world.shares[d].call_share for d in division_codes])
    category_weights = np.array([c[1] for c in CATEGORIES])
    stats = {"calls": 0, "cases": 0, "units": 0}
    for day_index in range(days):
        day = start + dt.timedelta(days=day_index)
        summer = world.summer(day.month)
        count = int(rng.poisson(scale.calls_per_day * (1.15 if summer else 1.0)))
        received = _hourly_starts(rng, world.profile.calls_hourly, count, day)
        spot_weights = np.array([w * (f if summer else 1.0) for *_, w, f in hotspots])
        rows, cases = [], []
        name = relative(out / "calls" / f"calls_{day:%Y%m%d}.csv", out)
        for serial, when in enumerate(received, 1):
            if rng.random() < 0.55:
                lon0, lat0, division, where, *_ = hotspots[int(rng.choice(len(hotspots), p=spot_weights / spot_weights.sum()))]
                lon, lat = world.point_near(rng, lon0, lat0, 0.4)
            else:
                division = division_codes[int(rng.choice(len(division_codes), p=division_weights / division_weights.sum()))]
                centre = world.divisions[division].centre
                lon, lat = world.point_near(rng, centre[0], centre[1], world.shares[division].spread_km)
                where = world.divisions[division].name_zh
            category_index = int(rng.choice(len(CATEGORIES), p=category_weights / category_weights.sum()))
            category, _, text = CATEGORIES[category_index]
            urgent = category in ("010000", "020000", "030000", "040000") or rng.random() < 0.1
            profile = world.profile.dispatch["urban" if world.is_urban(division) else "suburban"]
            dispatched = when + dt.timedelta(seconds=float(rng.lognormal(np.log(profile.dispatch_median_s), profile.dispatch_sigma)))
            arrived = dispatched + dt.timedelta(seconds=float(rng.lognormal(np.log(profile.travel_median_s), profile.travel_sigma)))
            handled = arrived + dt.timedelta(seconds=float(rng.lognormal(np.log(1500), 0.6)))
            closed = handled + dt.timedelta(seconds=float(rng.lognormal(np.log(2400), 0.7)))
            call_id = f"J{division}{day:%Y%m%d}{serial:05d}"
            unit = f"{division}{int(rng.integers(1, 9)):02d}0000"
            caller = SURNAMES[int(rng.integers(len(SURNAMES)))] + GIVEN[int(rng.integers(len(GIVEN)))] + \
                (GIVEN[int(rng.integers(len(GIVEN)))] if rng.random() < 0.6 else "")
            phone = f"1{int(rng.choice([3, 5, 7, 8])):d}{int(rng.integers(0, 10**9)):09d}"
            line = len(rows) + 2
            fault = rng.random()
            unassigned = False
            if fault < rates.out_of_order:
                arrived = dispatched - dt.timedelta(seconds=int(rng.integers(60, 600)))
                # A soft check: the call is kept, its arrival flagged and left out (reason None: not quarantined).
                manifest.fault("out_of_order", name, key=call_id, reason=None, field_name="arrived_at", line=line,
                               flag="E_ORDER")
            elif fault < rates.out_of_order + rates.future_time:
                when = now + dt.timedelta(days=2)
                dispatched, arrived = when + dt.timedelta(seconds=60), when + dt.timedelta(seconds=400)
                handled, closed = arrived + dt.timedelta(seconds=900), arrived + dt.timedelta(seconds=2000)
                manifest.fault("future_time", name, key=call_id, reason="E_FUTURE_TIME", field_name="received_at",
                               line=line)
            elif fault < rates.out_of_order + rates.future_time + rates.outside_city:
                lon, lat = 116.407526, 39.904030
                manifest.fault("outside_city", name, key=call_id, reason="E_OUT_OF_AREA", field_name="longitude",
                               line=line)
            elif fault < rates.out_of_order + rates.future_time + rates.outside_city + rates.unassigned:
                # The call keeps its place and times but names no division nor station: it must land in the
                # "unassigned" bucket of every level, counted and warned about, never failing the run.
                unassigned = True
                manifest.fault("unassigned", name, key=call_id, reason=None, field_name="division_code", line=line)
            rows.append([call_id, when.strftime(TIME), dispatched.strftime(TIME), arrived.strftime(TIME),
                         handled.strftime(TIME), closed.strftime(TIME), caller, str(int(rng.choice([1, 2]))), phone,
                         f"河北省秦皇岛市{world.divisions[division].name_zh}{where}", f"{lon:.6f}", f"{lat:.6f}",
                         category, "1" if urgent and rng.random() < 0.2 else ("2" if urgent else "3"), "1",
                         "" if unassigned else division, "" if unassigned else unit, text.format(place=where),
                         "closed"])
            if category in ("010000", "020000") and rng.random() < 0.6:
                case = _case(rng, call_id, category, when, division, unit, where, lon, lat, now)
                if case is not None:
                    cases.append(case)
        write_encoded(out / name, csv_text(CALL_HEADER, rows), "gb18030")
        manifest.keep("calls", [{**dict(zip(CALL_HEADER, row)), "file": name} for row in rows])
        manifest.file(name, "calls_csv", len(rows), encoding="gb18030", urban_divisions=sorted(
            d.code for d in world.city.divisions if d.urban))
        stats["units"] += write_units(world, day, rows, out, manifest, now)
        case_name = relative(out / "cases" / f"cases_{day:%Y%m%d}.csv", out)
        write_encoded(out / case_name, csv_text(CASE_HEADER, cases), "gb18030")
        manifest.file(case_name, "cases_csv", len(cases), encoding="gb18030")
        stats["calls"] += len(rows)
        stats["cases"] += len(cases)
        log.info("110 calls %s: %d calls, %d cases", day.date(), len(rows), len(cases))
    return stats


def write_units(world: World, day: dt.datetime, calls: list[list[str]], out: Path, manifest: Manifest,
                now: dt.datetime) -> int:
    """The day's responding units, one row per unit, in an order that is not the order of dispatch (rows of one
    call are not together, and the call's first unit is often not its first row): the shape that made a "first
    row wins" reading wrong. The first dispatched unit leaves at the call's dispatch time and the first unit on
    scene arrives at the call's arrival time; the others are sent up to 5 minutes later and arrive later. Drawn
    from a stream of their own, so the calls export is the same with or without this one.

    The calls' faults carry over, and the manifest records them per unit row: a call from the future has every
    unit in the future (rejected), and a call whose arrival precedes its dispatch has units whose arrival
    precedes their own dispatch (the arrival flagged)."""
    rng = world.rng(f"call_units:{day:%Y%m%d}")
    rows = []
    for call in calls:
        call_id, dispatched, arrived, handled = call[0], _at(call[2]), _at(call[3]), _at(call[4])
        station = call[16] or call_id  # an unassigned call's units are named after the call
        for index in range(1 + min(int(rng.poisson(0.9)), 3)):
            sent = dispatched + dt.timedelta(seconds=0 if index == 0 else float(rng.uniform(10, 300)))
            on_scene = arrived + dt.timedelta(seconds=0 if index == 0 else float(rng.uniform(30, 900)))
            # En route within the first part of the way (a call's arrival can come a minute after dispatch).
            rolling = sent + max(on_scene - sent, dt.timedelta(0)) * float(rng.uniform(0.1, 0.4))
            # A unit clears after the call is handled and never before it arrived.
            cleared = max(handled, on_scene, sent) + dt.timedelta(seconds=60 * (index + 1))
            rows.append([call_id, f"{station}-{index + 1}", sent.strftime(TIME), rolling.strftime(TIME),
                         on_scene.strftime(TIME), cleared.strftime(TIME)])
    order = rng.permutation(len(rows))
    name = relative(out / "call_units" / f"call_units_{day:%Y%m%d}.csv", out)
    written = [rows[i] for i in order]
    for line, (call_id, unit, sent, _, on_scene, _) in enumerate(written, 2):
        key = f"{call_id}/{unit}"
        if _at(sent) > now:
            manifest.fault("future_time", name, key=key, reason="E_FUTURE_TIME", field_name="dispatched_at", line=line)
        elif _at(on_scene) < _at(sent):
            manifest.fault("out_of_order", name, key=key, reason=None, field_name="arrived_at", line=line,
                           flag="E_ORDER")
    write_encoded(out / name, csv_text(UNIT_HEADER, written), "gb18030")
    manifest.file(name, "call_units_csv", len(rows), encoding="gb18030")
    return len(rows)


def _at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, TIME)


def _case(rng, call_id: str, category: str, when: dt.datetime, division: str, unit: str, where: str, lon: float,
          lat: float, now: dt.datetime) -> list[str] | None:
    """The case a call led to, or None when it is filed after `now` (not in the export yet). Every draw happens
    either way, so the rest of the day's stream does not depend on the clock."""
    filed = when + dt.timedelta(hours=float(rng.uniform(1, 20)))
    solved = filed + dt.timedelta(days=float(rng.lognormal(np.log(6), 1.0))) if rng.random() < 0.55 else None
    solved = solved if solved and solved < now else None
    closed = solved + dt.timedelta(days=float(rng.uniform(1, 20))) if solved and rng.random() < 0.7 else None
    closed = closed if closed and closed < now else None
    status = "closed" if closed else ("solved" if solved else "investigating")
    case_type = "criminal" if category == "010000" else "administrative"
    loss = f"{rng.lognormal(np.log(3000), 1.2):.2f}" if category == "010000" else "0"
    if filed >= now:
        return None
    return [f"A{unit}{filed:%Y%m%d}{call_id[-5:]}", case_type, category, filed.strftime(TIME), status,
            solved.strftime(TIME) if solved else "", closed.strftime(TIME) if closed else "", division,
            f"河北省秦皇岛市{where}", f"{lon:.6f}", f"{lat:.6f}", unit, call_id, loss]
