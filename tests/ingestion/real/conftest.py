"""Real public exports (tests/real_data.py, described in their MANIFEST.md) and the mapping files that onboard them."""
from pathlib import Path

import pytest

from tests.real_data import MAPPINGS, REAL_DATA  # noqa: F401 -- MAPPINGS is imported from here by the tests


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "MANIFEST.md").exists():
        pytest.fail(f"the real exports are not at {REAL_DATA} (SAFECITY_REAL_DATA names another copy)")
    return REAL_DATA


def landing_with(tmp_path: Path, folder: str, *files: Path) -> Path:
    """A landing area holding copies of `files` in `folder` (the real files stay read-only where they are)."""
    target = tmp_path / "landing" / folder
    target.mkdir(parents=True)
    for file in files:
        (target / file.name).write_bytes(file.read_bytes())
    return tmp_path / "landing"
