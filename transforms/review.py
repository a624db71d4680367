"""`safecity transforms review`: for the dbt models changed in the working tree, whether each change is breaking
or not (SQLMesh's categorisation) and a table diff against the current build — without touching production.

How: a scratch DuckDB file gets the warehouse's sources (the silver views over the Iceberg tables, which only
read, and copies of the reference tables; the warehouse itself is attached read-only and detached again). Two
copies of the dbt project are made: the committed one (`git archive HEAD`) and the working tree's, each adjusted
for SQLMesh (its own profiles.yml on the scratch file, a config.py with the run's dbt vars and a start date,
extensions loaded per model, source tests left to ingestion). SQLMesh, in its own venv (.venv-sqlmesh, started as a
subprocess: it cannot share a venv with dbt-core 1.11), plans the committed copy as `prod` and the working tree as
`review` in that scratch file, then diffs each changed model's review table against prod on the model's grain.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from safecity.lakehouse.warehouse import connect
from safecity.config.profiles import Settings
from safecity.transforms import PROJECT_DIR
from safecity.transforms.dbt_vars import dbt_vars
from safecity.transforms.invocation import PROFILE_FILE, profile_text

REPO_DIR = PROJECT_DIR.parent
SQLMESH_PYTHON = REPO_DIR / ".venv-sqlmesh" / "bin" / "python"
SCRIPT = PROJECT_DIR / "sqlmesh_review.py"
MARKER = "SAFECITY-REVIEW "

REVIEW_CONFIG = """\
# Written by safecity transforms review: the dbt project loaded natively by SQLMesh, with the run's dbt vars.
import json
import os
from pathlib import Path

from sqlmesh.core.config import ModelDefaultsConfig
from sqlmesh.dbt.loader import sqlmesh_config

context = json.loads(Path(os.environ["SAFECITY_REVIEW_CONTEXT"]).read_text(encoding="utf-8"))
config = sqlmesh_config(Path(__file__).parent, dbt_target_name="default", variables=context["vars"],
                        model_defaults=ModelDefaultsConfig(start="2026-01-01", dialect="duckdb"),
                        before_all=["LOAD avro", "LOAD iceberg", "LOAD spatial"])
"""


class ReviewError(RuntimeError):
    pass


@dataclass
class ReviewReport:
    changed: dict[str, str]
    directly_modified: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
    workdir: str | None = None

    def as_dict(self) -> dict:
        return {"changed": self.changed, "directly_modified": self.directly_modified, "models": self.models,
                "workdir": self.workdir}


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_DIR), *args], check=True, capture_output=True, text=True).stdout


def changed_models(status: str | None = None) -> dict[str, str]:
    """Models whose SQL or YAML differs from HEAD in the working tree: name → modified / added / deleted.
    Source files (sources.yml, _*.yml) name no model and are left out."""
    status = _git("status", "--porcelain", "-uall", "--", "transforms/models") if status is None else status
    changed: dict[str, str] = {}
    for line in status.splitlines():
        code, path = line[:2], line[3:].split(" -> ")[-1].strip('"')
        name = Path(path)
        if name.suffix not in {".sql", ".yml"} or name.name == "sources.yml" or name.name.startswith("_"):
            continue
        kind = "added" if "?" in code or "A" in code else "deleted" if "D" in code else "modified"
        if changed.get(name.stem) != "added":
            changed[name.stem] = kind
    return changed


def model_grains(project: Path, models) -> dict[str, list[str]]:
    """Each model's grain from its YAML: the columns of its unique_combination test, or its unique column."""
    grains: dict[str, list[str]] = {}
    yaml = YAML(typ="safe")
    for path in (project / "models").rglob("*.yml"):
        document = yaml.load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models", []):
            if model["name"] not in models:
                continue
            grain: list[str] = []
            for test in model.get("data_tests", []):
                if isinstance(test, dict) and "unique_combination" in test:
                    grain = list(test["unique_combination"]["arguments"]["columns"])
            for column in model.get("columns", []):
                if not grain and "unique" in (column.get("data_tests") or []):
                    grain = [column["name"]]
            grains[model["name"]] = grain
    return {m: grains.get(m, []) for m in models}


def _adjust_for_sqlmesh(project: Path, profile: str) -> None:
    for stale in [project / "target", project / "logs", *project.glob("*.py")]:
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    (project / PROFILE_FILE).write_text(profile, encoding="utf-8")
    (project / "config.py").write_text(REVIEW_CONFIG, encoding="utf-8")
    yaml = YAML()
    yaml.width = 4096
    settings_file = project / "dbt_project.yml"
    document = yaml.load(settings_file.read_text(encoding="utf-8"))
    document["models"]["safecity"]["+pre-hook"] = ["LOAD spatial"]
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    settings_file.write_text(buffer.getvalue(), encoding="utf-8")
    sources_file = project / "models" / "sources.yml"
    if sources_file.exists():  # source tests are ingestion's; tables not landed yet would fail them here
        document = yaml.load(sources_file.read_text(encoding="utf-8"))
        for source in document.get("sources", []):
            for table in source.get("tables", []):
                for column in table.get("columns", []) or []:
                    column.pop("data_tests", None)
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        sources_file.write_text(buffer.getvalue(), encoding="utf-8")


def copy_projects(workdir: Path, profile: str, project_dir: Path = PROJECT_DIR,
                  base_dir: Path | None = None) -> tuple[Path, Path]:
    """The committed project (HEAD, or `base_dir`) and the working tree's (or `project_dir`), adjusted for SQLMesh
    with `profile` as their profiles.yml."""
    ignore = shutil.ignore_patterns("target", "logs", "__pycache__", "*.pyc")
    base = workdir / "base" / "transforms"
    if base_dir is None:
        base.parent.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO_DIR), "archive", "HEAD", "transforms"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(base.parent, filter="data")
    else:
        shutil.copytree(base_dir, base, ignore=ignore)
    change = workdir / "change"
    shutil.copytree(project_dir, change, ignore=ignore)
    for project in (base, change):
        _adjust_for_sqlmesh(project, profile)
    return base, change


def scratch_warehouse(settings: Settings, path: Path) -> None:
    """A DuckDB file with the warehouse's sources only: silver views (they read the Iceberg tables) and copies of
    the reference tables. The warehouse is attached read-only, so a review never writes production state."""
    with connect(settings, path) as con:
        con.execute(f"ATTACH '{settings.paths.duckdb_file}' AS production (READ_ONLY)")
        for schema, sql in con.execute("SELECT schema_name, sql FROM duckdb_views() WHERE database_name = "
                                       "'production' AND schema_name = 'silver'").fetchall():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(sql)
        for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
                                         "'production' AND schema_name = 'reference'").fetchall():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM production.{schema}.{table}")
        con.execute("DETACH production")


def review(settings: Settings, workdir: Path | None = None, changed: dict[str, str] | None = None,
           project_dir: Path = PROJECT_DIR, base_dir: Path | None = None, timeout: int = 1800) -> ReviewReport:
    """`changed` and `project_dir` default to the working tree's changed models and the project itself, `base_dir`
    (what the change is compared with) to the project as committed in HEAD."""
    changed = changed_models() if changed is None else changed
    report = ReviewReport(changed)
    if not changed:
        return report
    if not settings.paths.duckdb_file.exists():
        raise ReviewError(f"no warehouse at {settings.paths.duckdb_file}: run `safecity run` first")
    python = Path(os.environ.get("SAFECITY_SQLMESH_PYTHON", SQLMESH_PYTHON))
    if not python.exists():
        raise ReviewError(f"{python} missing: `make install` builds the SQLMesh venv")
    workdir = Path(tempfile.mkdtemp(prefix="safecity-review-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    report.workdir = str(workdir)
    scratch = workdir / "review_warehouse.duckdb"  # not sqlmesh.duckdb: that name breaks SQLMesh's state migration
    base, change = copy_projects(workdir, profile_text(settings, scratch, for_sqlmesh=True), project_dir, base_dir)
    scratch_warehouse(settings, scratch)
    context = workdir / "context.json"
    context.write_text(json.dumps({"vars": dbt_vars(settings)}, ensure_ascii=False), encoding="utf-8")
    present = {m for m, kind in changed.items() if kind != "deleted"}
    request = workdir / "request.json"
    request.write_text(json.dumps({"base": str(base), "change": str(change),
                                   "models": model_grains(change, present)}), encoding="utf-8")
    environment = {**os.environ, "SAFECITY_REVIEW_CONTEXT": str(context), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                   "DO_NOT_TRACK": "1"}
    environment.pop("VIRTUAL_ENV", None)
    # -P: the script's folder (transforms/, with modules like dbt_vars.py) must not shadow the SQLMesh venv's.
    completed = subprocess.run([str(python), "-P", str(SCRIPT), str(request)], cwd=workdir, env=environment,
                               capture_output=True, text=True, timeout=timeout)
    answer = next((line[len(MARKER):] for line in completed.stdout.splitlines() if line.startswith(MARKER)), None)
    if completed.returncode != 0 or answer is None:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-40:])
        raise ReviewError(f"SQLMesh review failed (exit {completed.returncode}):\n{tail}")
    result = json.loads(answer)
    report.directly_modified = result["directly_modified"]
    report.models = result["models"]
    for model, kind in changed.items():
        if kind == "deleted":
            report.models.append({"model": model, "category": "deleted"})
    return report


def render_text(report: ReviewReport) -> str:
    if not report.changed:
        return "工作区没有改动的模型 / no model changed in the working tree"
    lines = ["变更评审 / change review (SQLMesh, scratch copy of the warehouse; production untouched)", ""]
    for entry in report.models:
        lines.append(f"  {entry['model']}: {entry.get('category')}")
        if "schema" in entry:
            schema = entry["schema"]
            if any(schema.values()):
                lines.append(f"    columns added {schema['added']}, removed {schema['removed']}, "
                             f"changed type {schema['modified']}")
        if "rows" in entry:
            r = entry["rows"]
            lines.append(f"    rows prod {r['prod']} → review {r['review']}: {r['identical']} identical, "
                         f"{r['changed']} changed, {r['only_prod']} only in prod, {r['only_review']} only in review "
                         f"(on {', '.join(entry['grain'])})")
        if "error" in entry:
            lines.append(f"    {entry['error']}")
    for entry in report.directly_modified:
        if entry["indirectly_modified"]:
            lines.append(f"  {entry['model']} also changes: {', '.join(entry['indirectly_modified'])}")
    return "\n".join(lines)
