"""Object detection: box blocks for the DataBlock, an FCOS detector over the vision bodies,
COCO mAP, prediction in the pixels of the original image, export and ONNX.

    from fastlearn.vision.detection import (BBoxBlock, BBoxLblBlock, MeanAveragePrecision,
                                            detection_learner, get_annotations)
    images, lbl_bbox = get_annotations(path / "train.json")
    img2bbox = dict(zip(images, lbl_bbox))
    dls = DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock), n_inp=1,
                    get_items=get_image_files, splitter=RandomSplitter(seed=42),
                    get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
                    item_tfms=Resize(256, method="squish")).dataloaders(path / "train", bs=16)
    learn = detection_learner(dls, "efficientnet_lite0", metrics=MeanAveragePrecision())
    learn.fine_tune(10)
    boxes, labels, scores = learn.predict(path / "train" / images[0])

Why FCOS (and not RetinaNet): docs/detection.md.
"""

from .boxes import batched_nms, box_iou, generalized_box_iou, nms
from .data import BBoxBlock, BBoxLblBlock, TensorBBox, TensorBBoxLabel, get_annotations
from .interpret import DetectionInterpretation
from .learner import DetectionLearner, build_detector, detection_learner
from .loss import FCOSLoss
from .metric import MeanAveragePrecision, coco_evaluate, to_coco
from .model import FCOS
from .postprocess import DetectionPostprocess
from .predict import detect

__all__ = [
    "BBoxBlock",
    "BBoxLblBlock",
    "TensorBBox",
    "TensorBBoxLabel",
    "get_annotations",
    "DetectionInterpretation",
    "DetectionLearner",
    "build_detector",
    "detection_learner",
    "FCOSLoss",
    "MeanAveragePrecision",
    "coco_evaluate",
    "to_coco",
    "FCOS",
    "DetectionPostprocess",
    "detect",
    "batched_nms",
    "box_iou",
    "generalized_box_iou",
    "nms",
]
