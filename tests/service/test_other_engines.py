"""Gold stays readable by any Iceberg engine through the catalog: pyiceberg with pyarrow, no DuckDB, in a process
of its own so that nothing of ours (and no DuckDB) is loaded."""
import json
import subprocess
import sys

READER = """
import json, sys
from pyiceberg.catalog.sql import SqlCatalog
# The catalog name is part of the SQL catalog's keys: every engine names it "safecity" (docs/data-service.md).
catalog = SqlCatalog("safecity", uri=sys.argv[1], warehouse=sys.argv[2])
counts = {i[-1]: catalog.load_table(".".join(i)).scan().to_arrow().num_rows for i in catalog.list_tables("gold")}
phones = catalog.load_table("gold.fct_alarm_calls").scan(selected_fields=("caller_phone",)).to_arrow()
print(json.dumps({"counts": counts, "phones": phones["caller_phone"].to_pylist(),
                  "duckdb": "duckdb" in sys.modules, "safecity": any(m.startswith("safecity") for m in sys.modules)}))
"""


def test_gold_reads_with_pyiceberg_and_pyarrow_alone(gold_day):
    out = subprocess.run([sys.executable, "-c", READER, gold_day.catalog_uri, gold_day.warehouse_uri],
                         capture_output=True, text=True, check=True, timeout=300)
    seen = json.loads(out.stdout)
    assert not seen["duckdb"] and not seen["safecity"]
    assert len(seen["counts"]) >= 10 and seen["counts"]["fct_alarm_calls"] > 0
    assert all("*" in phone for phone in seen["phones"] if phone)    # gold is the masked publication
