"""What a run of the main job leaves behind, reduced to what must not change when code is restructured: the rows of
every lakehouse table and mart (as an order-free digest), the quarantine's reasons, and the outbox's actions.

Columns that record when or in which process something happened (ingestion and quarantine times, run ids) are left
out: two runs of the same day differ there and nowhere else.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safecity.lakehouse.warehouse import connect

# Wall-clock columns: when a row was received, ingested, quarantined, diagnosed or fired, or by which run.
VOLATILE = {"_received_at", "_ingested_at", "_quarantined_at", "fired_at", "run_id", "_diagnosed_at", "diagnosed_at",
            "committed_at", "sheet", "ingested_at", "ingested_through", "at", "_updated_at", "_flagged_at"}
# Floating-point measures (picture scores) are compared to 4 decimals: another CPU's vector unit may differ below.
FLOATS = {"DOUBLE", "FLOAT", "REAL"}
LAYERS = ("bronze", "silver", "quarantine", "ops", "marts")
# Picture scores come from OpenCV's vectorised code, whose last digits differ between CPUs (seen: the same day's
# diagnosis digest changed on another machine of the same kind at 4 decimals); their verdicts (defects, labels)
# stay in the digest, the raw scores do not.
MACHINE_DEPENDENT_FLOATS = {"silver.snapshot_diagnosis"}


def _digest(con, relation: str) -> tuple[int, str]:
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {relation}").fetchall() if r[0] not in VOLATILE
                 and not (relation in MACHINE_DEPENDENT_FLOATS and r[1] in FLOATS)]
    columns = [c for c, _ in described]
    if not columns:
        return con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0], ""
    values = ", ".join(f'"{c}" := ' + (f'round("{c}", 4)' if kind in FLOATS else f'"{c}"') for c, kind in described)
    row = f"to_json(struct_pack({values}))::VARCHAR"
    # Order-free: the sum of the rows' hashes is the same whatever order the rows are stored in.
    count, total = con.execute(f"SELECT count(*), coalesce(sum(hash({row})::HUGEINT), 0) FROM {relation}").fetchone()
    return count, hashlib.sha256(f"{','.join(columns)}|{total}".encode()).hexdigest()[:16]


def fingerprint(settings) -> dict[str, dict]:
    """{relation: {"rows": n, "digest": d}} for every table of the layers, plus reason counts and actions."""
    found: dict[str, dict] = {}
    with connect(settings, read_only=True) as con:
        relations = [f"{s}.{t}" for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
            f"({', '.join(repr(l) for l in LAYERS)}) ORDER BY ALL").fetchall()]
        for relation in relations:
            rows, digest = _digest(con, relation)
            found[relation] = {"rows": rows, "digest": digest}
        for relation in (r for r in relations if r.startswith("quarantine.")):
            found[f"{relation} reasons"] = dict(con.execute(
                f"SELECT primary_reason, count(*) FROM {relation} GROUP BY ALL ORDER BY ALL").fetchall())
        if "ops.outbox" in relations:
            found["ops.outbox actions"] = sorted(r[0] for r in con.execute(
                "SELECT policy_id || ' ' || idempotency_key FROM ops.outbox").fetchall())
    return found


GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden" / "main_day.json"


def differences(expected: dict, found: dict) -> dict[str, tuple]:
    return {k: (expected.get(k), found.get(k)) for k in sorted(set(expected) | set(found))
            if expected.get(k) != found.get(k)}


def main() -> None:
    """Regenerate the golden fingerprint from a fresh run of the main job on the simulated day (after a change that
    means to alter what the day leaves; say which tables changed and why in the commit)."""
    import tempfile

    from safecity.config.profiles import load_settings
    from safecity.orchestration.main_job import run_main_job

    with tempfile.TemporaryDirectory(prefix="safecity-golden-") as home:
        settings = load_settings("local", home)
        summary = run_main_job(settings)
        if not summary.success:
            raise SystemExit(f"the main job failed: {summary.failed_steps}")
        found = fingerprint(settings)
    previous = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(found, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    for key, (before, after) in differences(previous, found).items():
        print(f"{key}: {before} -> {after}")


if __name__ == "__main__":  # python -m tests.orchestration.fingerprint (the rules worker re-imports this module)
    main()
