"""Safe export: round trip, and every kind of bad file refused before anything runs."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from fastlearn.core.export import (
    FORMAT_VERSION,
    ExportError,
    load_learner,
    read_model_file,
    register_builder,
    save_model_file,
)

from ..conftest import TinyNet


@register_builder("test_tiny_net")
def tiny_net(n_in: int = 4, n_hidden: int = 8, n_out: int = 2) -> TinyNet:
    return TinyNet(n_in, n_hidden, n_out)


@pytest.fixture
def exported(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.dls.vocab = ["no", "yes"]
    learn.fit(2, lr=1e-2)
    path = learn.export("model.fl", builder="test_tiny_net", builder_kwargs={"n_hidden": 8})
    return learn, path


def test_round_trip_predicts_bit_for_bit(exported):
    learn, path = exported
    assert path.exists() and not list(path.parent.glob(".model.fl*"))
    predictor = load_learner(path)
    xs = learn.dls.valid.dataset.tensors[0][:10]
    for x in xs:
        label, idx, probs = learn.predict(x)
        label2, idx2, probs2 = predictor.predict(x)
        assert torch.equal(probs, probs2) and label == label2 and int(idx) == int(idx2)
    batch = predictor.predict_batch(list(xs))
    assert [b[0] for b in batch] == [learn.predict(x)[0] for x in xs]
    info = predictor.info()
    assert info["vocab"] == ["no", "yes"] and info["application"] == "core"
    assert set(info["metrics"]) >= {"train_loss", "valid_loss"}


def test_header_is_plain_json(exported):
    _, path = exported
    config, tensors = read_model_file(path)
    assert config["format_version"] == FORMAT_VERSION and config["builder"] == "test_tiny_net"
    assert config["activation"] == "softmax"
    assert set(tensors) == set(TinyNet().state_dict())


class Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_cannot_execute(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.fl"
    bad.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(ExportError, match="pickle"):
        load_learner(bad)
    torch.save({"x": Exploit(marker)}, tmp_path / "evil2.fl")
    with pytest.raises(ExportError, match="pickle"):
        load_learner(tmp_path / "evil2.fl")
    assert not marker.exists()


def test_truncated_and_tampered_files_are_refused(exported, tmp_path):
    _, path = exported
    raw = path.read_bytes()
    (tmp_path / "trunc.fl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ExportError, match="truncated|damaged"):
        load_learner(tmp_path / "trunc.fl")
    (tmp_path / "tiny.fl").write_bytes(raw[:5])
    with pytest.raises(ExportError, match="truncated"):
        load_learner(tmp_path / "tiny.fl")
    n = int.from_bytes(raw[:8], "little")
    tampered = raw[:8] + raw[8 : 8 + n].replace(b'"fastlearn"', b'"fastlearX"') + raw[8 + n :]
    (tmp_path / "tampered.fl").write_bytes(tampered)
    with pytest.raises(ExportError, match="damaged or foreign header"):
        load_learner(tmp_path / "tampered.fl")


def _rewrite_config(path, tmp_path, **changes):
    config, tensors = read_model_file(path)
    config.update(changes)
    model = TinyNet()
    model.load_state_dict(tensors)
    out = tmp_path / "changed.fl"
    save_model_file(out, model, config)
    # save_model_file stamps the current version; patch the JSON for version tests.
    if "format_version" in changes:
        raw = out.read_bytes()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + n])
        inner = json.loads(header["__metadata__"]["fastlearn"])
        inner["format_version"] = changes["format_version"]
        header["__metadata__"]["fastlearn"] = json.dumps(inner)
        head = json.dumps(header).encode()
        head += b" " * (-len(head) % 8)
        out.write_bytes(len(head).to_bytes(8, "little") + head + raw[8 + n :])
    return out


def test_newer_format_version_is_refused(exported, tmp_path):
    _, path = exported
    newer = _rewrite_config(path, tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(ExportError, match="upgrade fastlearn"):
        load_learner(newer)


def test_shapes_that_disagree_with_the_architecture(exported, tmp_path):
    _, path = exported
    wrong = _rewrite_config(path, tmp_path, builder_kwargs={"n_hidden": 16})
    with pytest.raises(ExportError, match="wrong shapes"):
        load_learner(wrong)


def test_unregistered_builder_says_how_to_register(exported, tmp_path):
    _, path = exported
    unknown = _rewrite_config(path, tmp_path, builder="not_registered_net")
    with pytest.raises(ExportError, match="register_builder\\('not_registered_net'"):
        load_learner(unknown)


def test_export_without_builder_explains(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path)
    with pytest.raises(ExportError, match="builder"):
        learn.export("m.fl")
    assert not (tmp_path / "m.fl").exists()


def test_every_application_builder_in_the_table_is_found():
    """The fixed table names each application's builders; nothing is registered on import."""
    from fastlearn.core.export import _BUILDER_APPLICATIONS, _BUILDERS, get_builder

    for name, app in _BUILDER_APPLICATIONS.items():
        if app in ("text", "transformers"):
            continue  # optional extras (tokenizers, transformers): tests/text checks them
        assert callable(get_builder(name)), name
    assert not set(_BUILDER_APPLICATIONS) & set(_BUILDERS)
