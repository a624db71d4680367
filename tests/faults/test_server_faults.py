"""Production servers taken away mid-run (the PostgreSQL catalog stopped inside a commit, the S3/MinIO bucket
gone between commits): the run stops with the server named, nothing is quarantined as the file's fault, and after
the server is back the next run converges to the clean run's tables, nothing lost or doubled."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from safecity.config.profiles import load_settings
from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import ingest_source
from safecity.lakehouse import exactly_once
from safecity.lakehouse.catalog import open_catalog
from safecity.lakehouse.servers import unreachable_server
from tests.conftest import _free_port
from tests.faults.faultkit import outage_at, table_content, write_landing


@pytest.fixture(scope="module")
def reference(tmp_path_factory, catalogue):
    """The clean run's tables (the embedded profile: the same rows whatever the storage)."""
    landing = write_landing(tmp_path_factory.mktemp("server-faults-landing"))
    catalog = open_catalog(load_settings("local", tmp_path_factory.mktemp("clean-home")))
    ingest_source(catalog, catalogue, load_mapping(landing / "vendor_calls.yaml", catalogue), LocalLanding(landing))
    return landing, table_content(catalog)


def ingest(settings, catalogue, landing):
    return ingest_source(open_catalog(settings), catalogue, load_mapping(landing / "vendor_calls.yaml", catalogue),
                         LocalLanding(landing))


def test_catalog_stopped_inside_a_commit(production_settings, postgres_server, reference, catalogue, monkeypatch):
    landing, clean = reference
    real_commit = SqlCatalog.commit_table
    # Commit 3 is the first batch's quarantine commit (after its bronze commit): the catalog goes inside it.
    monkeypatch.setattr(SqlCatalog, "commit_table", outage_at(3, real_commit, postgres_server.stop))
    try:
        with pytest.raises(Exception) as raised:
            ingest(production_settings, catalogue, landing)
    finally:
        postgres_server.start()
    assert unreachable_server(raised.value) == "catalog"
    monkeypatch.setattr(SqlCatalog, "commit_table", real_commit)
    report = ingest(production_settings, catalogue, landing)
    assert all(f.reconciled for f in report.files)
    assert table_content(open_catalog(production_settings)) == clean


def test_bucket_gone_between_commits(production_settings, s3_server, reference, catalogue, monkeypatch):
    """moto keeps its buckets in the process, so the server stopped and started on its port is the bucket back."""
    from moto.server import ThreadedMotoServer

    landing, clean = reference
    # A server of this test's own, so that the session's server stays up for the other tests.
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("SAFECITY_S3_ENDPOINT", f"127.0.0.1:{port}")
    settings = load_settings("production", production_settings.paths.home)
    client = type(s3_server)(f"127.0.0.1:{port}", s3_server.access_key, s3_server.secret_key).client()
    if not client.bucket_exists(settings.environment.storage.bucket):
        client.make_bucket(settings.environment.storage.bucket)
    real_append = exactly_once.append_once
    monkeypatch.setattr(exactly_once, "append_once", outage_at(2, real_append, server.stop))
    try:
        with pytest.raises(Exception) as raised:
            ingest(settings, catalogue, landing)
        assert unreachable_server(raised.value) == "bucket", repr(raised.value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        monkeypatch.setattr(exactly_once, "append_once", real_append)
        report = ingest(settings, catalogue, landing)
        assert all(f.reconciled for f in report.files)
        assert table_content(open_catalog(settings)) == clean
    finally:
        server.stop()


@pytest.mark.parametrize("variable, value, named", [
    ("SAFECITY_CATALOG_URL", "postgresql+psycopg2://safecity:secret@127.0.0.1:{port}/catalog", "PostgreSQL"),
    ("SAFECITY_S3_ENDPOINT", "127.0.0.1:{port}", "S3/MinIO"),
])
def test_an_unreachable_server_is_named_in_two_lines(production_settings, tmp_path, variable, value, named):
    landing = write_landing(tmp_path / "landing")
    environment = {**os.environ, variable: value.format(port=_free_port()),
                   "AWS_MAX_ATTEMPTS": "1", "SAFECITY_ENV": "production"}
    done = subprocess.run([str(Path(sys.executable).with_name("safecity")), "ingest",
                           str(landing / "vendor_calls.yaml"), str(landing / "calls" / "a.csv"),
                           "--home", str(tmp_path / "home")], env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if "unreachable" in line]
    assert lines and named in lines[0] and variable in lines[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "secret" not in done.stderr
