"""What a user sees in the Prefect UI, checked in Debian's headless Chromium against a real Prefect
server: the flow run's artifacts show the campaign's plots as loaded images and its tables as tables;
an MD run stopped by the stability watch is a task run in state Unstable."""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request

import pytest
from deployed import small_campaign
from real_services import service
from test_end_to_end import mlipcamp

pytestmark = pytest.mark.slow
PLOTS = {"parity", "force_decomposition", "density", "msd", "observables", "sensitivity EC"}


def api(env: dict, path: str, body: dict | None = None) -> list[dict]:
    request = urllib.request.Request(
        f"{env['PREFECT_API_URL']}/{path}",
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = service("MLIPCAMP_TEST_CHROMIUM")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp()}",
        "--window-size=1400,2000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(service("MLIPCAMP_TEST_CHROMEDRIVER")), options=options)


def wait_for(predicate, timeout: float = 30.0):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds (the UI renders asynchronously)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


IMAGES = "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"


def test_flow_run_artifacts_show_plots_and_tables(tmp_path, deployed_campaign):
    """The campaign flow run of the deployed campaign's first run (tests/deployed.py), as its page shows it."""
    from selenium.webdriver.common.by import By

    env = deployed_campaign.env
    runs = [
        r for r in api(env, "flow_runs/filter") if r["name"] == "campaign nightly" and r["state_type"] == "COMPLETED"
    ]
    flow_run = min(runs, key=lambda run: run["created"])  # the deployment's flow runs it as a subflow
    ui = env["PREFECT_API_URL"].removesuffix("/api")

    driver = browser()
    try:
        driver.get(f"{ui}/runs/flow-run/{flow_run['id']}")
        tab = wait_for(lambda: driver.find_elements(By.XPATH, "//li[normalize-space(.)='Artifacts']"))
        time.sleep(2)  # the tab bar re-renders once the run is loaded
        driver.find_element(By.XPATH, "//li[normalize-space(.)='Artifacts']").click()
        links = wait_for(
            lambda: {
                a.get_attribute("href")
                for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/artifacts/artifact/']")
            }
        )
        driver.save_screenshot(str(tmp_path / "artifacts.png"))
        listed = driver.find_element(By.TAG_NAME, "body").text
        assert tab and "nightly-report" in listed and "nightly-results" in listed and "nightly-sensitivity" in listed

        kinds = {
            a["id"]: a["type"]
            for a in api(env, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}})
        }
        images, tables = {}, []
        for link in sorted(links):
            kind = kinds.get(link.rstrip("/").rsplit("/", 1)[-1])
            if kind == "progress":
                continue
            driver.get(link)
            wait_for(lambda: "Artifact" in driver.find_element(By.TAG_NAME, "body").text)
            time.sleep(1)
            if kind == "table":  # no images to wait for
                wait_for(lambda: driver.find_elements(By.TAG_NAME, "table"), timeout=10)
                shown = []
            else:
                shown = wait_for(lambda: driver.execute_script(IMAGES) or None, timeout=10) or []
            for alt, loaded in shown:
                images[alt] = images.get(alt, True) and loaded
            tables += [t.text for t in driver.find_elements(By.TAG_NAME, "table")]
            if "parity" in {alt for alt, _ in shown}:
                driver.save_screenshot(str(tmp_path / "parity.png"))
        assert set(images) >= PLOTS, sorted(images)
        assert all(images.values()), images  # every image decoded: none broken
        assert any("declared:pbe-d3bj/dzvp-periodic-seed1" in t for t in tables), tables
    finally:
        driver.quit()


def test_md_runs_stopped_by_the_stability_watch_are_named_so(tmp_path, deployed_campaign):
    env = deployed_campaign.env  # a Prefect server already running
    unstable = small_campaign(tmp_path, deployed_campaign.files, "shaky", max_force=0.01)  # any force stops the watch
    done = mlipcamp("run", str(unstable), "--workdir", str(tmp_path / "shaky"), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [run for run in api(env, "flow_runs/filter") if run["name"] == "campaign shaky"]
    assert runs[0]["state"]["type"] == "COMPLETED" and "2 Unstable" in runs[0]["state"]["message"]
    tasks = api(env, "task_runs/filter", {"flow_runs": {"id": {"any_": [runs[0]["id"]]}}})
    simulated = [t["state"] for t in tasks if t["name"].startswith("simulate ")]
    assert [s["name"] for s in simulated] == ["Unstable", "Unstable"]
    assert all("stopped by the stability watch at step" in s["message"] for s in simulated)
