"""`fastlearn train`: a CSV and an image folder become exported models that predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastlearn.cli import main
from fastlearn.core.export import load_learner


def test_train_tabular_exports_a_working_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame(
        {"color": rng.choice(["red", "blue", "green"], n), "size": rng.normal(size=n)}
    )
    df["label"] = np.where((df["color"] == "red") | (df["size"] > 1), "yes", "no")
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "t.fl"
    assert (
        main(["train", "tabular", str(csv), "--y", "label", "--epochs", "4", "--out", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "Categorical: ['color']" in text and "accuracy" in text
    predictor = load_learner(out)
    label, _, probs = predictor.predict({"color": "red", "size": 0.0})
    assert label == "yes" and float(probs.max()) > 0.5


def test_train_images_from_scratch(tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, value in (("dark", 30), ("light", 220)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(value, 10, (16, 16, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    out = tmp_path / "i.fl"
    assert (
        main(
            [
                "train",
                "images",
                str(tmp_path / "imgs"),
                "--arch",
                "resnet18",
                "--no-pretrained",
                "--size",
                "32",
                "--epochs",
                "1",
                "--bs",
                "8",
                "--lr",
                "1e-3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "Classes: ['dark', 'light']" in capsys.readouterr().out
    label, _, _ = load_learner(out).predict(tmp_path / "imgs" / "dark" / "0.png")
    assert label in ("dark", "light")


def test_train_help_names_both_kinds(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "tabular" in out and "images" in out
