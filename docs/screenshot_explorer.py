"""Take the README's screenshot of the retrieval explorer in JupyterLab.

Starts JupyterLab on ``notebooks/explore.py`` for a study folder (as ``rsdml explore FOLDER --open``
does, without a token, on 127.0.0.1 only), opens the notebook in a headless Chromium, runs every
cell, picks a query with the widgets, and saves the window as ``docs/explore_jupyterlab.png``.

    pip install playwright            # the browser driver (not an rsdml dependency)
    python docs/screenshot_explorer.py runs/ucmerced --browser /usr/bin/chromium

``--browser`` is any Chromium or Chrome binary (``apt install chromium``); without it playwright
uses the browser that ``playwright install chromium`` downloads.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/explore.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float) -> None:
    """Poll ``url`` until it answers, or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"JupyterLab did not answer on {url} within {seconds:.0f} s")


def start_lab(folder: Path, port: int) -> subprocess.Popen:
    """JupyterLab in the repository, the explorer's folder in $RSDML_EXPLORE, no token."""
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # a container's root: lab refuses otherwise
        command.append("--allow-root")
    environment = {**os.environ, "RSDML_EXPLORE": str(folder.resolve())}
    return subprocess.Popen(
        command, cwd=REPOSITORY, env=environment, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def screenshot(port: int, output: Path, browser: str | None, query_class: str | None) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=browser, headless=True)
        page = chromium.new_page(viewport={"width": 1500, "height": 1050}, device_scale_factor=1)
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        # a fresh kernel, then every cell: the widgets appear once the explorer cell has run
        page.wait_for_timeout(5_000)  # the kernel connects
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
        dropdowns = ".jp-OutputArea .widget-dropdown select"
        page.wait_for_selector(dropdowns, state="attached", timeout=600_000)
        if query_class is not None:  # the first dropdown of the explorer picks the query's class
            page.locator(dropdowns).first.select_option(query_class)
        page.wait_for_timeout(5_000)  # the galleries redraw
        # the widgets near the top of the window, a gallery below (cells off screen are not drawn)
        page.locator(dropdowns).first.scroll_into_view_if_needed()
        page.mouse.move(800, 500)
        page.mouse.wheel(0, 380)
        page.wait_for_timeout(1_500)
        page.screenshot(path=str(output))
        chromium.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a study folder (or one run's folder)")
    parser.add_argument("--browser", help="a Chromium binary (default: playwright's own)")
    parser.add_argument("--query-class", help="choose this class in the query dropdown")
    parser.add_argument(
        "--output", type=Path, default=REPOSITORY / "docs" / "explore_jupyterlab.png"
    )
    args = parser.parse_args()
    port = free_port()
    lab = start_lab(args.folder, port)
    try:
        wait_for(f"http://127.0.0.1:{port}/lab", 120)
        screenshot(port, args.output, args.browser, args.query_class)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
