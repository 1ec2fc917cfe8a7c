"""Image architectures (ResNet, EfficientNet-Lite0, a small CNN, U-Net) and transfer-learning parts.

>>> from fastlearn.vision.models import create_vision_model, vision_splitter
>>> model = create_vision_model("resnet34", n_out=2, pretrained=False)
"""

from fastlearn.vision.models.efficientnet import (
    EFFICIENTNET_LITE_STATS,
    EfficientNetLite,
    efficientnet_lite0,
)
from fastlearn.vision.models.heads import (
    adapt_first_conv,
    body_split_index,
    create_body,
    create_head,
    create_unet_encoder,
    create_vision_model,
    num_features_model,
    vision_splitter,
)
from fastlearn.vision.models.layers import AdaptiveConcatPool2d, PixelShuffleICNR
from fastlearn.vision.models.registry import (
    IMAGENET_STATS,
    Arch,
    ArchMeta,
    UnknownArchError,
    get_arch,
    list_archs,
    register_arch,
)
from fastlearn.vision.models.resnet import (
    RESNET_WEIGHT_URLS,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from fastlearn.vision.models.simple_cnn import simple_cnn
from fastlearn.vision.models.unet import DynamicUnet, unet_splitter
from fastlearn.vision.models.xresnet import (
    XResNet,
    xresnet18,
    xresnet34,
    xresnet50,
    xresnet101,
    xresnet152,
)

__all__ = [
    "EFFICIENTNET_LITE_STATS",
    "IMAGENET_STATS",
    "RESNET_WEIGHT_URLS",
    "AdaptiveConcatPool2d",
    "Arch",
    "ArchMeta",
    "DynamicUnet",
    "EfficientNetLite",
    "PixelShuffleICNR",
    "ResNet",
    "UnknownArchError",
    "adapt_first_conv",
    "body_split_index",
    "create_body",
    "create_unet_encoder",
    "create_head",
    "create_vision_model",
    "efficientnet_lite0",
    "get_arch",
    "list_archs",
    "num_features_model",
    "register_arch",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "simple_cnn",
    "unet_splitter",
    "vision_splitter",
    "XResNet",
    "xresnet18",
    "xresnet34",
    "xresnet50",
    "xresnet101",
    "xresnet152",
]
