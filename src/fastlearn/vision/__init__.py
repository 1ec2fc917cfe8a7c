"""Vision: image files to batches, augmentation, CNN transfer learning, segmentation,
interpretation and export.

    from fastlearn.vision import ImageDataLoaders, Resize, get_image_files, vision_learner
    dls = ImageDataLoaders.from_name_func(path, get_image_files(path), is_cat,
                                          item_tfms=Resize(224))
    learn = vision_learner(dls, "efficientnet_lite0", metrics=error_rate)
    learn.fine_tune(1)

`import fastlearn` alone does not load this package; matplotlib is imported only to draw.
"""

from .augment import (
    AffineWarp,
    CenterResize,
    IntToFloat,
    ItemTransform,
    Lighting,
    Normalize,
    RandomResizedCrop,
    Resize,
    aug_transforms,
)
from .blocks import ImageBlock, MaskBlock, PointBlock, SpatialBlock
from .data import ImageDataLoaders, RegexLabeller, SegmentationDataLoaders
from .dataset import ImageDataset, collate_images
from .detection import (
    BBoxBlock,
    BBoxLblBlock,
    DetectionInterpretation,
    MeanAveragePrecision,
    TensorBBox,
    detection_learner,
    get_annotations,
)
from .export import VisionPredictor
from .geometry import TensorGeometry, TensorPoint
from .image import (
    IMAGE_EXTENSIONS,
    get_image_files,
    image_to_tensor,
    load_image,
    open_image,
    open_mask,
    verify_images,
)
from .interpret import (
    ClassificationInterpretation,
    Hook,
    Hooks,
    ImageClassificationInterpretation,
    SegmentationInterpretation,
    grad_cam,
    hook_output,
    hook_outputs,
    plot_grad_cam,
)
from .learner import VisionLearner, cnn_learner, unet_learner, vision_learner
from .models import (
    EFFICIENTNET_LITE_STATS,
    IMAGENET_STATS,
    DynamicUnet,
    UnknownArchError,
    create_body,
    create_head,
    create_unet_encoder,
    create_vision_model,
    efficientnet_lite0,
    get_arch,
    list_archs,
    register_arch,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    simple_cnn,
    unet_splitter,
    vision_splitter,
    xresnet18,
    xresnet34,
    xresnet50,
    xresnet101,
    xresnet152,
)
from .pil import PILImage, PILImageBW, image2tensor
from .probe import ProbeResult, linear_probe
from .show import show_image, show_image_batch, show_images

__all__ = [
    "AffineWarp", "CenterResize", "IntToFloat", "ItemTransform", "Lighting", "Normalize",
    "RandomResizedCrop", "Resize", "aug_transforms", "ImageDataLoaders", "RegexLabeller",
    "SegmentationDataLoaders", "ImageDataset", "collate_images", "VisionPredictor",
    "IMAGE_EXTENSIONS", "get_image_files", "image_to_tensor", "load_image", "open_image",
    "open_mask", "verify_images", "ClassificationInterpretation",
    "ImageClassificationInterpretation", "Hook", "Hooks",
    "SegmentationInterpretation", "grad_cam", "hook_output", "hook_outputs", "plot_grad_cam",
    "VisionLearner", "cnn_learner", "unet_learner", "vision_learner",
    "EFFICIENTNET_LITE_STATS", "IMAGENET_STATS", "DynamicUnet", "UnknownArchError",
    "create_body", "create_head", "create_unet_encoder", "create_vision_model",
    "efficientnet_lite0", "get_arch", "list_archs", "register_arch", "resnet18", "resnet34",
    "resnet50", "resnet101", "resnet152",
    "simple_cnn", "unet_splitter", "vision_splitter", "xresnet18", "xresnet34", "xresnet50",
    "xresnet101", "xresnet152", "show_image_batch", "show_images",
    "ImageBlock", "MaskBlock", "PointBlock", "SpatialBlock", "TensorGeometry", "TensorPoint",
    "PILImage", "PILImageBW", "image2tensor", "show_image", "ProbeResult", "linear_probe",
    "BBoxBlock", "BBoxLblBlock", "TensorBBox", "get_annotations", "detection_learner",
    "MeanAveragePrecision", "DetectionInterpretation",
]
