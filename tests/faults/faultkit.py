"""What the fault tests share: a small landing folder (a file read with a quarantined row and a duplicate, and a
file rejected whole) and the content of every table it feeds, compared with a clean run's."""
from pathlib import Path

from safecity.ingestion.tables import REJECTED_FILES_TABLE
from tests.ingestion.test_reprocess import MAPPING  # the vendor's call export, mapped to alarm_call

TABLES = ("bronze.vendor_calls", "silver.alarm_call", "quarantine.alarm_call", REJECTED_FILES_TABLE)


def write_landing(root: Path) -> Path:
    (root / "calls").mkdir(parents=True)
    (root / "calls" / "a.csv").write_text("编号,报警时间,级别,状态\nJ1,2026-07-01 08:00:00,1,closed\n"
                                          "J2,2026-07-01 08:01:00,9,closed\nJ1,2026-07-01 08:00:00,1,closed\n",
                                          encoding="utf-8")
    # Rejected whole (GB18030 bytes where the mapping declares UTF-8): its batch commits the kept bytes too.
    (root / "calls" / "b.csv").write_bytes("编号,报警时间,级别,状态\nJ3,2026-07-01 08:02:00,1,已结束\n".encode("gb18030"))
    (root / "vendor_calls.yaml").write_text(MAPPING, encoding="utf-8")
    return root


def table_content(catalog) -> dict:
    """Every table's rows, without the times of the run (they differ between runs by design)."""
    result = {}
    for name in TABLES:
        rows = catalog.load_table(name).scan().to_arrow().to_pylist()
        result[name] = sorted(repr({k: v for k, v in row.items() if not k.endswith("_at") and k != "reasons"})
                              for row in rows)
    return result


def outage_at(call: int, function, take_away):
    """`function`, wrapped so that `take_away()` (stop a server) runs just before its call number `call`."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            take_away()
        return function(*args, **kwargs)
    return wrapped
