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
