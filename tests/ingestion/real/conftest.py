"""Real public exports (../shared/real-data, described in its MANIFEST.md) and the mapping files that onboard them."""
import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
MAPPINGS = REPOSITORY / "tests" / "data" / "real"
REAL_DATA = Path(os.environ.get("SAFECITY_REAL_DATA", REPOSITORY.parent / "shared" / "real-data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "MANIFEST.md").exists():
        pytest.skip(f"the real exports are not at {REAL_DATA} (set SAFECITY_REAL_DATA to their folder)")
    return REAL_DATA


def landing_with(tmp_path: Path, folder: str, *files: Path) -> Path:
    """A landing area holding copies of `files` in `folder` (the real files stay read-only where they are)."""
    target = tmp_path / "landing" / folder
    target.mkdir(parents=True)
    for file in files:
        (target / file.name).write_bytes(file.read_bytes())
    return tmp_path / "landing"
