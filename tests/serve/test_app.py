"""The web app: every input kind, every kind of bad request (a clear 4xx, and the server
keeps serving), limits, errors without tracebacks, and concurrent requests on a real server."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import zlib

import pytest
from starlette.testclient import TestClient

from fastlearn.core.export import Predictor, load_learner
from fastlearn.serve import create_app

from .helpers import solid_png, write_model

RED, GREEN, BLUE = (230, 10, 10), (10, 200, 10), (0, 0, 255)
GOOD = {
    "image": {"files": {"file": ("red.png", solid_png(RED), "image/png")}},
    "text": {"json": {"text": "I love it, great"}},
    "tabular": {"json": {"row": {"age": 39, "workclass": "Gov", "hours": 40}}},
    "collab": {"json": {"user": "u1", "item": "i2"}},
    "tensor": {"json": {"tensor": [0.1, 0.2, 0.3, 0.4]}},
}


@pytest.fixture(scope="module")
def clients(model_files):
    return {kind: TestClient(create_app(path)) for kind, path in model_files.items()}


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid 1x1 PNG whose header claims width x height pixels."""
    png = solid_png((0, 0, 0), (1, 1))
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:29]
    return png[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + png[33:]


def image_bytes(fmt: str, size=(8, 8)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, GREEN).save(buf, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------------------- good requests
@pytest.mark.parametrize("kind", list(GOOD))
def test_page_info_health_and_a_prediction(clients, model_files, kind):
    client = clients[kind]
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["inputs"]["kind"] == kind and info["limits"]["max_body"] == 10 * 2**20
    page = client.get("/")
    assert page.status_code == 200 and "static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    answer = client.post("/predict", **GOOD[kind])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["time_ms"] >= 0
    if kind == "collab":  # regression: a value, no classes
        assert isinstance(body["value"], float) and "top" not in body
    else:
        probs = [t["probability"] for t in body["top"]]
        assert body["label"] == body["top"][0]["label"] and probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1, abs=1e-5)


def test_image_answers_equal_the_predictor(clients, model_files):
    predictor = load_learner(model_files["image"])
    client = clients["image"]
    for colour, name in [(RED, "red"), (GREEN, "green"), (BLUE, "blue")]:
        png = solid_png(colour)
        label, _, probs = predictor.predict(png)
        expected = {
            "label": name,
            "top": [
                {"label": predictor.vocab[i], "probability": round(float(probs[i]), 6)}
                for i in probs.argsort(descending=True).tolist()
            ],
        }
        upload = client.post("/predict", files={"file": ("x.png", png, "image/png")})
        raw = client.post("/predict", content=png, headers={"Content-Type": "image/png"})
        b64 = base64.b64encode(png).decode()
        as_json = client.post("/predict", json={"image": b64})
        data_url = client.post("/predict", json={"image": f"data:image/png;base64,{b64}"})
        for answer in (upload, raw, as_json, data_url):
            assert {k: v for k, v in answer.json().items() if k != "time_ms"} == expected
    jpeg = client.post("/predict", files={"file": ("g.jpg", image_bytes("JPEG"), "image/jpeg")})
    assert jpeg.json()["label"] == "green"


def test_batches_and_plain_text(clients):
    client = clients["text"]
    answer = client.post("/predict", json={"items": [{"text": "good"}, {"text": "awful bad"}]})
    assert [p["label"] for p in answer.json()["predictions"]] == ["positive", "negative"]
    plain = client.post(
        "/predict", content=b"I hate it", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    assert plain.json()["label"] == "negative"


def test_tabular_numbers_may_come_as_strings_or_null(clients):
    client = clients["tabular"]
    a = client.post("/predict", json={"row": {"age": 39, "workclass": "Gov", "hours": 40}})
    b = client.post("/predict", json={"row": {"age": "39", "workclass": "Gov", "hours": "40"}})
    assert a.json()["top"] == b.json()["top"]
    missing = client.post("/predict", json={"row": {"age": None, "workclass": "x", "hours": ""}})
    assert missing.status_code == 200  # missing values and unseen categories are the model's job


def test_input_descriptions_and_text_pairs():
    from fastlearn.inputs import Limits, input_spec, parse_cli_item
    from fastlearn.serve.app import parse_json_body

    assert input_spec({"inputs": "image"}) == {"kind": "image"}  # a bare kind is accepted
    assert input_spec({}) == input_spec({"inputs": {"kind": "sound"}}) == {"kind": "tensor"}
    spec, limits = {"kind": "text_pair"}, Limits()
    assert parse_json_body({"text": "a b", "text_pair": "c"}, spec, limits) == (
        [("a b", "c")],
        False,
    )
    assert parse_cli_item('["a b", "c"]', spec, limits) == ("a b", "c")


# ---------------------------------------------------------------------------- bad requests
TEN_MB = "word " * 2_000_000
BAD = [
    # (model, request, status, words in the message)
    (
        "image",
        {"files": {"file": ("x.png", b"\x89PNG not really", "image/png")}},
        400,
        "Could not read the data as an image",
    ),
    (
        "image",
        {"files": {"file": ("x.png", solid_png(RED, (64, 64))[:90], "image/png")}},
        422,
        "truncated",
    ),
    ("image", {"content": b"", "headers": {"Content-Type": "image/png"}}, 400, "body is empty"),
    ("image", {"files": {"file": ("x.png", b"", "image/png")}}, 400, "empty"),
    (
        "image",
        {"files": {"upload": ("x.png", solid_png(RED), "image/png")}},
        400,
        "field named 'file'",
    ),
    (
        "image",
        {"files": {"file": ("x.txt", solid_png(RED), "text/plain")}},
        415,
        "Expected an image upload",
    ),
    (
        "image",
        {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
        415,
        "multipart/form-data",
    ),
    (
        "image",
        {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}},
        400,
        "multipart",
    ),
    (
        "image",
        {"content": png_bomb(), "headers": {"Content-Type": "image/png"}},
        413,
        "too many pixels",
    ),
    ("image", {"files": {"file": ("t.tif", image_bytes("TIFF"), "image/tiff")}}, 415, "TIFF"),
    ("image", {"json": {"image": "not base64!"}}, 400, "base64"),
    ("image", {"json": {"picture": "abc"}}, 400, "Expected an object with 'image'"),
    ("text", {"json": {"text": TEN_MB}}, 413, "10,000,000 characters"),
    (
        "text",
        {"content": TEN_MB.encode(), "headers": {"Content-Type": "text/plain"}},
        413,
        "max_text",
    ),
    (
        "text",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        400,
        "not valid JSON",
    ),
    (
        "text",
        {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}},
        400,
        "not valid JSON",
    ),
    ("text", {"content": b"\xff\xfe", "headers": {"Content-Type": "text/plain"}}, 400, "UTF-8"),
    ("text", {"json": {"text": 42}}, 400, "Received: int"),
    ("text", {"json": {"text": "   "}}, 400, "empty"),
    ("text", {"json": ["a", "b"]}, 400, "Expected a JSON object"),
    ("text", {"json": {"items": [{"text": "a"}] * 65}}, 413, "max_batch"),
    ("text", {"json": {"items": []}}, 400, "non-empty list"),
    ("text", {"files": {"file": ("a.png", solid_png(RED), "image/png")}}, 415, "multipart"),
    (
        "text",
        {"content": b"<a/>", "headers": {"Content-Type": "application/xml"}},
        415,
        "application/xml",
    ),
    ("tabular", {"json": {"row": {"age": 39, "hours": 40}}}, 422, "Missing: ['workclass']"),
    (
        "tabular",
        {"json": {"row": {"age": "inf", "workclass": "Gov", "hours": 2}}},
        422,
        "finite number",
    ),  # extra columns are ignored and named, as predict does: test_tables.py
    (
        "tabular",
        {"json": {"row": {"age": "old", "workclass": "Gov", "hours": 2}}},
        422,
        "takes a number",
    ),
    (
        "tabular",
        {"json": {"row": {"age": 1, "workclass": ["Gov"], "hours": 2}}},
        422,
        "single value",
    ),
    ("tabular", {"json": {"row": [1, 2, 3]}}, 400, "object of column"),
    ("collab", {"json": {"user": "nobody", "item": "i1"}}, 422, "Unknown user 'nobody'"),
    ("collab", {"json": {"user": "u1"}}, 400, "'item'"),
    ("tensor", {"json": {"tensor": [1, 2, 3]}}, 422, "shape [4]"),
    ("tensor", {"json": {"tensor": ["a", "b", "c", "d"]}}, 400, "nested lists of numbers"),
]


@pytest.mark.parametrize(
    "kind,request_kwargs,status,message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(
    clients, kind, request_kwargs, status, message
):
    client = clients[kind]
    answer = client.post("/predict", **request_kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error and "Traceback" not in error
    assert client.get("/health").status_code == 200
    assert client.post("/predict", **GOOD[kind]).status_code == 200


def test_body_and_pixel_limits(model_files):
    client = TestClient(create_app(model_files["image"], max_body=50_000, max_pixels=10_000))
    from PIL import Image

    assert Image.MAX_IMAGE_PIXELS == 10_000  # Pillow refuses bombs wherever it decodes
    big = client.post("/predict", content=b"\0" * 60_000, headers={"Content-Type": "image/png"})
    assert big.status_code == 413 and "max_body" in big.json()["error"]

    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b"\0" * 10_000

    streamed = client.post("/predict", content=chunks(), headers={"Content-Type": "image/png"})
    assert streamed.status_code == 413
    wide = client.post(
        "/predict", files={"file": ("w.png", solid_png(RED, (120, 100)), "image/png")}
    )
    assert wide.status_code == 413 and "12,000 pixels" in wide.json()["error"]
    assert (
        client.post(
            "/predict", files={"file": ("ok.png", solid_png(RED, (100, 100)), "image/png")}
        ).status_code
        == 200
    )


def test_wrong_routes_and_methods_answer_json(clients):
    client = clients["text"]
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    assert client.get("/predict").status_code == 405
    assert (
        client.post("/predict", json={"text": "x"}, headers={"Content-Length": "abc"}).status_code
        == 400
    )


class Broken(Predictor):
    def predict_batch(self, items):
        raise RuntimeError("secret internal detail")


def test_a_model_failure_is_a_500_without_details(model_files, caplog):
    healthy = load_learner(model_files["text"])
    client = TestClient(create_app(Broken(healthy.model, healthy.config)))
    answer = client.post("/predict", json={"text": "good"})
    assert answer.status_code == 500
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert "the server log has details" in answer.json()["error"]
    assert "secret internal detail" in caplog.text  # ... which the log has


def test_any_other_server_fault_is_json_too(model_files, monkeypatch):
    app = create_app(model_files["text"])

    def broken_parse(*args):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(app.state.service, "_parse", broken_parse)
    answer = TestClient(app, raise_server_exceptions=False).post("/predict", json={"text": "a"})
    assert answer.status_code == 500 and "parser bug" not in answer.text
    assert answer.json() == {"error": "Internal server error; the server log has details."}


def test_arguments_are_checked(model_files, tmp_path):
    with pytest.raises(ValueError, match="max_body"):
        create_app(model_files["text"], max_body=0)
    with pytest.raises(FileNotFoundError):
        create_app(tmp_path / "missing.fl")


# ---------------------------------------------------------------------------- a real server
def test_concurrent_requests_on_a_real_server(tmp_path):
    """Predictions run one at a time in a worker thread; the event loop keeps answering."""
    import httpx

    from .helpers import serve_in_thread

    app = create_app(write_model("text", tmp_path / "slow.fl", delay=0.1))
    texts = ["good great", "bad", "love", "hate awful", "great", "awful", "good", "bad bad"] * 2
    expected = [
        "positive" if any(w in t for w in ("good", "great", "love")) else "negative" for t in texts
    ]

    async def load(url: str) -> tuple[list[str], float, float]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            start = time.perf_counter()
            predictions = asyncio.gather(
                *[client.post("/predict", json={"text": t}) for t in texts]
            )
            await asyncio.sleep(0.15)
            health = await client.get("/health")
            health_at = time.perf_counter() - start
            answers = await predictions
            assert health.status_code == 200 and all(a.status_code == 200 for a in answers)
            return [a.json()["label"] for a in answers], health_at, time.perf_counter() - start

    with serve_in_thread(app) as url:
        labels, health_at, total = asyncio.run(load(url))
    assert labels == expected
    assert app.state.service.predictor.max_active == 1  # the lock serialises predictions
    assert total >= 0.1 * len(texts) and health_at < total / 2  # /health did not wait


# ---------------------------------------------------------------------------- a real model
def test_a_real_exported_vision_model(tmp_path):
    """vision_learner -> learn.export -> the app: answers equal learn.predict on the file."""
    pytest.importorskip("fastlearn.vision.export", reason="the vision application's export")
    from PIL import Image

    from fastlearn import set_seed
    from fastlearn.vision.augment import Resize
    from fastlearn.vision.data import ImageDataLoaders
    from fastlearn.vision.learner import vision_learner

    for split in ("train", "valid"):
        for name, colour in [("red", RED), ("green", GREEN)]:
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40 + 8 * i, 36), colour).save(
                    tmp_path / split / name / f"{i}.png"
                )
    set_seed(0)
    dls = ImageDataLoaders.from_folder(
        tmp_path, item_tfms=Resize(32), bs=4, num_workers=0, device="cpu"
    )
    learn = vision_learner(dls, "resnet18", pretrained=False, show_progress=False)
    client = TestClient(create_app(learn.export(tmp_path / "colours.fl")))
    info = client.get("/info").json()
    assert info["inputs"]["kind"] == "image" and info["vocab"] == ["green", "red"]
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (90, 60), (200, 40, 40)).save(photo, quality=90)
    for file in (photo, tmp_path / "valid" / "green" / "1.png"):
        label, _, probs = learn.predict(file)
        mime = "image/jpeg" if file.suffix == ".jpg" else "image/png"
        answer = client.post("/predict", files={"file": (file.name, file.read_bytes(), mime)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["label"] == label
        assert {t["label"]: t["probability"] for t in body["top"]} == {
            c: round(float(p), 6) for c, p in zip(dls.vocab, probs)
        }
