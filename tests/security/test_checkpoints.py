"""Checkpoints that are not ours: a pickle payload, a truncated file, another model's weights,
an optimiser of other groups. Each is a CheckpointError naming the file and the fix, nothing
run, the learner unchanged. And a model file under a parent that is a file."""

from __future__ import annotations

import pickle

import pytest
import torch

from fastlearn.core.checkpoints import CheckpointError

from ..conftest import TinyNet, tiny_splitter


class Exploit:
    """Unpickling this would create `marker`: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def learn(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.fit(1, lr=1e-2)
    return learn


def weights(learn) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


def assert_unchanged(learn, before) -> None:
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bad_checkpoints_name_the_file_and_the_fix(learn, tmp_path):
    good = learn.save("good")
    models = good.parent
    marker = tmp_path / "pwned"
    (models / "pickle.pth").write_bytes(pickle.dumps({"model": Exploit(marker)}))
    torch.save({"model": Exploit(marker)}, models / "torch_pickle.pth")
    raw = good.read_bytes()
    (models / "truncated.pth").write_bytes(raw[: len(raw) // 2])
    (models / "empty.pth").write_bytes(b"")
    torch.save(TinyNet(n_hidden=16).state_dict(), models / "bare.pth")
    torch.save({"model": TinyNet(n_hidden=16).state_dict()}, models / "other.pth")
    torch.save({"model": {"0.weight": torch.zeros(8, 4)}}, models / "partial.pth")
    (models / "folder.pth").mkdir()
    cases = {
        "pickle": "Python objects besides tensors .* nothing was run",
        "torch_pickle": "Python objects besides tensors",
        "truncated": "not a readable checkpoint .*truncated or damaged.* learn.save",
        "empty": "not a readable checkpoint",
        "bare": "not a learn.save\\(\\) checkpoint.*load_state_dict",
        "other": "weights of another model.*wrong shapes.*'0.weight', \\(16, 4\\), \\(8, 4\\)",
        "partial": "missing .* strict=False",
        "folder": "not a readable checkpoint",
    }
    before = weights(learn)
    for name, match in cases.items():
        with pytest.raises(CheckpointError, match=match) as info:
            learn.load(name)
        assert f"{name}.pth" in str(info.value)
        assert_unchanged(learn, before)
    assert not marker.exists()
    learn.load("good")  # still loads what it saved


def test_another_optimiser_leaves_the_learner_unchanged(synth_learner, learn, tmp_path):
    other = synth_learner(path=tmp_path, splitter=tiny_splitter)  # two parameter groups
    other.fit(1, lr=1e-2)
    other.save("two_groups")
    before = weights(learn)
    with pytest.raises(CheckpointError, match="optimiser state .* with_opt=False"):
        learn.load("two_groups")
    assert_unchanged(learn, before)
    learn.load("two_groups", with_opt=False)
    assert torch.equal(learn.model[0].weight, other.model[0].weight)


def test_export_and_save_under_a_parent_that_is_a_file(learn, tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(NotADirectoryError, match="/out' is a file, not a folder"):
        learn.export(tmp_path / "out" / "model.fl", builder="security_tiny_net")
    learn.model_dir = "out"
    with pytest.raises(NotADirectoryError, match="/out' is a file, not a folder"):
        learn.save("ckpt")
    assert (tmp_path / "out").read_text() == "a file"


@pytest.fixture(autouse=True, scope="module")
def _builder():
    from fastlearn.core.export import register_builder

    register_builder("security_tiny_net", TinyNet)
