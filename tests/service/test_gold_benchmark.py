"""The gold benchmark on the session's published day (here, where that day is built once): the pass fact grown to
twice its rows under new keys, gold and the plain copy publish the same rows. No timing is asserted."""
import duckdb

import benchmarks.gold as bench


def test_gold_and_the_plain_copy_publish_the_grown_fact(gold_day, tmp_path):
    with duckdb.connect(str(gold_day.paths.duckdb_file), read_only=True) as con:
        passes = con.execute(f"SELECT count(*) FROM marts.{bench.FACT}").fetchone()[0]
    assert passes > 1_000
    summary = bench.main(["--home", str(gold_day.paths.home), "--rows", str(2 * passes), "--repeat", "1",
                          "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    assert summary["fact_rows"] == 2 * passes
    assert summary["gold"]["rows"] == summary["plain"]["rows"] > summary["fact_rows"]
    assert summary["gold"]["peak_mb"] > 0 and (tmp_path / "out" / "gold.json").exists()
    with duckdb.connect(str(tmp_path / "work" / "home" / "warehouse.duckdb"), read_only=True) as con:
        keys = con.execute(f"SELECT count(DISTINCT {bench.KEY}) FROM marts.{bench.FACT}").fetchone()[0]
    assert keys == 2 * passes          # every copy under keys of its own
