"""The core's callbacks."""

from .csv_logger import CSVLogger
from .gather import GatherPredsCallback
from .progress import ProgressCallback
from .recorder import Recorder
from .schedule import LRFinderCallback, ParamScheduler, SuggestedLRs, minimum, steep, valley
from .tracker import (
    EarlyStoppingCallback,
    ReduceLROnPlateau,
    SaveModelCallback,
    TrackerCallback,
)
from .training import (
    GradientAccumulationCallback,
    GradientClipCallback,
    TerminateOnNaNCallback,
)

__all__ = [
    "CSVLogger", "GatherPredsCallback", "ProgressCallback", "Recorder", "LRFinderCallback",
    "ParamScheduler", "SuggestedLRs", "minimum", "steep", "valley", "EarlyStoppingCallback",
    "ReduceLROnPlateau", "SaveModelCallback", "TrackerCallback", "GradientAccumulationCallback",
    "GradientClipCallback", "TerminateOnNaNCallback",
]
