"""detection_learner end to end on synthetic rectangles: the 8-image overfit check, transfer
learning calls, predict in the original pixels, results, export and ONNX."""

from __future__ import annotations

import pytest
import torch

from fastlearn.core.export import load_learner
from fastlearn.vision.augment import CenterResize, IntToFloat, Resize
from fastlearn.vision.dataset import ImageDataset
from fastlearn.vision.detection import DetectionInterpretation, TensorBBox, detection_learner
from fastlearn.vision.detection.boxes import box_iou
from fastlearn.vision.detection.predict import _to_pixels
from fastlearn.vision.geometry import TensorPoint

from .conftest import TINY, detection_block, rectangles


def test_overfits_eight_images(trained):
    """If it can't, the encoding, the loss or NMS is wrong."""
    learn, _ = trained
    last = learn.recorder.history[-1]
    assert last["mAP50"] >= 0.9, last
    assert last["mAP"] >= 0.7, last


def test_predict_gives_boxes_in_original_pixels(trained):
    """The best len(targets) detections of each 88 x 72 image are its boxes, in its pixels."""
    learn, items = trained
    for path, boxes, labels in items:
        pred_boxes, pred_labels, scores = learn.predict(path)
        assert scores.tolist() == sorted(scores.tolist(), reverse=True)
        if not boxes:
            assert len(scores) == 0 or scores[0] < 0.3
            continue
        top = pred_boxes[: len(boxes)]
        ious = box_iou(torch.tensor(boxes, dtype=torch.float), top)
        assert (ious.max(1).values > 0.7).all(), (boxes, top)
        assert [pred_labels[int(j)] for j in ious.argmax(1)] == labels


@pytest.mark.parametrize(
    "item_tfm, batch_tfms",
    [
        (Resize((48, 64), method="squish"), []),
        (Resize(56), []),  # centre crop of 88 x 72
        (Resize(64, method="pad", pad_mode="zeros"), []),
        (Resize((72, 96), method="squish"), [CenterResize((48, 48))]),
    ],
)
def test_boxes_map_back_to_original_pixels(item_tfm, batch_tfms):
    """Through every validation transform and back: a box comes home (when not cropped)."""
    img = rectangles(1)[0][0]  # 88 x 72
    box = torch.tensor([[30.0, 20.0, 58.0, 50.0]])
    corners = TensorPoint([[0.0, 0.0], [88.0, 72.0]])
    ds = ImageDataset([(img, TensorBBox(box), corners)], None, [item_tfm], spatial=2)
    x, moved, pts = ds[0]
    batch = (x[None], moved[None], pts[None])
    for tfm in [IntToFloat(), *batch_tfms]:
        batch = tfm(batch)
    back = _to_pixels(batch[1][0].as_subclass(torch.Tensor), batch[2][0], (88, 72))
    torch.testing.assert_close(back, box, atol=1e-3, rtol=0)


def test_export_load_predict_bit_equal(trained, tmp_path):
    learn, items = trained
    path = learn.export(tmp_path / "det.fl")
    predictor = load_learner(path)
    for item in (items[0][0], items[3][0]):
        ours, theirs = learn.predict(item), predictor.predict(item)
        assert torch.equal(ours[0], theirs[0]) and ours[1] == theirs[1]
        assert torch.equal(ours[2], theirs[2])
    assert predictor.dls.vocab == list(learn.dls.vocab)
    assert predictor.info()["task"] == "detection"


def test_onnx_without_nms_matches(trained, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    learn, _ = trained
    path = learn.to_onnx(tmp_path / "det.onnx")  # checked against onnxruntime on export
    x = learn.dls.valid.one_batch()[0]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = torch.from_numpy(session.run(["output"], {"input_0": x.numpy()})[0])
    with torch.no_grad():
        expected = learn.model.eval()(x)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-3)
    ours, theirs = learn.postprocess(expected), learn.postprocess(out)
    for (b1, _, c1), (b2, _, c2) in zip(ours, theirs):
        assert torch.equal(c1, c2)
        torch.testing.assert_close(b1, b2, atol=1e-4, rtol=0)


def test_show_results_and_worst_images(trained, tmp_path):
    learn, _ = trained
    fig = learn.show_results(max_n=4, path=tmp_path / "results.png")
    assert len(fig.axes) == 4 and (tmp_path / "results.png").stat().st_size > 0
    interp = DetectionInterpretation.from_learner(learn)
    losses, idx = interp.top_losses(3)
    assert losses.tolist() == sorted(losses.tolist(), reverse=True) and len(idx) == 3
    fig = interp.plot_top_losses(3, path=tmp_path / "worst.png")
    assert fig.axes[0].get_title().startswith("loss ")


def test_transfer_learning_calls(rect_files):
    """freeze (pretrained), three groups with slice learning rates, fine_tune, lr_find."""
    dls = detection_block(item_tfms=Resize(32, method="squish")).dataloaders(
        rect_files, bs=4, num_workers=0, device="cpu"
    )
    learn = detection_learner(
        dls, "tiny_detection_body", pretrained=True, show_progress=False, **TINY
    )
    body_convs = [p for n, p in learn.model.body.named_parameters() if p.ndim == 4]
    assert learn.n_groups == 3 and not any(p.requires_grad for p in body_convs)
    assert all(p.requires_grad for p in learn.model.head.parameters())
    learn.fit(1, lr=slice(1e-4, 1e-2))
    lrs = [g["lr"] for g in learn.opt.param_groups]
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2])
    learn.fine_tune(1, 1e-3, freeze_epochs=1)
    assert all(p.requires_grad for p in body_convs)
    suggestion = learn.lr_find(num_it=6, show_plot=False)
    assert suggestion.valley > 0


def test_tta_is_refused(trained):
    with pytest.raises(ValueError, match="no tta"):
        trained[0].tta()


def test_learner_refuses_classification_loaders_and_mismatched_labels(rect_files):
    from fastlearn.core.datablock import DataBlockError
    from fastlearn.vision.data import ImageDataLoaders

    cls_dls = ImageDataLoaders.from_lists(
        ".", [f for f, _, _ in rect_files], ["a", "b"] * 4, item_tfms=Resize(32), num_workers=0
    )
    with pytest.raises(ValueError, match="Expected detection loaders"):
        detection_learner(cls_dls, "tiny_detection_body", pretrained=False)
    bad = [(f, b, [*lab, "red"] if b else lab) for f, b, lab in rect_files]  # one label too many
    dls = detection_block(item_tfms=Resize(32)).dataloaders(bad, bs=4, num_workers=0)
    with pytest.raises(DataBlockError, match="boxes and .* labels"):
        detection_learner(dls, "tiny_detection_body", pretrained=False)
