"""Positions in the export's coordinate system to WGS-84, inside the batch SQL.

`system` is wgs84, gcj02 (Chinese web maps), bd09 (Baidu maps, GCJ-02 shifted once more) or an EPSG code
("EPSG:2326" Hong Kong 1980 Grid, "EPSG:27700" British National Grid, "EPSG:32650" UTM 50N, "EPSG:2236" a
state plane in US feet, "EPSG:4490" CGCS2000). EPSG systems go through pyproj with x = easting/longitude first.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from safecity.ingestion.coordinates import gcj02_to_wgs84

SHIFTED = ("gcj02", "bd09")
_BD_PI = np.pi * 3000.0 / 180.0


def check_system(system: str) -> str:
    """The system as written, if it is known; ValueError names the accepted forms."""
    if system in ("wgs84", *SHIFTED):
        return system
    if not system.upper().startswith("EPSG:"):
        raise ValueError(f"coordinate system {system!r}: one of wgs84, gcj02, bd09 or an EPSG code such as EPSG:2326")
    _PROJ.submit(_transformer, system.upper()).result()
    return system


# DuckDB calls the functions from its own native worker threads, where building a PROJ transformer crashes the
# process (seen in the ingest pipeline; PROJ is not safe there). Every use of pyproj runs on one Python thread of
# its own, which also keeps the transformers single-threaded as PROJ requires.
_PROJ = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proj")
_TRANSFORMERS: dict = {}


def _transformer(system: str):
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    cache = _TRANSFORMERS
    if system not in cache:
        try:
            source = CRS.from_user_input(system)
        except CRSError:
            raise ValueError(f"{system} is not an EPSG coordinate reference system pyproj knows") from None
        cache[system] = Transformer.from_crs(source, CRS.from_epsg(4326), always_xy=True)
    return cache[system]


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(lon, dtype=float) - 0.0065, np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_PI)
    return gcj02_to_wgs84(z * np.cos(theta), z * np.sin(theta))


def to_wgs84(system: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if system == "gcj02":
        return gcj02_to_wgs84(x, y)
    if system == "bd09":
        return bd09_to_wgs84(x, y)
    if system == "wgs84":
        return x, y
    return _PROJ.submit(_project, system.upper(), x, y).result()


def _project(system: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _transformer(system).transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _arrow_udf(index: int):
    def convert(system: pa.Array, x: pa.Array, y: pa.Array) -> pa.Array:
        valid = np.asarray(pc.and_(x.is_valid(), y.is_valid()))
        if not len(x) or not valid.any():
            return pa.nulls(len(x), pa.float64())
        x_np = np.nan_to_num(x.to_numpy(zero_copy_only=False).astype(float))
        y_np = np.nan_to_num(y.to_numpy(zero_copy_only=False).astype(float))
        # One mapping, one system: the column is constant.
        result = to_wgs84(system[0].as_py(), x_np, y_np)[index]
        return pa.array(result, mask=~valid | ~np.isfinite(result))
    return convert


def register(con) -> None:
    """to_wgs84_lon(system, x, y) and to_wgs84_lat(system, x, y) as DuckDB functions on `con`."""
    import duckdb.sqltypes as t

    existing = {row[0] for row in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'to_wgs84_%'").fetchall()}
    for index, name in enumerate(("to_wgs84_lon", "to_wgs84_lat")):
        if name not in existing:
            con.create_function(name, _arrow_udf(index), [t.VARCHAR, t.DOUBLE, t.DOUBLE], t.DOUBLE, type="arrow",
                                null_handling="special")
