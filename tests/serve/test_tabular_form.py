"""The tabular form starts at the training mode and median, says so, and sends choices as the
model's values; a file without those statistics starts blank (missing), never at the
alphabetically first choice. The page runs in headless Chromium (skips without it)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fastlearn.inputs import input_spec
from fastlearn.serve import create_app

from .helpers import serve_in_thread, write_model

CHROMIUM = os.environ.get("FASTLEARN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A real tabular export: `work` (mode 'Private', after '?' alphabetically), `grade` (int
    categories), `age` (median 37)."""
    from fastlearn import set_seed
    from fastlearn.tabular import TabularDataLoaders, tabular_learner

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "work": rng.choice(["Private"] * 6 + ["?", "Gov"], n),
            "grade": rng.choice([1, 2, 2, 3], n),
            "age": rng.integers(20, 55, n),
        }
    )
    df.loc[:150, "age"] = 37
    df["y"] = np.where(df.age > 40, "old", "young")
    dls = TabularDataLoaders.from_df(
        df,
        cat_names=["work", "grade"],
        cont_names=["age"],
        y_names="y",
        splits=(range(n), []),
        bs=32,
        device="cpu",
    )
    set_seed(0)
    learn = tabular_learner(dls, layers=[4], show_progress=False)
    learn.fit(1, 1e-3)
    return learn.export(tmp_path_factory.mktemp("form") / "form.fl")


def test_spec_gives_defaults_with_hints(model_file):
    from fastlearn.core.export import load_learner

    fields = {f["name"]: f for f in input_spec(load_learner(model_file).info())["fields"]}
    assert fields["work"]["default"] == "Private" and fields["work"]["choices"][0] == "?"
    assert fields["work"]["hint"] == "most common: Private"
    assert fields["grade"]["choices"] == [1, 2, 3] and fields["grade"]["default"] == 2
    assert fields["age"]["default"] == 37 and fields["age"]["hint"] == "median 37"


@pytest.fixture(scope="module")
def page_of():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"No Chromium at {CHROMIUM}. Fix: apt-get install -y chromium.")
    profile = tempfile.mkdtemp(prefix="fastlearn-form-")
    with sync_api.sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, headless=True
            )
        except sync_api.Error as e:
            pytest.skip(f"Chromium could not start here: {str(e)[:300]}")
        servers = []

        def open_(path):
            server = serve_in_thread(create_app(path))
            servers.append(server)
            page = context.new_page()
            page.goto(server.__enter__() + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=15_000)
            return page

        yield open_
        for server in servers:
            server.__exit__(None, None, None)
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def test_form_starts_at_mode_and_median_and_sends_model_values(page_of, model_file):
    page = page_of(model_file)
    labels = page.locator("#fields label").all_inner_texts()
    assert labels == ["work (most common: Private)", "grade (most common: 2)", "age (median 37)"]
    assert page.input_value("#field-0") == "Private" and page.input_value("#field-1") == "2"
    assert page.input_value("#field-2") == "37"
    assert page.get_attribute("#field-2", "placeholder") == "median 37"
    with page.expect_request("**/predict") as request:
        page.click("#submit")
    assert json.loads(request.value.post_data)["row"] == {"work": "Private", "grade": 2, "age": 37}
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    assert page.inner_text("#label") in ("old", "young")


def test_form_without_defaults_starts_blank(page_of, tmp_path):
    page = page_of(write_model("tabular", tmp_path / "old.fl"))  # fields without defaults
    assert page.input_value("#field-1") == ""  # "(missing)", not the first class
    assert page.input_value("#field-0") == ""
    with page.expect_request("**/predict") as request:
        page.click("#submit")
    assert json.loads(request.value.post_data)["row"] == {
        "age": None,
        "workclass": None,
        "hours": None,
    }
