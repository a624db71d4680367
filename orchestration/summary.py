"""What a person reads when the main job ends: rows per layer, rejections by reason, marts, actions, time."""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field

from safecity.lakehouse.warehouse import connect
from safecity.config.profiles import Settings
from safecity.standards.catalogue import load_catalogue


@dataclass
class RunSummary:
    success: bool
    run_id: str
    seconds: float
    home: str
    days: str = ""  # the daily partition(s) the run covered
    layers: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_by_reason: dict[str, dict] = field(default_factory=dict)
    marts: dict[str, int] = field(default_factory=dict)
    actions_by_policy: dict[str, int] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    # Checks that did not pass with severity WARN (e.g. records in the "unassigned" bucket): told, not failures.
    check_warnings: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    # Landing files no source mapping reads: delivered but never judged (ingestion/unclaimed.py).
    unclaimed_files: list[str] = field(default_factory=list)
    where_next: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal, where each Chinese character takes two columns."""
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - shown, 0)


def _tables(con, schema: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]).fetchall()]


def collect(settings: Settings, success: bool, run_id: str, seconds: float, checks: dict[str, bool],
            failed_steps: list[str], days: str = "", check_warnings: list[str] | None = None) -> RunSummary:
    """Figures read back from the warehouse after the run, so the summary shows what is stored, not what was meant."""
    summary = RunSummary(success, run_id, round(seconds, 1), str(settings.paths.home), days=days, checks=checks,
                         check_warnings=list(check_warnings or []), failed_steps=failed_steps)
    reasons = load_catalogue(settings.city.id).code_tables["reasons"]
    summary.unclaimed_files = _unclaimed(settings)
    if not settings.paths.duckdb_file.exists():
        return summary
    with connect(settings, read_only=True) as con:
        for layer in ("bronze", "silver", "quarantine"):
            summary.layers[layer] = {t: con.execute(f"SELECT count(*) FROM {layer}.{t}").fetchone()[0]
                                     for t in _tables(con, layer)}
        for table in _tables(con, "quarantine"):
            for code, count in con.execute(
                    f"SELECT primary_reason, count(*) FROM quarantine.{table} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall():
                entry = summary.quarantine_by_reason.setdefault(code, {"rows": 0, "name_zh": reasons.label_zh(code)})
                entry["rows"] += count
        summary.marts = {t: con.execute(f"SELECT count(*) FROM marts.{t}").fetchone()[0] for t in _tables(con, "marts")}
        if "outbox" in _tables(con, "ops"):
            summary.actions_by_policy = dict(con.execute(
                "SELECT policy_id, count(*) FROM ops.outbox GROUP BY 1 ORDER BY 1").fetchall())
    summary.where_next = {
        "ui": "safecity ui  →  http://127.0.0.1:3000 (资产图、运行记录 / asset graph and runs)",
        "warehouse": f"duckdb -readonly {settings.paths.duckdb_file}  (marts.*, silver.*, quarantine.*, ops.outbox)",
        "lakehouse": f"{settings.paths.warehouse} (Iceberg; catalog {settings.paths.catalog_db})",
        "dictionary": f"{settings.paths.home / 'docs' / 'data-dictionary.html'} (数据字典 / data dictionary)",
        "docs": "README.md, docs/",
    }
    return summary


def _unclaimed(settings: Settings) -> list[str]:
    from safecity.ingestion.landing import open_landing
    from safecity.ingestion.unclaimed import source_mappings, unclaimed_files
    try:
        return unclaimed_files(open_landing(settings), source_mappings())
    except (OSError, ValueError) as exc:  # the bucket unreachable: said, not fatal to the summary
        return [f"(landing not listed: {exc})"]


def render_text(summary: RunSummary) -> str:
    status = "成功 / succeeded" if summary.success else "失败 / FAILED"
    lines = [f"SafeCity 主作业 / main job: {status} in {summary.seconds:.1f} s (run {summary.run_id[:8]})"]
    if summary.days:
        lines.append(f"数据日 / days (daily partitions): {summary.days}")
    lines.append("")
    lines.append("各层行数 / rows per layer")
    for layer, tables in summary.layers.items():
        for table, rows in tables.items():
            lines.append(f"  {layer + '.' + table:<45} {rows:>8,}")
    lines.append("")
    lines.append("隔离原因 / quarantined by reason")
    for code, entry in summary.quarantine_by_reason.items() or {}:
        lines.append(f"  {code:<18} {_pad(entry['name_zh'] or '', 28)} {entry['rows']:>8,}")
    if not summary.quarantine_by_reason:
        lines.append("  none")
    lines.append("")
    lines.append("分析模型 / marts built")
    for mart, rows in summary.marts.items():
        lines.append(f"  marts.{mart:<39} {rows:>8,} rows")
    lines.append("")
    lines.append("策略动作 / actions fired by policy (outbox)")
    for policy, count in summary.actions_by_policy.items():
        lines.append(f"  {policy:<45} {count:>8,}")
    if not summary.actions_by_policy:
        lines.append("  none")
    if summary.checks:
        warned = set(summary.check_warnings)
        failing = [name for name, passed in summary.checks.items() if not passed and name not in warned]
        passed = len(summary.checks) - len(failing) - len(warned)
        lines.append("")
        lines.append(f"数据检查 / asset checks: {passed} of {len(summary.checks)} passed"
                     + (f", {len(warned)} 警告 / warnings" if warned else ""))
        lines.extend(f"  WARN {name}" for name in sorted(warned))
        lines.extend(f"  FAIL {name}" for name in failing)
    if summary.failed_steps:
        lines.append("")
        lines.append("失败步骤 / failed steps: " + ", ".join(summary.failed_steps))
    if summary.unclaimed_files:
        lines.append("")
        lines.append(f"无映射读取的落地文件 / landing files no mapping reads: {len(summary.unclaimed_files)}")
        lines.extend(f"  {name}" for name in summary.unclaimed_files[:20])
        if len(summary.unclaimed_files) > 20:
            lines.append(f"  … {len(summary.unclaimed_files) - 20} more")
    lines.append("")
    lines.append("下一步 / where to look next")
    for name, where in summary.where_next.items():
        lines.append(f"  {name:<10} {where}")
    return "\n".join(lines)
