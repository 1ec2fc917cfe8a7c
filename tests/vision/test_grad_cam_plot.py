"""plot_grad_cam as a person sees it: large enough to read, the image beside the heat map,
and a colour bar that says what the colours mean (0 to 1 of the map's maximum)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from fastlearn.vision.interpret import grad_cam, plot_grad_cam

from .test_interpret import learner


def test_grad_cam_plot_is_large_with_a_colour_bar(tmp_path):
    learn = learner()
    item = learn.dls.valid.dataset.tensors[0][0]
    fig = plot_grad_cam(learn, item, target_class=1, path=tmp_path / "cam.png")
    width, height = Image.open(tmp_path / "cam.png").size
    assert width >= 900 and height >= 450  # was 320 x 320
    image, overlay, bar = fig.axes
    assert bar.get_ylabel().startswith("contribution to the class score")
    assert bar.get_ylim() == (0.0, 1.0)
    assert image.get_title() == "image" and overlay.get_title() == "Grad-CAM for class 'bee'"
    heat = overlay.get_images()[1].get_array()
    assert float(np.max(heat)) == 1.0 or float(np.max(heat)) == 0.0  # scaled to its maximum
    cam = grad_cam(learn, item, target_class=1)
    assert (float(np.max(heat)) == 1.0) == bool(torch.any(cam > 0))
