"""HTTP bodies with numbers JSON can spell but a model can't take: never a 500."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402

from fastlearn.serve import create_app  # noqa: E402

from ..serve.helpers import MAKERS, write_model  # noqa: E402

NON_FINITE_BODIES = [
    b'{"row": {"age": Infinity, "workclass": "Gov", "hours": 40}}',
    b'{"row": {"age": -Infinity, "workclass": "Gov", "hours": 40}}',
    b'{"row": {"age": NaN, "workclass": "Gov", "hours": 40}}',
    b'{"row": {"age": 1e999, "workclass": "Gov", "hours": 40}}',
    b'{"row": {"age": -1e999, "workclass": "Gov", "hours": 40}}',
    b'{"row": {"age": 1' + b"0" * 400 + b', "workclass": "Gov", "hours": 40}}',
    b'{"items": [{"row": {"age": 3, "workclass": "Gov", "hours": 40}}, '
    b'{"row": {"age": Infinity, "workclass": "Gov", "hours": 40}}]}',
]


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    path = write_model("tabular", tmp_path_factory.mktemp("m") / "tabular.fl")
    return TestClient(create_app(path), raise_server_exceptions=False)


@pytest.mark.parametrize("body", NON_FINITE_BODIES)
def test_non_finite_numbers_are_a_422(tabular, body):
    r = tabular.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "finite" in r.json()["error"]
    ok = tabular.post("/predict", json={"row": {"age": 39, "workclass": "Gov", "hours": 40}})
    assert ok.status_code == 200  # the server goes on serving


def test_a_model_that_answers_nan_is_a_422_not_a_500(tmp_path):
    import torch

    from fastlearn.core.export import load_learner

    path = write_model("tensor", tmp_path / "tensor.fl")
    predictor = load_learner(path)
    with torch.no_grad():
        for p in predictor.model.parameters():
            p.fill_(float("nan"))
    client = TestClient(create_app(predictor), raise_server_exceptions=False)
    r = client.post("/predict", json={"tensor": [0.1, 0.2, 0.3, 0.4]})
    assert r.status_code == 422, r.text
    assert "NaN or infinite" in r.json()["error"]


def test_the_cli_refuses_non_finite_rows_too(tmp_path):
    from fastlearn.core.export import load_learner
    from fastlearn.inputs import InputError, Limits, input_spec, parse_cli_item

    predictor = load_learner(write_model("tabular", tmp_path / "t.fl"))
    spec = input_spec(predictor.info())
    with pytest.raises(InputError, match="finite"):
        parse_cli_item('{"age": Infinity, "workclass": "Gov", "hours": 40}', spec, Limits())


def test_every_kind_loads():  # the corpus covers every kind of model the server takes
    assert {"image", "text", "tabular", "collab", "tensor"} <= set(MAKERS)
