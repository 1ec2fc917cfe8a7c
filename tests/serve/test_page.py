"""The page's header as a person reads it: what the model is ("Image classifier · 3 classes")
and its file, not the internal builder names; the classes listed before the first prediction;
times with a unit. /info carries the words; a headless Chromium shows them (when installed)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from fastlearn.core.export import load_learner
from fastlearn.serve import create_app
from fastlearn.serve.app import model_title

from .helpers import solid_png, write_model
from .test_browser import browser, open_page, screenshot  # noqa: F401 (fixtures)


@pytest.mark.parametrize(
    "kind, title",
    [
        ("image", "Image classifier · 3 classes"),
        ("text", "Text classifier · 2 classes"),
        ("tabular", "Tabular classifier · 2 classes"),
        ("collab", "Recommender · predicts ratings"),
        ("tensor", "Tensor classifier · 2 classes"),
    ],
)
def test_info_says_what_the_model_is_and_its_file(model_files, kind, title):
    info = TestClient(create_app(model_files[kind])).get("/info").json()
    assert info["title"] == title and info["file"] == f"{kind}.fl"
    assert info["architecture"] is None  # the test models name none


def test_a_loaded_predictor_has_no_file_name(model_files):
    info = TestClient(create_app(load_learner(model_files["image"]))).get("/info").json()
    assert info["file"] is None and info["title"] == "Image classifier · 3 classes"


@pytest.mark.parametrize(
    "config, kind, title",
    [
        ({"task": "regression", "vocab": None}, "image", "Image regression"),
        ({"vocab": None}, "tabular", "Tabular regression"),
        (
            {"task": "multi_label", "vocab": ["a", "b"]},
            "image",
            "Multi-label image classifier · 2 classes",
        ),
        (
            {"activation": "sigmoid", "vocab": ["a"]},
            "text",
            "Multi-label text classifier · 1 class",
        ),
        (
            {"task": "segmentation", "vocab": ["sky", "road", "car"]},
            "image",
            "Image segmentation · 3 classes",
        ),
        ({"task": "language_model", "vocab": None}, "text", "Language model"),
        ({"vocab": ["no", "yes"]}, "text_pair", "Text pair classifier · 2 classes"),
    ],
)
def test_model_titles(config, kind, title):
    assert model_title(config, {"kind": kind}) == title


def test_the_page_header_classes_and_timing_in_a_browser(open_page, tmp_path):  # noqa: F811
    page = open_page("image")
    assert page.inner_text("#title") == "Image classifier · 3 classes"
    assert page.title() == "Image classifier · 3 classes - image.fl"
    assert page.inner_text("#subtitle").startswith("image.fl")
    assert "serve_test" not in page.inner_text("header")  # no internal builder names
    chips = page.locator("#class-list li")  # before any prediction
    assert [chips.nth(i).inner_text() for i in range(chips.count())] == ["red", "green", "blue"]
    assert page.is_visible("#classes")
    image = tmp_path / "red.png"
    image.write_bytes(solid_png((220, 20, 30), (64, 48)))
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    timing = page.inner_text("#timing")
    assert re.fullmatch(r"predicted in \d+(\.\d{1,2})? ms", timing), timing
    assert page.locator("#class-list li.hit").all_inner_texts() == ["red"]
    screenshot(page, tmp_path, "page_header.png")


def test_a_slow_model_shows_whole_milliseconds(browser, tmp_path):  # noqa: F811
    from .helpers import serve_in_thread

    app = create_app(write_model("text", tmp_path / "slow.fl", delay=0.05))
    with serve_in_thread(app) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        page.fill("#text", "great film")
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])", timeout=15_000)
        timing = page.inner_text("#timing")
        page.close()
    ms = re.fullmatch(r"predicted in (\d+) ms", timing)
    assert ms and 40 <= int(ms.group(1)) < 1000, timing
