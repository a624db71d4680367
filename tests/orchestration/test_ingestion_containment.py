"""A file the pipeline cannot read or judge fails the ingestion asset's `files` check, not the run; the other
files of the day are ingested."""
import dagster as dg

from safecity.config.profiles import load_settings
from safecity.lakehouse.catalog import open_catalog
from safecity.orchestration.defs.ingestion import site_ingestion
from safecity.orchestration.resources import platform_resources

HEADER = "jjdbh,bjsj,pjsj,ddsj,czsj,jssj,bjrxm,bjrxb,lxdh,afdz,xzb,yzb,jqlbdm,jqjbdm,jjlxdm,xzqh,gxdwdm,bjnr,jjdzt"
ROW = ("J13032220260701{n:05d},{received},2026-07-01 00:32:18,2026-07-01 00:54:51,2026-07-01 01:05:22,"
       "2026-07-01 01:40:45,张洋,1,15020449038,河北省秦皇岛市昌黎县昌黎县,119.174797,39.754475,030000,2,1,130322,"
       "130322070000,昌黎县附近发生交通事故,closed")

alarm_calls = site_ingestion()["alarm_call"]


def calls_file(path, rows, encoding="gb18030"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [HEADER] + [ROW.format(n=n, received=received) for n, received in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def test_a_bad_file_fails_the_files_check_and_the_run_goes_on(tmp_path):
    home = tmp_path / "home"
    calls_file(home / "landing" / "calls" / "calls_20260701.csv",
               [(n, "2026-07-01 00:30:43") for n in range(1, 6)])
    # UTF-8 where the mapping declares GB18030: this file is rejected whole, the day's other file is not.
    calls_file(home / "landing" / "calls" / "calls_20260701_late.csv",
               [(6, "2026-07-01 00:31:00"), (7, "2026-07-01 00:32:00")], encoding="utf-8")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([alarm_calls], instance=instance,
                                resources=platform_resources("local", str(home)))
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["reconciliation"].passed and not checks["files"].passed
    table = checks["files"].metadata["files"].value
    assert "calls/calls_20260701_late.csv" in table and "E_ENCODING_MISMATCH" in table
    assert "calls/calls_20260701.csv |" not in table
    catalog = open_catalog(load_settings("local", home))
    silver = catalog.load_table("silver.alarm_call").scan().to_arrow()
    assert sorted(silver.column("call_id").to_pylist()) == [f"J13032220260701{n:05d}" for n in range(1, 6)]
