"""The page in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright loads it, uploads a real PNG (file chooser, then drag-and-drop) and sees the
prediction; text, tabular and collab forms too. Screenshots go to the test's tmp folder
(and to $FASTLEARN_SCREENSHOTS when set). Skips, saying why, without Playwright or Chromium.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from fastlearn.serve import create_app

from .helpers import serve_in_thread, solid_png, write_model

CHROMIUM = os.environ.get("FASTLEARN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def browser():
    """A Chromium context with a fresh profile, shared by this module's tests."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright (python) is not installed: pip install "
        "playwright (its browser download is not needed: Debian's chromium is used)",
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"No Chromium at {CHROMIUM}. Fix: apt-get install -y chromium (Debian), "
            "or set FASTLEARN_CHROMIUM to a Chromium binary."
        )
    profile = tempfile.mkdtemp(prefix="fastlearn-chromium-")
    with sync_api.sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=ARGS,
                headless=True,
                viewport={"width": 900, "height": 900},
            )
        except sync_api.Error as e:
            pytest.skip(f"Chromium at {CHROMIUM} could not start here: {str(e)[:300]}")
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_page(browser, tmp_path):
    """open_page(kind) -> a page showing the served test model; fails on any console error."""
    servers, pages, errors = [], [], []

    def open_(kind: str):
        server = serve_in_thread(create_app(write_model(kind, tmp_path / f"{kind}.fl")))
        url = server.__enter__()
        servers.append(server)
        page = browser.new_page()
        pages.append(page)
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and not m.location.get("url", "").endswith("/predict")
                else None
            ),
        )  # 4xx on purpose
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        return page

    yield open_
    for page in pages:
        page.close()
    for server in servers:
        server.__exit__(None, None, None)
    assert errors == [], errors  # CSP violations and script errors land here


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    folder = os.environ.get("FASTLEARN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)
    assert path.stat().st_size > 5_000
    return path


def test_upload_an_image_and_see_the_prediction(open_page, tmp_path):
    page = open_page("image")
    assert page.inner_text("#title") == "Image classifier · 3 classes"
    image = tmp_path / "red.png"
    image.write_bytes(solid_png((220, 20, 30), (64, 48)))
    page.set_input_files("#file", str(image))  # choosing a file submits it
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    assert page.inner_text("#label") == "red"
    rows = page.locator("#top li")
    assert rows.count() == 3 and rows.nth(0).locator(".name").inner_text() == "red"
    width = page.eval_on_selector("#top li .fill", "e => e.getBoundingClientRect().width")
    track = page.eval_on_selector("#top li .bar", "e => e.getBoundingClientRect().width")
    assert width > 0.95 * track  # red's probability is above 0.99
    assert page.eval_on_selector("#preview", "img => img.naturalWidth") == 64
    screenshot(page, tmp_path, "image_upload.png")


def test_drag_and_drop_an_image(open_page, tmp_path):
    page = open_page("image")
    data = base64.b64encode(solid_png((0, 0, 255))).decode()
    page.evaluate(
        """data => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "blue.png", {type: "image/png"}));
        const drop = document.getElementById("drop");
        drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
        drop.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
    }""",
        data,
    )
    expect(page.locator("#label")).to_have_text("blue", timeout=15_000)
    assert "blue.png" in page.inner_text("#drop-hint")


def test_a_corrupt_image_shows_the_servers_message(open_page, tmp_path):
    page = open_page("image")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    assert "Could not read the data as an image" in page.inner_text("#error")
    good = tmp_path / "green.png"
    good.write_bytes(solid_png((0, 200, 0)))
    page.set_input_files("#file", str(good))  # the server kept serving
    expect(page.locator("#label")).to_have_text("green", timeout=15_000)
    assert page.is_hidden("#error")


def test_text_tabular_and_collab_forms(open_page, tmp_path):
    page = open_page("text")
    page.fill("#text", "I love this, great film")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    assert page.inner_text("#label") == "positive"

    page = open_page("tabular")
    assert page.locator("#fields .field").count() == 3
    page.fill("#field-0", "39")
    page.select_option("#field-1", "Gov")
    page.fill("#field-2", "60")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    assert page.inner_text("#label") in ("<50k", ">=50k")
    screenshot(page, tmp_path, "tabular_form.png")

    page = open_page("collab")
    page.fill("#user", "nobody")
    page.fill("#item", "i1")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    assert "Unknown user 'nobody'" in page.inner_text("#error")
    page.fill("#user", "u2")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    assert float(page.inner_text("#value"))  # a rating, shown as a value
