"""``make demo-ui`` as a person uses it: start it, open the pipeline's grid in a browser, press Ctrl-C.

One stack for the module: ``examples/demo_ui.py`` runs the demo's days (those are the runs the grid
must show), then the UI; headless Chromium (Debian's package, driven by Playwright) logs in with the
printed login, reads each run's state from the grid's own tooltips and saves a screenshot under
``.airflow/<line>/test-output/demo_ui/``. The last test sends Ctrl-C and checks that every process
the demo started is gone and every port it listened on is free.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_sales_provider.sandbox._process import free_port, port_is_listening
from tests.conftest import AIRFLOW_HOME, REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

# The first test waits for the demo's runs and the UI's start (READY_TIMEOUT) inside its fixture.
pytestmark = [pytest.mark.system, pytest.mark.integration, pytest.mark.timeout(900)]

DAG_ID = "daily_sales_pipeline"
EXPECTED_RUNS = 3  # the demo's three days; the rerun of day 2 re-runs that day's run, it adds none
CHROMIUM = Path(os.environ.get("SALES_CHROMIUM", "/usr/bin/chromium"))
OUTPUT_DIR = AIRFLOW_HOME / "test-output" / "demo_ui"
READY_TIMEOUT = 600  # the demo's runs plus the UI's start, on a busy 2-core machine
STOP_TIMEOUT = 60


if os.environ.get("SALES_AIRFLOW_LINE") != "af3":
    pytest.skip(
        "make demo-ui runs Airflow 3's UI from the af3 virtualenv only (the Makefile's demo line, whose "
        "Airflow home .airflow/demo holds an Airflow 3 metadata database); examples/demo_ui.py refuses "
        "Airflow 2 with a message",
        allow_module_level=True,
    )


@dataclass
class DemoUi:
    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    pids: set[int] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith("demo-ui: ready at"):
                self.ready.set()
        self.ready.set()  # the process ended: whoever waits must look at why

    def text(self) -> str:
        return "\n".join(self.output[-60:])

    def record_descendants(self) -> None:
        """Every process under the demo and every TCP port they listen on, to check after Ctrl-C."""
        import psutil

        children = psutil.Process(self.process.pid).children(recursive=True)
        self.pids = {child.pid for child in children}
        for child in children:
            try:
                self.ports |= {c.laddr.port for c in child.net_connections("tcp") if c.status == "LISTEN"}
            except psutil.Error:
                continue


@pytest.fixture(scope="module")
def demo_ui() -> Iterator[DemoUi]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    port = free_port()
    # A person's shell: none of this suite's Airflow settings, only what demo_ui.py sets itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "demo_ui.py"), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ui = DemoUi(process=process, port=port)
    reader = threading.Thread(target=ui.read_output, daemon=True)
    reader.start()
    try:
        ui.ready.wait(READY_TIMEOUT)
        assert process.poll() is None and any(line.startswith("demo-ui: ready at") for line in ui.output), (
            f"demo-ui did not become ready within {READY_TIMEOUT}s:\n{ui.text()}"
        )
        ui.record_descendants()
        yield ui
    finally:
        if process.poll() is None:  # the Ctrl-C test did not run or did not stop it: stop it all now
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:  # its children die with it (PR_SET_PDEATHSIG)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        reader.join(10)


def test_demo_ui_prints_the_url_and_the_login(demo_ui):
    assert f"demo-ui: ready at http://127.0.0.1:{demo_ui.port}/dags/{DAG_ID}" in demo_ui.text()
    assert "log in as admin / admin" in demo_ui.text()


def test_grid_shows_the_three_successful_demo_runs(demo_ui):
    from playwright.sync_api import expect, sync_playwright

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT_DIR / f"{DAG_ID}-grid.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"http://127.0.0.1:{demo_ui.port}/dags/{DAG_ID}")
            page.get_by_label(re.compile("username", re.I)).fill("admin")
            page.get_by_label(re.compile("password", re.I)).fill("admin")
            page.get_by_role("button", name=re.compile("sign in", re.I)).click()
            page.wait_for_url(re.compile(rf"/dags/{DAG_ID}$"))

            # The grid's run bars: one column per DAG run, each a link to that run.
            bars = page.locator(f"div[data-run-id] > div > span > a[href^='/dags/{DAG_ID}/runs/']")
            expect(bars).to_have_count(EXPECTED_RUNS)
            states = {}
            for index in range(EXPECTED_RUNS):
                bars.nth(index).hover()
                tooltip = page.get_by_text(re.compile(r"Run ID: ")).filter(visible=True)
                expect(tooltip).to_have_count(1)
                text = tooltip.inner_text()
                run_id = re.search(r"Run ID: (\S+)", text)
                state = re.search(r"State: (\w+)", text)
                assert run_id and state, text
                states[run_id.group(1)] = state.group(1)
                page.mouse.move(0, 0)
                expect(tooltip).to_have_count(0)
            page.mouse.move(0, 0)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert len(states) == EXPECTED_RUNS, states
    assert set(states.values()) == {"Success"}, states
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


def test_ctrl_c_stops_every_process_and_frees_every_port(demo_ui):
    import psutil

    assert demo_ui.pids, "demo-ui started no child process"
    assert demo_ui.port in demo_ui.ports, "the UI port was not among the listening ports"
    demo_ui.process.send_signal(signal.SIGINT)
    assert demo_ui.process.wait(STOP_TIMEOUT) == 0, demo_ui.text()
    assert "demo-ui: stopped" in demo_ui.text()
    alive = [
        pid for pid in demo_ui.pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert not alive, f"processes left behind: {alive}"
    busy = sorted(port for port in demo_ui.ports if port_is_listening(port))
    assert not busy, f"ports still listening: {busy}"
