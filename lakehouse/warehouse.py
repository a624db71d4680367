"""The one way to open DuckDB: extensions come from the PyPI wheels, nothing is downloaded at run time.

DuckDB's own extension site is unreachable here and at many bureaus. The `duckdb-extension-*` wheels carry the
binaries; we lay them out as DuckDB's extension directory (`<dir>/v<version>/<platform>/<name>.duckdb_extension`)
so that `INSTALL` is a no-op, `LOAD` works and `iceberg_scan` autoloads. dbt-duckdb opens its own connections and
is given the same directory in the profile safecity.transforms.invocation writes.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from safecity.config.profiles import S3Storage, Settings

EXTENSIONS = ("json", "icu", "httpfs", "avro", "iceberg", "spatial")
# Loaded on every connection: iceberg needs avro first, and spatial is never autoloaded.
PRELOADED = ("avro", "iceberg", "spatial")


def _wheel_binary(name: str) -> Path:
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"DuckDB extension wheel duckdb-extension-{name} is not installed (pip install -e .)")
    binary = Path(spec.submodule_search_locations[0]) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not binary.exists():
        raise RuntimeError(f"{binary} missing: duckdb-extension-{name} must have the same version as duckdb "
                           f"({duckdb.__version__})")
    return binary


def prepare_extension_directory(directory: Path) -> Path:
    """Create (idempotently) the extension directory layout, as symlinks into the installed wheels."""
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    target = directory / f"v{duckdb.__version__}" / platform
    target.mkdir(parents=True, exist_ok=True)
    for name in EXTENSIONS:
        link = target / f"{name}.duckdb_extension"
        binary = _wheel_binary(name)
        if link.is_symlink() and link.resolve() == binary.resolve():
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(binary)
    return directory


def connect(settings: Settings, database: str | Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to `database` (default: the warehouse file; ":memory:" for scratch work)."""
    extensions = prepare_extension_directory(settings.paths.duckdb_extensions)
    target = str(database if database is not None else settings.paths.duckdb_file)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(target, read_only=read_only, config={
        "extension_directory": str(extensions),
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "true",
    })
    for name in PRELOADED:
        con.execute(f"LOAD {name}")
    con.execute(f"SET TimeZone = '{settings.city.timezone}'")
    if isinstance(settings.environment.storage, S3Storage):
        storage = settings.environment.storage
        con.execute("LOAD httpfs")
        values = [settings.secret("/storage/access_key_env"), settings.secret("/storage/secret_key_env"),
                  settings.secret("/storage/endpoint_env")]
        key_id, secret, endpoint = (v.replace("'", "''") for v in values)
        # CREATE SECRET takes no prepared parameters; the values are quoted instead.
        con.execute(f"CREATE OR REPLACE SECRET safecity_s3 (TYPE s3, KEY_ID '{key_id}', SECRET '{secret}', "
                    f"ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL {str(storage.secure).lower()})")
    return con
