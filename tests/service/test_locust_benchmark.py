"""The data service benchmark's Locust load (benchmarks/service_locustfile.py), run for a few seconds as its own
process against the real service the other service tests start: it takes a token, keeps its fixed rate, and its
counts are real requests (the service's audit) and real rows (gold read here with pyarrow)."""
from __future__ import annotations

import pyarrow.compute as pc

from benchmarks.service import PAGE, TABLE, Load, passes_facts, run_locust
from safecity.lakehouse.catalog import open_catalog
from safecity.service.audit import read_audit
from tests.service.conftest import SECRET

SECONDS = 3


def _audited_queries(service) -> int:
    service.app.state.service.audit.flush()
    audit = read_audit(open_catalog(service.settings))
    mine = pc.and_(pc.equal(audit["client_id"], "load_tester"), pc.equal(audit["path"], f"/v1/tables/{TABLE}/query"))
    return pc.sum(mine.cast("int64")).as_py() or 0


def test_locust_runs_the_queries_at_their_fixed_rate_and_counts_every_row(service, tmp_path):
    gold = open_catalog(service.settings).load_table(f"gold.{TABLE}").scan().to_arrow()
    facts = passes_facts(service.settings)
    tollgate_rows = pc.sum(pc.equal(gold["tollgate_id"], facts["tollgate"]).cast("int64")).as_py()
    expected = {"small": min(PAGE, tollgate_rows), "export": gold.num_rows}
    for load in (Load("small", 4, 2), Load("export", 1, 1)):
        audited_before = _audited_queries(service)
        stats = run_locust(service.url, load, SECONDS, facts, ("load_tester", SECRET), tmp_path)
        assert stats["failures"] == 0 and stats["token_failures"] == 0, stats
        # constant_throughput: each user starts one query at once and then one per 1/rate s, so a few seconds hold
        # at most rate × seconds + users of them; without the pacing a small query would run hundreds of times.
        assert 2 <= stats["requests"] <= load.rate * SECONDS + load.users, stats
        assert stats["rows"] == stats["requests"] * expected[load.kind], stats
        assert 0 < stats["p50_ms"] <= stats["p99_ms"], stats
        # Every request Locust counted reached the service; one per user may have been cut off at the stop.
        audited = _audited_queries(service) - audited_before
        assert stats["requests"] <= audited <= stats["requests"] + load.users, (stats, audited)
