"""`safecity board` in a real headless Chromium: the real incident_escalation policy escalates an incident to
level III, its actions are written to ops.outbox the way the streaming worker writes them, and the open page shows
the incident at Ⅲ级 / Level III and the escalation among the latest actions, without a reload.

Needs Debian's `chromium` and `chromium-driver` (tests/browser.py). Screenshots go to the test's temporary folder.
"""
from __future__ import annotations

import time

import pytest

from benchmarks.board import running_board
from safecity.lakehouse.catalog import open_catalog
from tests.browser import chromium_page, webdriver_modules
from tests.service.board_support import ESCALATION, assessed, fire, reported, write_outbox

pytestmark = [pytest.mark.integration]

BOUND_MS = 5000  # generous on two shared cores; benchmarks/board.py reports p50/p99
DAY = "2025-03-01T{}:00+08:00"
INCIDENT = "J202503010042"


def _incident_row(page) -> str:
    from selenium.webdriver.common.by import By
    rows = [r.text for r in page.driver.find_elements(By.CSS_SELECTOR, "#incidents tbody tr") if INCIDENT in r.text]
    return rows[0] if rows else ""


def _latest_text(page) -> str:
    from selenium.webdriver.common.by import By
    return page.driver.find_element(By.ID, "latest").text


def test_a_level_three_escalation_appears_on_the_open_board(settings, tmp_path):
    webdriver_modules()
    catalog = open_catalog(settings)  # the catalog exists; ops.outbox does not yet: the board waits for it
    (tmp_path / "screenshots").mkdir()
    with running_board(settings.paths.home, tmp_path / "board.log", poll=0.1) as url, \
            chromium_page(url, tmp_path / "screenshots") as page:
        page.open("/")
        with page.shot_on_failure("board"):
            page.wait(lambda _: page.driver.find_element("id", "status").text.startswith("实时"),
                      message="the page's event stream did not open")
            page.wait_visible("//*[normalize-space()='无未结警情 / no open incidents']")
            page.driver.execute_script("window.notReloaded = true")
            page.shot("01-empty-board")

            # First report with casualties: level IV.
            events = [reported(INCIDENT, DAY.format("08:00"), casualties=2)]
            first = fire(ESCALATION, events)
            write_outbox(catalog, first, "b1")
            page.wait(lambda _: "Ⅳ级" in _incident_row(page), message="the level-IV incident did not appear")

            # The assessment: 3 deaths, level III (较大), the plan and the duty leader's notification.
            events.append(assessed(INCIDENT, DAY.format("08:40"), casualties=7, deaths=3, serious=2))
            escalation = fire(ESCALATION, events)[len(first):]
            assert [r.params.get("level") for r in escalation] == ["III", None]
            write_outbox(catalog, escalation, "b2")
            committed_ms = time.time() * 1000
            page.wait(lambda _: "Ⅲ级" in _incident_row(page), message="the level-III escalation did not appear")
            page.shot("02-level-three")

            row = _incident_row(page)
            assert "Ⅲ级 较大 / Level III (Major)" in row and "Ⅳ级" not in row
            latest = _latest_text(page)
            # Newest first; the plan and its notification fired together keep the engine's order below the newer.
            assert latest.index("notify_leadership") < latest.index("activate_emergency_plan")
            assert f"警情 {INCIDENT} 达到较大（III 级），已启动 III 级应急响应" in latest
            # Same page, no reload: the flag set before the escalation is still there.
            assert page.driver.execute_script("return window.notReloaded") is True
            received = page.driver.execute_script("return window.boardReceived")
            arrived_ms = max(received[str(seq)] for seq in (2, 3))
            print(f"\nrow-to-page latency: {arrived_ms - committed_ms:.0f} ms")
            assert arrived_ms - committed_ms < BOUND_MS
