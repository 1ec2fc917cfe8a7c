"""fastlearn.vision.widgets: the chapter-2 names; widgets explain what to use instead, and
ImageClassifierCleaner ranks the images by loss in a table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from fastlearn import set_seed  # noqa: E402
from fastlearn.vision.augment import Resize  # noqa: E402
from fastlearn.vision.data import ImageDataLoaders  # noqa: E402
from fastlearn.vision.image import get_image_files  # noqa: E402
from fastlearn.vision.learner import VisionLearner  # noqa: E402
from fastlearn.vision.widgets import *  # noqa: E402, F403
from fastlearn.vision.widgets import (  # noqa: E402
    ImageClassifierCleaner,
    VBox,
    WidgetsUnavailableError,
    widgets,
)

from .test_interpret import tiny_cnn  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    "call",
    [
        lambda: widgets.FileUpload(),
        lambda: widgets.Button(description="Classify"),
        lambda: widgets.Output(),
        lambda: VBox([]),
    ],
)
def test_widgets_say_what_to_use_instead(call):
    with pytest.raises(WidgetsUnavailableError) as info:
        call()
    message = str(info.value)
    assert "no notebook widgets" in message
    assert "fastlearn serve model.fl" in message and "PILImage.create" in message
    assert "ImageClassifierCleaner(learn)" in message


@pytest.fixture
def learn(tmp_path):
    rng = np.random.default_rng(0)
    for breed in ("grizzly", "black", "teddy"):
        for i in range(5):
            arr = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / f"{breed}_{i}.png")
    dls = ImageDataLoaders.from_name_re(
        tmp_path,
        get_image_files(tmp_path),
        r"^(.+)_\d",
        seed=0,
        item_tfms=Resize(8),
        bs=4,
        num_workers=0,
        device="cpu",
    )
    set_seed(0)
    return VisionLearner(dls, tiny_cnn(), show_progress=False)


def test_cleaner_ranks_every_image_by_loss(learn):
    cleaner = ImageClassifierCleaner(learn)
    frame = cleaner.frame
    assert list(frame.columns) == ["path", "split", "label", "predicted", "loss", "probability"]
    assert len(cleaner) == 15 and set(frame["split"]) == {"train", "valid"}
    assert frame["loss"].is_monotonic_decreasing
    assert cleaner.fns[0].name == frame["path"][0].rsplit("/", 1)[-1]
    # each row's loss is the cross entropy of the model on that file, checked by hand
    dls = learn.dls
    for _, row in frame.head(3).iterrows():
        x = dls.test_dl([row["path"]]).one_batch()[0]
        learn.model.eval()
        with torch.no_grad():
            logits = learn.model(x)
        target = torch.tensor([dls.vocab.index(row["label"])])
        assert abs(float(nn.functional.cross_entropy(logits, target)) - row["loss"]) < 1e-4
        assert row["label"] == row["path"].rsplit("/", 1)[-1].split("_")[0]
        assert row["predicted"] == dls.vocab[int(logits.argmax())]
    assert "grizzly" in repr(cleaner) or "black" in repr(cleaner)


def test_cleaner_marks_rows_for_the_courses_loops(learn):
    cleaner = ImageClassifierCleaner(learn, max_n=6)
    assert len(cleaner) == 6 and cleaner.delete() == [] and cleaner.change() == []
    cleaner.mark_delete(4, 0).mark_change(2, "teddy")
    assert cleaner.delete() == [0, 4] and cleaner.change() == [(2, "teddy")]
    with pytest.raises(IndexError, match="0..5"):
        cleaner.mark_delete(6)
    with pytest.raises(ValueError, match="Expected one of the classes"):
        cleaner.mark_change(1, "panda")


def test_cleaner_plot_titles_rows(learn):
    cleaner = ImageClassifierCleaner(learn)
    fig = cleaner.plot(4, split="valid", nrows=1)
    valid = cleaner.frame[cleaner.frame["split"] == "valid"].head(4)
    assert len(fig.axes) == len(valid)
    first = valid.iloc[0]
    assert fig.axes[0].get_title() == (
        f"#{valid.index[0]} {first.label}/{first.predicted}\n{first.loss:.2f}"
    )
    with pytest.raises(ValueError, match="No image"):
        cleaner.plot(label="panda")
