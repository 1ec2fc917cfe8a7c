"""A detector served: `fastlearn predict` prints boxes, POST /predict answers them as JSON,
and the page draws them over the uploaded image (headless Chromium, as tests/serve)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastlearn.answers import MIN_BOX_SCORE
from fastlearn.cli import main
from fastlearn.serve import create_app

from ...serve.helpers import serve_in_thread
from ...serve.test_browser import browser  # noqa: F401 (the headless Chromium fixture)


@pytest.fixture(scope="module")
def model_file(trained, tmp_path_factory):
    learn, items = trained
    return learn.export(tmp_path_factory.mktemp("served") / "det.fl"), items


def boxed_item(items):
    return next((p, b, lab) for p, b, lab in items if len(b) == 2)


def test_cli_predict_prints_boxes(model_file, capsys):
    path, items = model_file
    image, boxes, labels = boxed_item(items)
    assert main(["predict", str(path), image]) == 0
    out = capsys.readouterr().out
    assert "boxes: label score (x0, y0, x1, y1)" in out and "2 boxes" in out
    for label in labels:
        assert label in out
    assert main(["predict", str(path), image, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert sorted(b["label"] for b in answer["boxes"]) == sorted(labels)
    assert all(b["score"] >= MIN_BOX_SCORE and len(b["box"]) == 4 for b in answer["boxes"])


def test_post_predict_answers_boxes_in_pixels(model_file):
    from starlette.testclient import TestClient

    path, items = model_file
    image, boxes, labels = boxed_item(items)
    with TestClient(create_app(path)) as client:
        info = client.get("/info").json()
        assert info["title"].startswith("Object detector · ") and info["task"] == "detection"
        answer = client.post(
            "/predict", files={"file": ("img.png", Path(image).read_bytes(), "image/png")}
        ).json()
    got = sorted((b["label"], b["box"]) for b in answer["boxes"])
    want = sorted(zip(labels, boxes))
    assert [g[0] for g in got] == [w[0] for w in want]
    for (_, g), (_, w) in zip(got, want):
        assert max(abs(a - b) for a, b in zip(g, w)) < 6  # pixels of the 88 x 72 upload


@pytest.fixture
def detector_page(model_file, browser):  # noqa: F811
    """The served detector's page, ready; fails on any console error."""
    errors = []
    with serve_in_thread(create_app(model_file[0])) as url:
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        yield page
        page.close()
    assert errors == [], errors


def test_page_draws_the_boxes(model_file, detector_page, tmp_path):
    path, items = model_file
    image, boxes, labels = boxed_item(items)
    page = detector_page
    assert page.inner_text("#title").startswith("Object detector")
    assert "#na#" not in page.inner_text("#class-list")
    page.set_input_files("#file", image)
    page.wait_for_selector("canvas#boxes", timeout=15_000)
    # a small image is drawn enlarged (88 x 72 pixels: 5x would pass 480, so 4x)
    size = page.eval_on_selector("canvas#boxes", "c => [c.width, c.height, +c.dataset.scale]")
    assert size == [88 * 4, 72 * 4, 4]
    # Around the true box's left edge, half-way down (canvas pixels, a window of 4 image
    # pixels either side for the model's error), the canvas differs from the enlarged image.
    x, y = round(boxes[0][0] * 4) - 16, round((boxes[0][1] + boxes[0][3]) * 2) - 2
    drawn = page.eval_on_selector(
        "canvas#boxes", f"c => Array.from(c.getContext('2d').getImageData({x}, {y}, 32, 4).data)"
    )
    plain = page.evaluate(
        """([src, x, y]) => new Promise(done => {
        const img = new Image(); img.onload = () => { const c = document.createElement('canvas');
        c.width = img.width * 4; c.height = img.height * 4; const g = c.getContext('2d');
        g.drawImage(img, 0, 0, c.width, c.height);
        done(Array.from(g.getImageData(x, y, 32, 4).data)); };
        img.src = src; })""",
        [page.eval_on_selector("#preview", "i => i.src"), x, y],
    )
    changed = sum(abs(a - b) > 40 for a, b in zip(drawn, plain))
    assert changed >= 8, changed  # a line of the box's colour crosses the window
    page.screenshot(path=str(tmp_path / "detection_page.png"), full_page=True)
    assert sorted(
        page.locator("#label").inner_text().replace('"', "").strip("[]").split(",")
    ) == sorted(labels)
