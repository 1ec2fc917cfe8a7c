"""`fastlearn predict` and `fastlearn serve` on exported test models of every input kind."""

from __future__ import annotations

import json

import pytest

from fastlearn.cli import build_parser, main

from .serve.helpers import MAKERS, solid_png, write_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_models")
    return {kind: write_model(kind, folder / f"{kind}.fl") for kind in MAKERS}


@pytest.fixture
def images(tmp_path):
    paths = []
    for name, colour in [("red", (255, 0, 0)), ("blue", (0, 0, 255))]:
        paths.append(tmp_path / f"{name}.png")
        paths[-1].write_bytes(solid_png(colour))
    return [str(p) for p in paths]


def test_images_as_a_table_and_as_json(models, images, capsys):
    assert main(["predict", str(models["image"]), *images]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["input", "prediction"] and len(lines) == 3
    assert lines[1].split()[1] == "red" and lines[2].split()[1] == "blue"
    assert lines[1].split()[2:4] == ["red", "0.999"]  # top classes with probabilities
    assert main(["predict", str(models["image"]), *images, "--json", "--top-k", "2"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["label"] for a in answers] == ["red", "blue"]
    assert [a["input"] for a in answers] == images and len(answers[0]["top"]) == 2


@pytest.mark.parametrize(
    "kind,inputs,labels",
    [
        ("text", ["I love it", "awful, just bad"], ["positive", "negative"]),
        ("tabular", ['{"age": 39, "workclass": "Gov", "hours": 60}'], None),
        ("collab", ['["u1", "i2"]', '{"user": "u3", "item": "i1"}'], None),
        ("tensor", ["[0.5, 0.1, -1, 2]"], None),
    ],
)
def test_texts_rows_pairs_and_tensors(models, capsys, kind, inputs, labels):
    assert main(["predict", str(models[kind]), *inputs, "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert len(answers) == len(inputs)
    if labels:
        assert [a["label"] for a in answers] == labels
    if kind == "collab":
        assert all(isinstance(a["value"], float) for a in answers)
    assert main(["predict", str(models[kind]), *inputs]) == 0  # the table too
    assert len(capsys.readouterr().out.splitlines()) == len(inputs) + 1


@pytest.mark.parametrize(
    "kind,arg,message",
    [
        ("image", "missing.png", "No image file at 'missing.png'"),
        ("tabular", '{"age": 39}', "Missing: ['workclass', 'hours']"),
        ("tabular", "age=39", "Expected JSON for this tabular model"),
        ("collab", '["stranger", "i1"]', "Unknown user 'stranger'"),
        ("tensor", "[1, 2]", "shape [4]"),
    ],
)
def test_bad_inputs_fail_with_a_clear_message(models, capsys, kind, arg, message):
    assert main(["predict", str(models[kind]), arg]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastlearn predict: error:") and message in err
    assert "Traceback" not in err


def test_a_missing_or_foreign_model_file(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.fl"), "x"]) == 1
    assert "No model file" in capsys.readouterr().err
    (tmp_path / "bad.fl").write_bytes(b"\x80\x04 pickle")
    assert main(["predict", str(tmp_path / "bad.fl"), "x"]) == 1
    assert "pickle" in capsys.readouterr().err


def test_help_texts(capsys):
    for command, words in [
        ("predict", ["image paths", "JSON rows", "--top-k", "--json"]),
        ("serve", ["--host", "--port", "/predict", "127.0.0.1"]),
    ]:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert all(w in out for w in words), (command, out)
    with pytest.raises(SystemExit):
        main(["predict", "model.fl"])  # no INPUT
    assert "INPUT" in capsys.readouterr().err


def test_serve_builds_the_app_and_runs_uvicorn(models, monkeypatch, capsys):
    pytest.importorskip("starlette")
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert (
        main(
            [
                "serve",
                str(models["text"]),
                "--port",
                "8123",
                "--max-body-mb",
                "1",
                "--log-level",
                "warning",
            ]
        )
        == 0
    )
    app, kwargs = calls[0]
    assert kwargs == {"host": "127.0.0.1", "port": 8123, "log_level": "warning"}
    assert app.state.service.limits.max_body == 2**20
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    assert main(["serve", "missing.fl"]) == 1


def test_parser_defaults():
    args = build_parser().parse_args(["serve", "m.fl"])
    assert (args.host, args.port, args.top_k) == ("127.0.0.1", 8000, 5)
    assert build_parser().parse_args(["predict", "m.fl", "a"]).top_k == 3


def test_predict_does_not_import_the_web_server():
    """`fastlearn predict` shares input parsing and answers with the web app, not its module."""
    import subprocess
    import sys

    code = (
        "import sys, fastlearn.cli, fastlearn.inputs, fastlearn.answers; "
        "print(sorted(m for m in sys.modules if m.startswith(('fastlearn.serve', "
        "'starlette', 'uvicorn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
