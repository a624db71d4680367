"""GCJ-02 ("Mars coordinates", what Chinese web maps and many vendor platforms export) to WGS-84.

GCJ-02 shifts WGS-84 positions inside China by a smooth, non-linear offset of a few hundred metres. The forward
transform is public; its inverse has no closed form, so it is found by fixed-point iteration: the offset varies
slowly, and four rounds bring the error far below a millimetre. Positions outside China are not shifted.

Vectorised with numpy and registered in DuckDB as functions, so the conversion runs inside the batch SQL.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Krasovsky 1940 ellipsoid, as the transform defines it.
_A = 6378245.0
_EE = 0.00669342162296594323
_ROUNDS = 4


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (degrees) at a WGS-84 position."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    waves_x = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lat += waves_x
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += waves_x
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lon, d_lat = _offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    gcj_lon, gcj_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wgs_lon, wgs_lat = gcj_lon.copy(), gcj_lat.copy()
    for _ in range(_ROUNDS):
        d_lon, d_lat = _offset(wgs_lon, wgs_lat)
        wgs_lon, wgs_lat = gcj_lon - d_lon, gcj_lat - d_lat
    return wgs_lon, wgs_lat


def _arrow_udf(index: int):
    def convert(lon: pa.Array, lat: pa.Array) -> pa.Array:
        valid = np.asarray(pc.and_(lon.is_valid(), lat.is_valid()))
        lon_np = lon.to_numpy(zero_copy_only=False).astype(float)
        lat_np = lat.to_numpy(zero_copy_only=False).astype(float)
        result = gcj02_to_wgs84(np.nan_to_num(lon_np), np.nan_to_num(lat_np))[index]
        return pa.array(result, mask=~valid)
    return convert


def register(con) -> None:
    """gcj02_to_wgs84_lon(lon, lat) and gcj02_to_wgs84_lat(lon, lat) as DuckDB functions on `con`."""
    import duckdb.sqltypes as t

    existing = {row[0] for row in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'gcj02_to_wgs84_%'").fetchall()}
    for index, name in enumerate(("gcj02_to_wgs84_lon", "gcj02_to_wgs84_lat")):
        if name in existing:
            continue
        con.create_function(name, _arrow_udf(index), [t.DOUBLE, t.DOUBLE], t.DOUBLE, type="arrow",
                            null_handling="special")
