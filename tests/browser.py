"""Headless Chromium for the browser tests (the Dagster UI, the command board): Debian's `chromium` and
`chromium-driver` (`make system-deps` installs them) driven by selenium, with explicit waits and named screenshots
written to the test's temporary folder (the path is printed; `pytest -s` shows it)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Pages answer in seconds once up, but the machine has two shared cores: waits are generous, never sleeps.
PAGE_TIMEOUT = 90


def webdriver_modules():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run `make system-deps` (as root it installs the Debian "
                    f"packages chromium and chromium-driver)", pytrace=False)
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("selenium missing: it is in the test extra, `pip install -e '.[test]'` (or `make test`)",
                    pytrace=False)
    return webdriver


class Page:
    """A thin layer over selenium: explicit waits that tolerate React re-rendering, and named screenshots."""

    def __init__(self, driver, base_url: str, shots: Path):
        from selenium.webdriver.support.ui import WebDriverWait
        self.driver, self.url, self.shots = driver, base_url, shots
        self._wait = WebDriverWait

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    def wait(self, condition, timeout: float = PAGE_TIMEOUT, message: str = ""):
        from selenium.common.exceptions import StaleElementReferenceException
        return self._wait(self.driver, timeout, poll_frequency=0.5,
                          ignored_exceptions=(StaleElementReferenceException,)).until(condition, message)

    def visible(self, xpath: str):
        from selenium.webdriver.common.by import By
        return [e for e in self.driver.find_elements(By.XPATH, xpath) if e.is_displayed()]

    def wait_visible(self, xpath: str, timeout: float = PAGE_TIMEOUT):
        return self.wait(lambda _: self.visible(xpath) or False, timeout, f"nothing visible matches {xpath}")[0]

    def click(self, xpath: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Click the first visible, enabled match; retry while the page re-renders or an overlay is in the way."""
        from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException

        def attempt(_):
            try:
                for element in self.visible(xpath):
                    if element.is_enabled():
                        element.click()
                        return True
            except (ElementClickInterceptedException, StaleElementReferenceException):
                pass
            return False
        self.wait(attempt, timeout, f"could not click {xpath}")

    def text(self) -> str:
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.TAG_NAME, "body").text

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    @contextlib.contextmanager
    def shot_on_failure(self, name: str):
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                print(f"failure screenshot: {self.shot(f'FAILED-{name}')}")
            raise


def text_is(value: str) -> str:
    return f"//*[normalize-space()={value!r}]"


@contextlib.contextmanager
def chromium_page(base_url: str, shots: Path) -> Iterator[Page]:
    """A headless Chromium on `base_url`, quit on exit."""
    webdriver = webdriver_modules()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    print(f"\nscreenshots: {shots}")
    try:
        yield Page(driver, base_url, shots)
    finally:
        driver.quit()
