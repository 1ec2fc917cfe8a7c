"""Pretrained weights when they can't be downloaded: ResNet fails at once and names the ways
on; the text learners (pretrained=True by default, as the course) warn and start from scratch."""

from __future__ import annotations

import socket
import time
import warnings

import pytest
import torch

from fastlearn.core.download import DownloadError
from fastlearn.core.network import unreachable


def refused_url(name: str) -> str:
    """An http URL on 127.0.0.1 whose port refuses connections (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTLEARN_DATA_MIRROR", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_unreachable_tells_refused_from_files(offline_home, tmp_path):
    assert "refused" in unreachable(refused_url("x.pth")).lower()
    assert unreachable((tmp_path / "x.pth").as_uri()) is None  # files are not probed


def test_resnet_weights_offline_fail_fast_with_the_ways_on(offline_home, monkeypatch):
    pytest.importorskip("PIL")
    from fastlearn.vision.models import resnet as resnet_module
    from fastlearn.vision.models.resnet import resnet18

    url = refused_url("resnet18-f37072fd.pth")
    monkeypatch.setitem(resnet_module.RESNET_WEIGHT_URLS, "resnet18", {"imagenet1k_v1": url})
    start = time.perf_counter()
    with pytest.raises(DownloadError) as caught:
        resnet18(pretrained=True)
    assert time.perf_counter() - start < 2  # no retries with back-off (they took ~7 s)
    message = str(caught.value)
    for fix in (
        "weights_path=",
        "pretrained=False",
        "efficientnet_lite0",
        str(offline_home / "models" / "resnet18-f37072fd.pth"),
    ):
        assert fix in message
    assert not (offline_home / "models" / "resnet18-f37072fd.pth").exists()


# ---------------------------------------------------------------------------- text
@pytest.fixture
def dls_lm():
    pytest.importorskip("pandas")
    from tests.text.helpers import lm_dls

    return lm_dls()


@pytest.fixture
def wt103_offline(offline_home, monkeypatch):
    from fastlearn.core.download import URLs

    monkeypatch.setattr(URLs, "WT103_FWD", refused_url("wt103-fwd.tgz"))


def test_language_model_default_warns_and_trains_from_scratch(dls_lm, wt103_offline):
    from fastlearn.text import AWD_LSTM, language_model_learner
    from tests.text.helpers import TINY

    start = time.perf_counter()
    with pytest.warns(UserWarning, match="pretrained=False silences") as caught:
        learn = language_model_learner(dls_lm, AWD_LSTM, show_progress=False)
    assert time.perf_counter() - start < 30  # building the full-size model; no retries
    message = str(caught[0].message)
    assert "language_model_learner" in message and "refused" in message.lower()
    assert "load_pretrained" in message and caught[0].filename == __file__
    assert all(p.requires_grad for p in learn.model.parameters())  # not frozen: no weights
    assert learn.model[0].emb_sz == 400  # the default (WT103's) sizes
    # A config with other sizes can't take WT103: said at once, without a download.
    with pytest.warns(UserWarning, match="not the WT103 encoder's sizes"):
        small = language_model_learner(dls_lm, AWD_LSTM, config=TINY, show_progress=False)
    assert small.model[0].emb_sz == TINY["emb_sz"]


def test_pretrained_false_is_silent(dls_lm, wt103_offline):
    from fastlearn.text import AWD_LSTM, language_model_learner, text_classifier_learner
    from tests.text.helpers import TINY, clas_dls

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        language_model_learner(dls_lm, AWD_LSTM, config=TINY, pretrained=False, show_progress=False)
        text_classifier_learner(
            clas_dls(dls_lm), AWD_LSTM, config=TINY, pretrained=False, show_progress=False
        )


def test_classifier_default_warns_too(dls_lm, wt103_offline):
    from fastlearn.text import AWD_LSTM, text_classifier_learner
    from tests.text.helpers import TINY, clas_dls

    with pytest.warns(UserWarning, match="text_classifier_learner: pretrained=True"):
        clas = text_classifier_learner(clas_dls(dls_lm), AWD_LSTM, config=TINY, show_progress=False)
    assert all(p.requires_grad for p in clas.model.parameters())


def test_cached_wt103_is_used_by_default(dls_lm, offline_home):
    """A WT103 folder already in the cache is loaded (no network): sizes from the file, and
    the learner starts frozen, as with any pretrained source."""
    from fastlearn.text import AWD_LSTM, language_model_learner
    from tests.text.helpers import TINY

    source = language_model_learner(
        dls_lm, AWD_LSTM, config=TINY, pretrained=False, show_progress=False
    )
    folder = offline_home / "data" / "wt103-fwd"
    folder.mkdir(parents=True)
    torch.save(source.model.state_dict(), folder / "lstm_fwd.pth")
    (folder / "itos_wt103.json").write_text(__import__("json").dumps(list(dls_lm.text_vocab.itos)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learn = language_model_learner(dls_lm, AWD_LSTM, show_progress=False)
    assert learn.model[0].emb_sz == TINY["emb_sz"]
    assert torch.equal(learn.model[0].encoder.weight, source.model[0].encoder.weight)
    assert not learn.model[0].rnns[0].weight_ih.requires_grad  # frozen
