"""Ingest a landing folder and SIGKILL this process at commit point number $KILL_AT (run by test_kill_matrix).

Commit points are counted around every step that changes the lakehouse: before and after each table commit of a
batch, before the stage of a batch is written and before it is removed. KILL_AT=0 runs to the end and prints the
number of points it passed, so the test knows how many kill points there are."""
import os
import signal
import sys
from pathlib import Path

from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse import exactly_once
from safecity.lakehouse.catalog import open_catalog
from safecity.standards.catalogue import load_catalogue

KILL_AT = int(os.environ["KILL_AT"])
passed = 0


def point() -> None:
    global passed
    passed += 1
    if passed == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def around(function):
    def wrapped(*args, **kwargs):
        point()
        result = function(*args, **kwargs)
        point()
        return result
    return wrapped


exactly_once.append_once = around(exactly_once.append_once)
exactly_once._write_parquet = around(exactly_once._write_parquet)
exactly_once.discard_stage = around(exactly_once.discard_stage)

home, landing, mapping = map(Path, sys.argv[1:4])
catalogue = load_catalogue("qinhuangdao")
ingest_source(open_catalog(load_settings("local", home)), catalogue, load_mapping(mapping, catalogue),
              LocalLanding(landing))
print(passed)
