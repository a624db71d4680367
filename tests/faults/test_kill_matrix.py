"""SIGKILL at every commit point of a batch: after a restart every table converges to the clean run's rows, with
nothing lost or doubled (a real process killed by the kernel, the real local catalog and warehouse)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.ingestion.tables import REJECTED_FILES_TABLE
from safecity.lakehouse.catalog import open_catalog
from tests.faults.faultkit import table_content, write_landing

pytestmark = pytest.mark.slow

KILL_RUN = Path(__file__).with_name("kill_run.py")
@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    return write_landing(tmp_path_factory.mktemp("kill-landing"))


def content(home: Path) -> dict:
    return table_content(open_catalog(load_settings("local", home)))


def kill_run(home: Path, landing: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(KILL_RUN), str(home), str(landing), str(landing / "vendor_calls.yaml")],
                          env={**os.environ, "KILL_AT": str(kill_at)}, capture_output=True, text=True, timeout=300)


def test_sigkill_at_every_commit_point_converges(landing, tmp_path, catalogue):
    clean = kill_run(tmp_path / "clean", landing, 0)
    assert clean.returncode == 0, clean.stderr[-2000:]
    points = int(clean.stdout.split()[-1])
    reference = content(tmp_path / "clean")
    assert len(reference["bronze.vendor_calls"]) == 4 and len(reference[REJECTED_FILES_TABLE]) == 1
    assert points >= 14  # two batches, each: stage, three or four commits, stage removal
    for kill_at in range(1, points + 1):
        home = tmp_path / f"killed-{kill_at}"
        killed = kill_run(home, landing, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr[-2000:])
        restarted = ingest_source(open_catalog(load_settings("local", home)), catalogue,
                                  load_mapping(landing / "vendor_calls.yaml", catalogue), LocalLanding(landing))
        assert all(f.reconciled for f in restarted.files), kill_at
        assert content(home) == reference, f"killed at commit point {kill_at} of {points}"
        assert not list((home / "lakehouse").rglob("_pending/*/complete")), kill_at
