import textwrap
from pathlib import Path

import pytest
from rules_testkit import GOOD_POLICY

from safecity.rules.loader import load_policy

# Version 1 of camera.key_point_offline: one camera_registered event in, one alert out, the engine tests' simplest
# policy (the shipped version reads camera health).
SHIPPED = Path(__file__).parent / "policies" / "key_point_offline_v1.yaml"


@pytest.fixture
def shipped():
    return load_policy(SHIPPED)


@pytest.fixture
def write_policy(tmp_path):
    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path
    return write


@pytest.fixture
def good_policy(write_policy):
    return write_policy(GOOD_POLICY, "any_offline.yaml")
