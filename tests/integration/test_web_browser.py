"""The analyst page in a real headless browser (Debian's chromium + chromedriver, driven by selenium): a full
lookalike query from a campaign item and from pasted seed ids, then a read-only Cypher query and a refused
write, checking what the page shows."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from served_graph import STARBUCKS, Served
from werkzeug.serving import make_server

from mokg.apikeys import create_key
from mokg.apps.web.app import create_app
from mokg.graph import Graph

pytestmark = pytest.mark.integration
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # a missing tool is a failure with the fix in it, never a silent skip
    pytest.fail("selenium is not installed: pip install selenium", pytrace=False)


@pytest.fixture(scope="module")
def base_url(served: Served) -> Iterator[str]:
    app = create_app(served.settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["mokg"].close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("needs Debian's browser: apt-get install -y chromium chromium-driver", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1400,1600",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    with Graph(served.settings) as g:
        return create_key(g, ["lookup", "analyst"], name="browser").token


def _wait(browser: webdriver.Chrome, condition: object, timeout: float = 30) -> object:
    return WebDriverWait(browser, timeout).until(condition)


def test_lookalike_and_cypher_in_the_page(
    browser: webdriver.Chrome, base_url: str, token: str, served: Served, tmp_path: Path
) -> None:
    browser.get(base_url + "/")
    key = browser.find_element(By.ID, "api-key")
    key.send_keys(token)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)

    # a campaign item: its 94 buyers are the seeds
    browser.find_element(By.ID, "seed-mode-item").click()
    browser.find_element(By.ID, "seed-item").send_keys(STARBUCKS)
    k = browser.find_element(By.ID, "k")
    k.clear()
    k.send_keys("15")
    Select(browser.find_element(By.ID, "method")).select_by_value("max_seed")
    browser.find_element(By.ID, "run-lookalike").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "stats"), "15 users from 94/94 seeds"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#audience-table tbody tr")
    assert len(rows) == 15
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert [c[0] for c in cells] == [str(i) for i in range(1, 16)]
    buyers = {u for u, items in served.items_of.items() if STARBUCKS in items}
    assert not {c[1] for c in cells} & buyers
    scores = [float(c[2]) for c in cells]
    assert scores == sorted(scores, reverse=True)
    assert all("items:" in c[3] and "Gift Cards > Gift Cards" in c[3] for c in cells)
    bars = browser.find_elements(By.CSS_SELECTOR, "#score-chart rect")
    assert sum(int(b.get_attribute("data-count")) for b in bars) == 15
    assert browser.find_elements(By.CSS_SELECTOR, "#category-chart rect.bar-seeds")
    assert browser.find_elements(By.CSS_SELECTOR, "#category-chart rect.bar-audience")
    browser.save_screenshot(str(tmp_path / "lookalike.png"))

    # pasted seed ids, one of them unknown: reported on the page
    browser.find_element(By.ID, "seed-mode-ids").click()
    browser.find_element(By.ID, "seed-ids").send_keys(
        f"{served.user_ids[3]}\n{served.user_ids[9]}, NO-SUCH-USER"
    )
    k.clear()
    k.send_keys("5")
    browser.find_element(By.ID, "run-lookalike").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "stats"), "unknown seeds: NO-SUCH-USER"))
    assert "5 users from 2/3 seeds" in browser.find_element(By.ID, "stats").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#audience-table tbody tr")) == 5

    # read-only Cypher: a result table
    box = browser.find_element(By.ID, "cypher-query")
    box.clear()
    box.send_keys(
        f"MATCH (i:Item {{asin: '{STARBUCKS}'}})<-[:REVIEWED]-(u) RETURN i.title AS title, count(u) AS buyers"
    )
    browser.find_element(By.ID, "run-cypher").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "cypher-info"), "1 rows"))
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#cypher-table thead th")]
    assert heads == ["title", "buyers"]
    assert [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#cypher-table tbody td")] == [
        "Starbucks Gift Card",
        "94",
    ]
    # and a write, refused with the clause named
    box.clear()
    box.send_keys("MATCH (u:User) SET u.x = 1")
    browser.find_element(By.ID, "run-cypher").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "cypher-error"), "403"))
    assert "SET" in browser.find_element(By.ID, "cypher-error").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#cypher-table tbody tr")
    browser.save_screenshot(str(tmp_path / "cypher.png"))
