"""The Dagster UI (`safecity ui`) driven in a real headless Chromium: the asset graph loads, a materialisation
launched with the UI's own button completes, and the asset checks show their results.

Needs Debian's `chromium` and `chromium-driver` (`make system-deps` installs them). Screenshots of every step are
written to the test's temporary folder (the path is printed; `pytest -s` shows it) — look at them when a step fails.
"""
from __future__ import annotations

import time

import pytest

from tests.browser import chromium_page, text_is, webdriver_modules
from tests.orchestration.ui_server import running_ui

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCATION = "safecity.orchestration.location"
RUN_TIMEOUT = 420

RUNS_QUERY = """{ runsOrError { ... on Runs { results { runId status creationTime tags { key value }
                  assetSelection { path } } } } }"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory, main_day):
    """The main job's state (the session's run of the whole graph on the simulated day, conftest.py), served by
    `safecity ui` on a free loopback port. The main job's own outcome is test_main_job.py's business: here it
    only gives the graph its data; what is asserted is what the UI shows and what it launches."""
    webdriver_modules()  # fail before anything is served
    settings, _ = main_day
    with running_ui(settings.paths.home, log=tmp_path_factory.mktemp("ui_browser") / "ui.log") as server:
        yield server


@pytest.fixture(scope="module")
def page(ui, tmp_path_factory):
    with chromium_page(ui.url, tmp_path_factory.mktemp("screenshots")) as page:
        yield page


@pytest.fixture(scope="module")
def community_dialog_dismissed(ui, page):
    """On a fresh Dagster home the UI opens with a "Join the Dagster community" dialog over the page
    (the server's `shouldShowNux`): it must be skipped before anything can be clicked."""
    page.open("/asset-groups")
    if ui.graphql("{ shouldShowNux }")["shouldShowNux"]:
        with page.shot_on_failure("community-dialog"):
            page.wait_visible(text_is("Join the Dagster community"))
            page.shot("00-community-dialog")
            page.click("//button[normalize-space()='Skip']")
            page.wait(lambda _: not page.visible(text_is("Join the Dagster community")),
                      message="the community dialog stayed open after Skip")
        # Skip is remembered by the server, not only by this browser profile (the UI's mutation lands a moment
        # after the dialog closes, so the server is asked until it says so).
        page.wait(lambda _: ui.graphql("{ shouldShowNux }")["shouldShowNux"] is False,
                  message="the server still shows the community dialog after Skip")
    return True


def test_asset_graph_shows_the_groups_and_the_camera_assets(ui, page, community_dialog_dismissed):
    with page.shot_on_failure("graph"):
        page.open("/asset-groups")
        # The global lineage: one collapsed node per group of the code location.
        for group in ("cameras", "traffic", "incidents", "cases", "standards", "rules"):
            page.wait_visible(f"//*[name()='foreignObject']//*[normalize-space()={group!r}]")
        page.shot("01-global-lineage")

        page.open(f"/locations/{LOCATION}/asset-groups/cameras")
        node = "//*[name()='foreignObject'][.//*[normalize-space()={!r}]]"
        for label in ("video_platform_catalog_csv", "video_platform_catalog_json", "community_cameras_xlsx",
                      "gb28181_device_status", "device_status", "snapshot_diagnosis", "camera_state"):
            page.wait_visible(node.format(label))
        # silver/camera and quarantine/camera are both labelled "camera". (The group is now large enough that the
        # graph opens zoomed out, without the nodes' check lines: their status is checked on the checks tab below.)
        page.wait(lambda _: len(page.visible(node.format("camera"))) == 2, message="two `camera` nodes expected")
        page.shot("02-cameras-group-graph")


@pytest.fixture(scope="module")
def ui_launched_run(ui, page, community_dialog_dismissed):
    """silver/camera materialised with the asset page's Materialize button; returns the run the UI launched
    (its id read from the UI's "Launched run … View" toast) once the run page says it finished."""
    before = {r["runId"] for r in ui.graphql(RUNS_QUERY)["runsOrError"]["results"]}
    with page.shot_on_failure("materialize"):
        page.open("/assets/silver/camera")
        page.wait_visible(text_is("Latest materialization"))
        page.shot("03-asset-silver-camera")
        clicked_at = time.time()
        page.click("//button[normalize-space()='Materialize']")
        # ingest_camera is one multi-asset that cannot be subset: the UI asks to confirm its sibling assets.
        confirm = "//button[normalize-space()='Confirm']"
        toast = "//a[normalize-space()='View'][contains(@href, '/runs/')]"
        page.wait(lambda _: page.visible(confirm) or page.visible(toast), message="neither a confirmation nor a launch")
        if page.visible(confirm):
            page.shot("04-confirm-siblings")
            page.click(confirm)
        link = page.wait_visible(toast)
        page.shot("05-launched-toast")
        run_id = link.get_attribute("href").rsplit("/runs/", 1)[1].split("?")[0]

        page.open(f"/runs/{run_id}")
        finished = [text_is(s) for s in ("Success", "Failure", "Canceled")]
        page.wait(lambda _: any(page.visible(x) for x in finished), RUN_TIMEOUT,
                  f"run {run_id} did not finish within {RUN_TIMEOUT} s")
        page.shot("06-run-page")
        shown = next(s for s, x in zip(("Success", "Failure", "Canceled"), finished) if page.visible(x))
    return {"run_id": run_id, "shown": shown, "clicked_at": clicked_at, "before": before}


def test_materialisation_launched_from_the_ui_succeeds(ui, page, ui_launched_run):
    run_id = ui_launched_run["run_id"]
    assert ui_launched_run["shown"] == "Success", f"the run page shows {ui_launched_run['shown']} (see 06-run-page.png)"
    runs = {r["runId"]: r for r in ui.graphql(RUNS_QUERY)["runsOrError"]["results"]}
    assert run_id in runs and run_id not in ui_launched_run["before"], "the toast names a run that existed before"
    run = runs[run_id]
    assert run["status"] == "SUCCESS"
    assert run["creationTime"] >= ui_launched_run["clicked_at"] - 1
    assert {"key": "dagster/from_ui", "value": "true"} in run["tags"]
    assert {"/".join(a["path"]) for a in run["assetSelection"]} == {
        "silver/camera", "quarantine/camera", "bronze/video_platform_catalog_csv",
        "bronze/video_platform_catalog_json", "bronze/community_cameras_xlsx"}
    # The click launched exactly one run, and nothing else launched one meanwhile (sensors are off by default).
    assert set(runs) - ui_launched_run["before"] == {run_id}


def test_checks_tab_shows_reconciliation_passed_by_the_ui_run(ui, page, ui_launched_run):
    run_id = ui_launched_run["run_id"]
    with page.shot_on_failure("checks"):
        page.open("/assets/silver/camera?view=checks")
        for check in ("reconciliation", "conformance"):
            page.wait_visible(text_is(check))
        # The list of checks gives each one's latest status.
        page.wait_visible("//span[.//*[@title='reconciliation']][contains(normalize-space(), 'Succeeded')]")
        page.shot("07-checks-tab")
        page.click(text_is("reconciliation"))
        page.wait(lambda _: "checkDetail=reconciliation" in page.driver.current_url,
                  message="the reconciliation check did not open")
        # The detail panel: the latest execution passed, and it is the one of the run launched from the UI.
        latest = "//*[normalize-space()='Latest execution']"
        page.wait_visible(latest)
        page.wait_visible(f"//a[contains(@href, '/runs/{run_id}')]")
        result = page.wait_visible("//*[normalize-space()='Evaluation result']/following-sibling::*[1]")
        page.wait_visible(text_is("batches_checked"))
        page.shot("08-reconciliation-detail")
        assert result.text.strip() == "Passed", f"reconciliation shows {result.text!r}"
