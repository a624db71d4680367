"""How dbt is run for one SafeCity home, in one place for the Dagster assets, the CLI, the benchmarks and the tests:
the executable, the profile (written into the state folder with the home's own values, so nothing has to be put
into the process environment), the build arguments and the manifest's preparation."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safecity.config.profiles import Settings
from safecity.lakehouse.warehouse import prepare_extension_directory
from safecity.transforms import PROJECT_DIR
from safecity.transforms.dbt_vars import dbt_vars

# What the manifest depends on besides the profile: the project's own files.
PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
FINGERPRINT_FILE = "safecity_project.sha256"
PROFILE_FILE = "profiles.yml"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# The target folders of the Dagster steps' invocations kept in the home (their run_results.json and logs, for a look
# after a failed run); older ones are deleted as new ones are made.
KEPT_INVOCATIONS = 12
# The run's days for the daily models (macros/daily_partitions.sql), in the environment rather than in --vars.
DAY_FROM_ENV, DAY_TO_ENV = "SAFECITY_DAY_FROM", "SAFECITY_DAY_TO"


def dbt_executable() -> str:
    # The venv's dbt, never a stray `dbtf` (dbt Fusion) or another dbt on PATH.
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def profile_text(settings: Settings, database: Path | None = None, for_sqlmesh: bool = False) -> str:
    """profiles.yml for the home (or for `database`): dbt opens DuckDB exactly as safecity.lakehouse.warehouse.connect
    does (extensions from the PyPI wheels through extension_directory, given at connect time because dbt-duckdb
    installs extensions before it applies `settings`; INSTALL is then a no-op and nothing is downloaded).
    SQLMesh (`transforms review`) reads the same profile but installs listed extensions before it applies any
    setting, so its flavour lists none (its models LOAD spatial) and sets the directory among the settings."""
    extensions = prepare_extension_directory(settings.paths.duckdb_extensions)
    # JSON strings are YAML strings: paths and zones are quoted whatever they hold.
    quoted = {k: json.dumps(str(v)) for k, v in (("path", database or settings.paths.duckdb_file),
                                                 ("extensions", extensions), ("zone", settings.city.timezone))}
    directory = (f"        extension_directory: {quoted['extensions']}\n"
                 "        autoinstall_known_extensions: false\n")
    head = ("# Written by safecity (transforms/invocation.py) for this home; edits are overwritten.\n"
            "safecity:\n  target: default\n  outputs:\n    default:\n      type: duckdb\n"
            f"      path: {quoted['path']}\n      threads: 1\n")
    if for_sqlmesh:
        return head + f"      settings:\n{directory}        TimeZone: {quoted['zone']}\n"
    return (head + f"      config_options:\n{directory}      extensions: [avro, iceberg, spatial]\n"
            f"      settings:\n        TimeZone: {quoted['zone']}\n")


def profiles_dir(settings: Settings) -> Path:
    """The home's profile folder, its profiles.yml rewritten only when its content changes (dbt's partial parsing
    keys on it)."""
    folder = settings.paths.home / "dbt" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    profile = folder / PROFILE_FILE
    text = profile_text(settings)
    if not profile.exists() or profile.read_text(encoding="utf-8") != text:
        profile.write_text(text, encoding="utf-8")
    return folder


def project_args(settings: Settings) -> list[str]:
    return ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(profiles_dir(settings)),
            "--target-path", str(settings.paths.dbt_target), "--log-path", str(settings.paths.dbt_target.parent / "logs")]


def build_args(variables: Mapping[str, Any]) -> list[str]:
    # dbt unit tests run in CI (tests/transforms), not in every production build; data tests run and become checks.
    return ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(variables, ensure_ascii=False)]


def run_dbt(settings: Settings, *args: str, variables: Mapping[str, Any] | None = None,
            timeout: float | None = 900) -> subprocess.CompletedProcess:
    """dbt run outside Dagster (the direct path, tests), exactly as the assets run it: `args` with the home's
    project arguments and its variables (default: dbt_vars of the settings, unless args carry --vars)."""
    extra = [] if "--vars" in args else ["--vars", json.dumps(dict(variables or dbt_vars(settings)), ensure_ascii=False)]
    return subprocess.run([dbt_executable(), *args, *extra, *project_args(settings)], capture_output=True, text=True,
                          timeout=timeout)


def project_fingerprint(profiles: Path) -> str:
    """What the manifest was parsed from: the project's files (paths and bytes) and the profile in `profiles`."""
    digest = hashlib.sha256((profiles / PROFILE_FILE).read_bytes())
    for path in sorted(p for p in PROJECT_DIR.rglob("*") if p.suffix in PROJECT_SUFFIXES and "target" not in
                       p.relative_to(PROJECT_DIR).parts):
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def prepare_manifest(settings: Settings) -> Path:
    """The home's manifest, parsed again whenever the project or the profile changed since it was (content, not
    file times: a checkout or a copy keeps times that mean nothing). Returns the manifest's path."""
    target = settings.paths.dbt_target
    manifest, stamp = target / "manifest.json", target / FINGERPRINT_FILE
    fingerprint = project_fingerprint(profiles_dir(settings))
    if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return manifest
    completed = run_dbt(settings, "parse", "--quiet")
    if completed.returncode != 0 or not manifest.exists():
        raise RuntimeError(f"dbt parse failed for {PROJECT_DIR} (profile {profiles_dir(settings)}):\n"
                           f"{(completed.stdout + completed.stderr)[-4000:]}")
    stamp.write_text(fingerprint)
    return manifest


def invocation_target(settings: Settings, step: str) -> Path:
    """A fresh target folder in the home for one dbt invocation of a Dagster step, holding the home's partial parse.

    dagster-dbt's own default is a folder under `target/` of the project directory, i.e. the source tree (shared by
    every home, unwritable in an installed package), and it seeds partial parsing from there: the home's parsed
    project was never found, so each step parsed the whole project again (about 3 s a step on 2 cores)."""
    runs = settings.paths.dbt_target / "runs"
    # Names sort by their time (to the microsecond); a step still running holds one of the newest.
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    folder = runs / f"{stamp}-{step}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    parsed = settings.paths.dbt_target / PARTIAL_PARSE_FILE
    if parsed.exists():
        shutil.copyfile(parsed, folder / PARTIAL_PARSE_FILE)
    for old in sorted(runs.iterdir())[:-KEPT_INVOCATIONS]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder


@contextlib.contextmanager
def partition_days_environment(day_from: dt.date, day_to: dt.date):
    """The daily models' day range (first day, the day after the last) in the environment of the dbt processes
    started inside the block. Not --vars: dbt parses the whole project again whenever its vars differ from the
    parse it saved, while an environment variable a macro reads at run time needs no parse at all."""
    saved = {name: os.environ.get(name) for name in (DAY_FROM_ENV, DAY_TO_ENV)}
    os.environ[DAY_FROM_ENV], os.environ[DAY_TO_ENV] = day_from.isoformat(), day_to.isoformat()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
