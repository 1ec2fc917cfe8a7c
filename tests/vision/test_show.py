"""Figures of batches, results and interpretation: the course's nrows / ncols / max_n / figsize /
dpi / unique arguments, titles and colours, checked on the returned matplotlib figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from fastlearn import set_seed  # noqa: E402
from fastlearn.core.data import DataLoader  # noqa: E402
from fastlearn.vision.augment import Resize, aug_transforms  # noqa: E402
from fastlearn.vision.data import ImageDataLoaders  # noqa: E402
from fastlearn.vision.image import get_image_files  # noqa: E402
from fastlearn.vision.interpret import ClassificationInterpretation  # noqa: E402
from fastlearn.vision.show import grid_shape, show_image, show_images  # noqa: E402

from .test_interpret import learner  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def pets(tmp_path):
    """12 small images of 3 breeds, names 'Bengal_0.png' ..."""
    rng = np.random.default_rng(0)
    for breed in ("Bengal", "beagle", "pug"):
        for i in range(4):
            arr = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / f"{breed}_{i}.png")
    return tmp_path


def image_dls(root, **kwargs):
    set_seed(0)
    return ImageDataLoaders.from_name_re(
        root,
        get_image_files(root),
        r"^(.+)_\d",
        seed=0,
        item_tfms=Resize(16),
        bs=8,
        num_workers=0,
        device="cpu",
        **kwargs,
    )


def rows_and_cols(fig):
    """(number of distinct rows, number of distinct columns) of the figure's axes."""
    boxes = [ax.get_position() for ax in fig.axes]
    return len({round(b.y0, 3) for b in boxes}), len({round(b.x0, 3) for b in boxes})


def shown(ax):
    return np.asarray(ax.images[0].get_array())


# ---------------------------------------------------------------------------- the grid
@pytest.mark.parametrize(
    "n, nrows, ncols, expected",
    [
        (9, None, None, (3, 3)),  # fastai: near-square
        (4, None, None, (2, 2)),
        (8, None, None, (2, 4)),
        (4, 1, None, (1, 4)),  # dls.valid.show_batch(max_n=4, nrows=1)
        (9, 1, 3, (1, 3)),  # dls.show_batch(nrows=1, ncols=3)
        (8, 2, None, (2, 4)),  # show_batch(max_n=8, nrows=2, unique=True)
        (5, None, 2, (3, 2)),
        (1, None, None, (1, 1)),
    ],
)
def test_grid_shape_follows_fastai(n, nrows, ncols, expected):
    assert grid_shape(n, nrows, ncols) == expected


def test_grid_refuses_zero_rows():
    with pytest.raises(ValueError, match="nrows >= 1"):
        grid_shape(4, nrows=0)


def test_show_images_shows_min_of_max_n_and_the_grid():
    x = torch.rand(9, 3, 8, 8)
    titles = [f"t{i}" for i in range(9)]
    fig = show_images(x, titles, nrows=1, ncols=3)
    assert len(fig.axes) == 3 and rows_and_cols(fig) == (1, 3)
    assert [ax.get_title() for ax in fig.axes] == ["t0", "t1", "t2"]
    assert tuple(fig.get_size_inches()) == (9, 3)  # 3 inches a cell by default
    fig = show_images(x, titles, max_n=5, figsize=(4, 5), dpi=50)
    assert len(fig.axes) == 5 and rows_and_cols(fig) == (2, 3)
    assert tuple(fig.get_size_inches()) == (4, 5) and fig.dpi == 50
    with pytest.raises(ValueError, match="at least one image"):
        show_images(x[:0])


# ---------------------------------------------------------------------------- show_batch
def test_show_batch_takes_the_course_arguments(pets):
    dls = image_dls(pets)
    fig = dls.show_batch(nrows=1, ncols=3)
    assert len(fig.axes) == 3 and rows_and_cols(fig) == (1, 3)
    assert all(ax.get_title() in dls.vocab for ax in fig.axes)
    fig = dls.show_batch(dl=dls.valid, max_n=4, nrows=1, figsize=(8, 2), dpi=40)
    assert len(fig.axes) == min(4, len(dls.valid.dataset)) and rows_and_cols(fig)[0] == 1
    assert tuple(fig.get_size_inches()) == (8, 2) and fig.dpi == 40


def test_show_batch_unique_repeats_one_image_augmented(pets):
    dls = image_dls(pets, batch_tfms=aug_transforms(max_rotate=30, p_affine=1.0))
    set_seed(1)
    fig = dls.show_batch(dl=dls.train, max_n=8, nrows=2, unique=True)
    assert len(fig.axes) == 8 and rows_and_cols(fig) == (2, 4)
    title = fig.axes[0].get_title()
    assert all(ax.get_title() == title for ax in fig.axes)  # one item, so one label
    images = [shown(ax) for ax in fig.axes]
    assert any(not np.allclose(images[0], im) for im in images[1:])  # augmented differently
    fig = dls.show_batch(dl=dls.valid, max_n=3, unique=True)  # no augmentation: identical
    first = dls.valid.dataset[0][0].permute(1, 2, 0).float().numpy() / 255
    assert all(np.allclose(shown(ax), first, atol=1e-6) for ax in fig.axes)


@pytest.mark.skipif(
    not hasattr(DataLoader, "show_batch"),
    reason="needs the core DataLoader.show_batch hook (core/data.py)",
)
def test_a_single_loader_shows_its_batch(pets):
    dls = image_dls(pets)
    fig = dls.train.show_batch(max_n=8, nrows=2, unique=True)
    assert len(fig.axes) == 8 and rows_and_cols(fig) == (2, 4)
    fig = dls.valid.show_batch(max_n=4, nrows=1)
    assert rows_and_cols(fig)[0] == 1


# ---------------------------------------------------------------------------- results
def test_show_results_titles_actual_predicted_green_or_red():
    learn = learner()
    fig = learn.show_results(max_n=6, figsize=(7, 8))
    assert len(fig.axes) == 6 and tuple(fig.get_size_inches()) == (7, 8)
    x, y = learn.dls.valid.one_batch()
    learn.model.eval()
    with torch.no_grad():
        pred = learn.model(x).argmax(1)
    vocab = learn.dls.vocab
    for ax, a, p in zip(fig.axes, y.tolist(), pred.tolist()):
        assert ax.get_title() == f"{vocab[a]}/{vocab[p]}"
        assert ax.title.get_color() == ("green" if a == p else "red")


def test_plot_top_losses_and_confusion_matrix_take_figure_arguments():
    learn = learner()
    interp = ClassificationInterpretation.from_learner(learn)
    fig = interp.plot_top_losses(5, nrows=1)
    assert len(fig.axes) == 5 and rows_and_cols(fig) == (1, 5)
    fig = interp.plot_confusion_matrix(figsize=(12, 12), dpi=60)
    assert tuple(fig.get_size_inches()) == (12, 12) and fig.dpi == 60
    ax = fig.axes[0]
    assert ax.get_title() == "Confusion matrix"
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "Actual"
    cm = interp.confusion_matrix()
    assert [t.get_text() for t in ax.texts] == [str(int(v)) for v in cm.flatten()]
    fig = interp.plot_confusion_matrix(normalize=True, norm_dec=3, title="rates")
    rates = cm.float() / cm.sum(1, keepdim=True).clamp(min=1)
    assert fig.axes[0].get_title() == "rates"
    assert [t.get_text() for t in fig.axes[0].texts] == [f"{v:.3f}" for v in rates.flatten()]
    assert not interp.plot_confusion_matrix(plot_txt=False).axes[0].texts


# ---------------------------------------------------------------------------- one image
def test_show_image_accepts_tensors_arrays_and_pillow_images():
    chw = torch.rand(3, 10, 12)
    ax = show_image(chw, title="rgb")
    assert ax.get_title() == "rgb" and shown(ax).shape == (10, 12, 3)
    assert np.allclose(shown(ax), chw.permute(1, 2, 0).numpy())
    ax = show_image(torch.rand(10, 12))
    assert shown(ax).shape == (10, 12) and ax.images[0].get_cmap().name == "Greys"
    arr = np.zeros((5, 6, 3), dtype=np.uint8)
    fig, (a1, a2) = plt.subplots(1, 2)
    assert show_image(arr, ax=a1) is a1 and shown(a1).shape == (5, 6, 3)
    assert show_image(Image.fromarray(arr), ctx=a2, cmap="gray") is a2
    with pytest.raises(ValueError, match="Expected an image"):
        show_image(torch.rand(2, 3, 4, 5))
