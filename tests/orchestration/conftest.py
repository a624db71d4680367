"""The main job's simulated day, run once per session: it costs minutes, and the tests that need it only read what
it left (test_main_job.py) or add runs that change nothing (the second run through the CLI, the UI's launch of
silver/camera in test_ui_browser.py)."""
import pytest

from safecity.config.profiles import load_settings
from safecity.orchestration.main_job import run_main_job


@pytest.fixture(scope="session")
def main_day(tmp_path_factory):
    settings = load_settings("local", tmp_path_factory.mktemp("main_day") / "home")
    summary = run_main_job(settings)
    return settings, summary
