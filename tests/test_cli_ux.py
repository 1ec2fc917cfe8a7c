"""What a person sees at the command line: a quick --help/--version (no torch), one-line
errors (tracebacks only with --debug or for bugs), the datasets by name, --weights and the
offline default architecture, and predict's table keeping the end of long paths."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fastlearn.cli import build_parser, main

from .serve.helpers import solid_png, write_model


def _run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("flag", ["--version", "--help", "datasets"])
def test_version_and_help_do_not_import_torch(flag):
    code = (
        "import contextlib, io, sys\nfrom fastlearn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    try:\n        main([{flag!r}])\n    except SystemExit:\n        pass\n"
        "print(repr(out.getvalue()[:80]), 'torch' in sys.modules)"
    )
    text, torch_loaded = _run_python(code).rsplit(" ", 1)
    assert torch_loaded == "False"
    expected = {
        "--version": "fastlearn 0.1.0",
        "--help": "usage: fastlearn",
        "datasets": "Datasets",
    }
    assert expected[flag] in text


def test_the_package_still_gives_the_core_names_on_first_use():
    out = _run_python(
        "import sys, fastlearn; a = 'torch' in sys.modules; "
        "from fastlearn import Learner, accuracy; "
        "print(a, 'torch' in sys.modules, Learner.__name__, 'Learner' in "
        "fastlearn.__all__)"
    )
    assert out == "False True Learner True"


# ---------------------------------------------------------------------------- errors
@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, value in (("dark", 30), ("light", 220)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(4):
            pixels = np.clip(rng.normal(value, 10, (16, 16, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    return tmp_path / "imgs"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No cached weights, and every host unreachable."""
    from fastlearn.core import network

    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(network, "unreachable", lambda url, timeout=3.0: "offline in this test")


def test_a_failed_weights_download_is_one_line_naming_the_fixes(image_folder, offline, capsys):
    args = ["train", "images", str(image_folder), "--arch", "resnet18", "--size", "16"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "Weights (resnet18): torchvision's ImageNet weights" in captured.out  # said first
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("fastlearn train: error: Could not download")
    assert all(
        fix in err for fix in ("--weights FILE", "--arch efficientnet_lite0", "--no-pretrained")
    )
    from fastlearn.core.download import DownloadError

    with pytest.raises(DownloadError):  # --debug: the exception itself, with its traceback
        main(["--debug", *args])


def test_debug_from_the_environment_and_bugs_keep_their_traceback(monkeypatch):
    monkeypatch.setenv("FASTLEARN_DEBUG", "1")
    with pytest.raises(ValueError, match="Unknown dataset"):
        main(["datasets", "no_such_set"])
    monkeypatch.delenv("FASTLEARN_DEBUG")

    def buggy(args):
        raise TypeError("a bug")

    monkeypatch.setattr("fastlearn.cli._datasets", buggy)
    with pytest.raises(TypeError):  # not the user's fault: the traceback stays
        main(["datasets"])


def test_weights_and_no_pretrained_together_are_refused(capsys, tmp_path):
    assert main(["train", "images", str(tmp_path), "--weights", "w.pth", "--no-pretrained"]) == 1
    assert capsys.readouterr().err.strip() == (
        "fastlearn train: error: Expected --weights FILE or --no-pretrained. Received: both."
    )


# ---------------------------------------------------------------------------- train images
def test_images_default_to_the_offline_architecture(capsys):
    args = build_parser().parse_args(["train", "images", "pets"])
    assert args.arch == "efficientnet_lite0" and args.weights is None
    with pytest.raises(SystemExit):
        main(["train", "images", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default efficientnet_lite0" in help_text and "--weights FILE" in help_text
    assert "needs the internet" in help_text


def test_weights_file_is_loaded_into_the_body(image_folder):
    import torch

    from fastlearn.vision import ImageDataLoaders, Resize, vision_learner
    from fastlearn.vision.models.resnet import resnet18

    state = resnet18().state_dict()
    path = image_folder.parent / "my-resnet18.pth"
    torch.save(state, path)
    dls = ImageDataLoaders.from_folder(image_folder, valid_pct=0.25, item_tfms=Resize(16), bs=4)
    learn = vision_learner(dls, "resnet18", weights_path=path, show_progress=False)
    assert torch.equal(learn.model[0][0].weight, state["conv1.weight"])
    assert not learn.model[0][0].weight.requires_grad  # pretrained: the body starts frozen


def test_a_weights_file_for_another_arch_fails_in_one_line(image_folder, capsys):
    import torch

    path = image_folder.parent / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(2)}, path)
    assert (
        main(
            [
                "train",
                "images",
                str(image_folder),
                "--arch",
                "resnet18",
                "--weights",
                str(path),
                "--size",
                "16",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert f"Weights (resnet18): {path}" in captured.out
    err = captured.err.strip()
    assert err.startswith("fastlearn train: error:") and "\n" not in err
    assert "state_dict" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- datasets
def test_datasets_lists_names_with_notes_not_internal_tables(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path))
    (tmp_path / "data" / "mnist_tiny").mkdir(parents=True)
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for internal in ("CHECKSUMS", "MIRROR_ALIASES", "e593cc60", "https://"):
        assert internal not in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert not {"S3", "S3_IMAGE", "SAMPLE", "S3_MODEL"} & set(lines)  # URL prefixes
    assert "ML_100k" in lines and "MovieLens" in lines["ML_100k"]
    assert {"PETS", "IMDB_SAMPLE", "ADULT_SAMPLE", "WT103_FWD"} <= set(lines)
    assert lines["MNIST_TINY"].endswith("[downloaded]")
    assert not lines["PETS"].endswith("[downloaded]")


@pytest.mark.parametrize("name", ["ML_100k", "ml_100k", "ML_100K"])
def test_a_dataset_by_name_in_any_case(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path))
    (tmp_path / "data" / "ml-100k").mkdir(parents=True)  # already downloaded: no network
    assert main(["datasets", name]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "data" / "ml-100k")


def test_a_zip_url_is_downloaded_and_extracted(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTLEARN_DATA_MIRROR", raising=False)
    archive = tmp_path / "ratings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ratings/u.data", "1\t2\t5\t0\n")
    assert main(["datasets", archive.as_uri()]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder == str(tmp_path / "home" / "data" / "ratings")
    assert (tmp_path / "home" / "data" / "ratings" / "u.data").read_text() == "1\t2\t5\t0\n"


def test_an_unknown_dataset_name_suggests_the_close_one(capsys):
    assert main(["datasets", "ml100k"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastlearn datasets: error: Unknown dataset 'ml100k'.")
    assert "Did you mean ML_100k?" in err and "archive" not in err.split(".")[0]


# ---------------------------------------------------------------------------- predict
def test_predict_table_keeps_the_end_of_long_paths(tmp_path, capsys):
    model = write_model("image", tmp_path / "image.fl")
    folder = tmp_path / "a_rather_long_folder_name" / "images"
    folder.mkdir(parents=True)
    image = folder / "cat_12.png"
    image.write_bytes(solid_png((255, 0, 0)))
    assert main(["predict", str(model), str(image)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()[0]
    assert len(row) == 40 and row.startswith("…") and row.endswith("/images/cat_12.png")


def test_the_archive_suffixes_are_untar_datas():
    from fastlearn import cli
    from fastlearn.core import download

    assert cli._ARCHIVES == download._ARCHIVE_SUFFIXES
