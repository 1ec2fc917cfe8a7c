"""Item transforms (geometry on synthetic images) and batch transforms (one resampling)."""

from __future__ import annotations

import math
import random
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fastlearn.vision import augment
from fastlearn.vision.augment import (
    AffineWarp,
    CenterResize,
    IntToFloat,
    Lighting,
    Normalize,
    RandomResizedCrop,
    Resize,
    affine_matrices,
    aug_transforms,
    identity_params,
    sampling_grid,
)


def columns(w=100, h=50) -> Image.Image:
    """Red = column index, green = row index: positions can be read back from pixels."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.arange(w)[None, :]
    arr[..., 1] = np.arange(h)[:, None]
    return Image.fromarray(arr)


def red(img: Image.Image) -> np.ndarray:
    return np.asarray(img)[..., 0].astype(int)


# ---------------------------------------------------------------------------- item transforms
def test_resize_crop_centre_for_validation_random_for_training():
    out = Resize(50)(columns(), train=False)
    assert out.size == (50, 50)
    assert red(out)[0].tolist() == list(range(25, 75))  # the centre 50 columns, untouched
    random.seed(0)
    lefts = {int(red(Resize(50)(columns(), train=True))[0, 0]) for _ in range(20)}
    assert len(lefts) > 5 and min(lefts) >= 0 and max(lefts) <= 50
    for _ in range(5):  # a random crop is still a plain crop: consecutive columns
        row = red(Resize(50)(columns(), train=True))[0]
        assert (np.diff(row) == 1).all()


def test_resize_squish_and_pad():
    squished = Resize((50, 25), method="squish")(columns())
    assert squished.size == (25, 50) and red(squished)[0, 0] <= 2 and red(squished)[0, -1] >= 97
    padded = Resize(50, method="pad", pad_mode="zeros")(columns())  # 100x50 -> 50x25, centred
    arr = np.asarray(padded)
    assert padded.size == (50, 50)
    assert (arr[:12] == 0).all() and (arr[38:] == 0).all() and arr[12:38, :, 0].max() > 90
    reflected = np.asarray(Resize(50, method="pad")(columns()))  # reflection by default
    assert (reflected[:12, :, 0] > 0).any()
    with pytest.raises(ValueError, match="method"):
        Resize(50, method="stretch")


def test_resize_on_tensors_and_draft_size():
    x = torch.from_numpy(np.array(columns())).permute(2, 0, 1)
    out = Resize((20, 40), method="squish")(x)
    assert out.shape == (3, 20, 40) and out.dtype == torch.uint8
    assert Resize((20, 40)).draft_size == (20, 40)
    assert RandomResizedCrop(100, min_scale=0.25).draft_size == (200, 200)


def test_random_resized_crop_geometry():
    rrc = RandomResizedCrop((30, 40), min_scale=0.3)
    random.seed(1)
    for _ in range(20):
        g = rrc.geometry((100, 50), train=True)
        area = (g.box[2] - g.box[0]) * (g.box[3] - g.box[1])
        assert 0.3 - 1e-6 <= area <= 1 + 1e-6 and 0 <= g.box[0] and g.box[2] <= 1 + 1e-9
    g = rrc.geometry((100, 50), train=False)  # centre, the target's aspect, a little tighter
    w, h = (g.box[2] - g.box[0]) * 100, (g.box[3] - g.box[1]) * 50
    assert math.isclose(w / h, 40 / 30, rel_tol=1e-6) and h < 50
    assert math.isclose(g.box[0] + g.box[2], 1) and rrc(columns()).size == (40, 30)


def test_item_transform_moves_mask_with_image():
    arr = np.zeros((60, 90, 3), np.uint8)
    arr[10:30, 50:70] = 255
    mask = np.zeros((60, 90), np.uint8)
    mask[10:30, 50:70] = 3
    random.seed(3)
    for tfm in (Resize(40), Resize((40, 30), method="pad"), RandomResizedCrop(32, 0.3)):
        for _ in range(5):
            img, m = tfm.pair(Image.fromarray(arr), Image.fromarray(mask), train=True)
            m = np.asarray(m)
            assert set(np.unique(m)) <= {0, 3}  # nearest: no blended class values
            inside = np.asarray(img)[..., 0] > 127
            assert (inside == (m == 3)).mean() > 0.97


# ---------------------------------------------------------------------------- batch affine
def batch(n=4, h=12, w=20, seed=0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def still(**kwargs) -> AffineWarp:
    """An AffineWarp that does nothing unless told."""
    args = dict(flip_p=0.0, max_rotate=0.0, max_zoom=1.0, max_warp=0.0)
    return AffineWarp(**{**args, **kwargs})


def test_identity_parameters_give_back_the_input():
    x = batch()
    (y,) = still()((x,))
    assert torch.allclose(y, x, atol=1e-5)
    grid = sampling_grid(affine_matrices(identity_params(4), (12, 20)), (12, 20))
    assert torch.allclose(F.grid_sample(x, grid, align_corners=False), x, atol=1e-5)


def test_flip_equals_torch_flip():
    x = batch()
    assert torch.allclose(still(flip_p=1.0)((x,))[0], torch.flip(x, [-1]), atol=1e-5)


@pytest.mark.parametrize("hw", [(9, 9), (8, 16)])
def test_rotation_is_a_rotation_on_square_and_wide_images(hw):
    x = batch(2, *hw)
    p = identity_params(2)
    p["rotate"] = torch.tensor([90.0, 180.0])
    y = F.grid_sample(x, sampling_grid(affine_matrices(p, hw), hw), align_corners=False)
    h, w = hw
    lo = (w - h) // 2  # the centre square of a wide image turns in place
    assert torch.allclose(
        y[0, :, :, lo : lo + h], torch.rot90(x[0, :, :, lo : lo + h], 1, (1, 2)), atol=1e-5
    )
    assert torch.allclose(y[1], torch.flip(x[1], [1, 2]), atol=1e-5)


def test_zoom_and_crop_take_the_right_region():
    x = batch(1, 16, 16)
    p = identity_params(1)
    p["zoom"], p["shift_x"], p["shift_y"] = (
        torch.tensor([2.0]),
        torch.tensor([-0.5]),
        torch.tensor([-0.5]),
    )
    y = F.grid_sample(x, sampling_grid(affine_matrices(p, (8, 8)), (8, 8)), align_corners=False)
    assert torch.allclose(y, x[..., :8, :8], atol=1e-5)  # the top-left quarter, unscaled
    p = identity_params(1)
    p["crop_w"], p["crop_h"] = torch.tensor([0.5]), torch.tensor([0.5])
    p["crop_x"], p["crop_y"] = torch.tensor([0.5]), torch.tensor([-0.5])
    y = F.grid_sample(x, sampling_grid(affine_matrices(p, (8, 8)), (8, 8)), align_corners=False)
    assert torch.allclose(y, x[..., :8, 8:], atol=1e-5)  # the top-right quarter


def test_masks_follow_the_images_and_stay_integer():
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 32, 48)
    x[:, :, 8:20, 20:36] = 1.0  # a white square
    mask = (x[:, 0] > 0.5).long() * 2  # class 2 where the square is
    tfm = AffineWarp(
        max_rotate=40.0, max_zoom=1.5, max_warp=0.3, p_affine=1.0, size=(24, 24), min_scale=0.5
    )
    y, m = tfm((x, mask))
    assert y.shape == (8, 3, 24, 24) and m.shape == (8, 24, 24) and m.dtype == torch.long
    assert set(m.unique().tolist()) <= {0, 2}
    agree = ((y[:, 0] > 0.5) == (m == 2)).float().mean()
    assert agree > 0.97 and (m == 2).any()


def test_one_grid_sample_per_batch_for_all_augmentations():
    tfms = aug_transforms(size=10, max_lighting=0.3)
    batch_ = (torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8), torch.arange(6))
    with mock.patch.object(augment.F, "grid_sample", wraps=F.grid_sample) as spy:
        out = IntToFloat()(batch_)
        for tfm in tfms:
            out = tfm(out)
    assert spy.call_count == 1 and out[0].shape == (6, 3, 10, 10)
    assert torch.equal(out[1], torch.arange(6))  # class labels untouched


def test_aug_transforms_composition():
    tfms = aug_transforms(size=224, min_scale=0.75)
    assert [type(t).__name__ for t in tfms] == ["AffineWarp", "CenterResize", "Lighting"]
    assert [t.train_only for t in tfms] == [True, False, True]
    assert [type(t).__name__ for t in aug_transforms(max_lighting=0)] == ["AffineWarp"]
    assert aug_transforms(mult=2.0)[0].max_rotate == 20.0
    with pytest.raises(ValueError, match="max_warp"):
        AffineWarp(max_warp=0.6)


# ---------------------------------------------------------------------------- other batch tfms
def test_center_resize_is_the_validation_crop():
    x = torch.rand(2, 3, 20, 40)
    mask = torch.randint(0, 4, (2, 20, 40))
    y, m = CenterResize(10)((x, mask))
    ref = F.interpolate(x[..., 10:30], size=(10, 10), mode="bilinear", antialias=True)
    assert torch.allclose(y, ref) and m.shape == (2, 10, 10) and m.dtype == torch.long
    assert torch.equal(m, mask[:, 1::2, 11:30:2])  # nearest-exact: the pixel at each centre
    same = (torch.rand(1, 3, 10, 10),)
    assert CenterResize(10)(same) is same


def test_int_to_float_and_normalize_values():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1).repeat(2, 1, 2, 2)
    mask = torch.ones(2, 2, 2, dtype=torch.uint8)
    xf, mf = IntToFloat()((x, mask))
    assert torch.allclose(xf[0, :, 0, 0], torch.tensor([0.0, 0.2, 1.0]))
    assert mf.dtype == torch.long
    norm = Normalize.from_stats((0.5, 0.2, 0.4), (0.5, 0.1, 0.2))
    (y,) = norm((x,))  # uint8 scaled first
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([-1.0, 0.0, 3.0]), atol=1e-6)
    assert torch.allclose(norm.decode(y), xf)
    grey = norm((torch.full((1, 1, 2, 2), 0.5),))[0]  # stats averaged for one channel
    assert torch.allclose(grey, torch.full_like(grey, (0.5 - 1.1 / 3) / (0.8 / 3)))
    four = norm((torch.zeros(1, 4, 1, 1),))[0].flatten()  # the fourth uses the average
    assert torch.allclose(four, torch.tensor([-1.0, -2.0, -2.0, -1.1 / 0.8]))
    assert norm.to_state() == {"mean": [0.5, 0.2, 0.4], "std": [0.5, 0.1, 0.2]}


def test_lighting_in_logit_space():
    x = torch.rand(16, 3, 8, 8) * 0.98 + 0.01
    (same,) = Lighting(0.2, p=0.0)((x,))
    assert torch.allclose(same, x, atol=1e-5)
    torch.manual_seed(0)
    (y,) = Lighting(0.5, p=1.0)((x,))
    assert y.min() > 0 and y.max() < 1 and not torch.allclose(y, x, atol=1e-2)
    # per image: an increasing map of the pixels (brightness and contrast keep their order)
    order_x, order_y = x[0].flatten().argsort(), y[0].flatten().argsort()
    assert torch.equal(order_x, order_y)


@pytest.mark.parametrize("pad_mode", ["zeros", "reflection", "border"])
def test_pad_keeps_mask_modes_and_values(pad_mode):
    img = Image.new("RGB", (4, 3))
    for mask in (
        Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4)),  # I;16
        Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4), "P"),
    ):
        out_img, out = Resize(6, method="pad", pad_mode=pad_mode).pair(img, mask)
        assert out_img.size == out.size == (6, 6) and out.mode == mask.mode
        assert set(np.unique(np.asarray(out))) <= set(range(12))
