"""The core's callbacks."""

from .csv_logger import CSVLogger
from .distributed import DistributedCallback
from .gather import GatherPredsCallback
from .mixup import CutMix, MixHandler, MixUp
from .precision import ChannelsLastCallback, MixedPrecisionCallback
from .progress import ProgressCallback
from .recorder import Recorder
from .resume import CheckpointCallback
from .schedule import (
    LRFinderCallback,
    ParamScheduler,
    SuggestedLRs,
    minimum,
    slide,
    steep,
    valley,
)
from .tracker import (
    EarlyStoppingCallback,
    ReduceLROnPlateau,
    SaveModelCallback,
    TrackerCallback,
)
from .training import (
    BnFreeze,
    GradientAccumulationCallback,
    GradientClipCallback,
    TerminateOnNaNCallback,
)

__all__ = [
    "CSVLogger",
    "DistributedCallback",
    "ChannelsLastCallback",
    "MixedPrecisionCallback",
    "CheckpointCallback",
    "GatherPredsCallback",
    "ProgressCallback",
    "Recorder",
    "LRFinderCallback",
    "ParamScheduler",
    "SuggestedLRs",
    "minimum",
    "slide",
    "steep",
    "valley",
    "EarlyStoppingCallback",
    "ReduceLROnPlateau",
    "SaveModelCallback",
    "TrackerCallback",
    "GradientAccumulationCallback",
    "GradientClipCallback",
    "TerminateOnNaNCallback",
    "BnFreeze",
    "MixHandler",
    "MixUp",
    "CutMix",
]
