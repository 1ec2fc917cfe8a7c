"""The core's public names: what `import fastlearn` offers (`fastlearn.Learner`,
`from fastlearn import *`). `fastlearn` imports this module, and with it torch, on the
first use of one of these names, so that `fastlearn --help` answers without torch.
A new public name of the core goes here, in the imports and in `__all__`.
"""

from .annealing import (
    combine_scheds,
    combined_cos,
    flat_cos,
    one_cycle_lr,
    one_cycle_mom,
    sched_cos,
    sched_exp,
    sched_lin,
    sched_no,
)
from .callback import (
    EVENTS,
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)
from .callbacks import (
    BnFreeze,
    ChannelsLastCallback,
    CheckpointCallback,
    CSVLogger,
    CutMix,
    DistributedCallback,
    EarlyStoppingCallback,
    GradientAccumulationCallback,
    GradientClipCallback,
    LRFinderCallback,
    MixedPrecisionCallback,
    MixUp,
    ParamScheduler,
    ProgressCallback,
    Recorder,
    ReduceLROnPlateau,
    SaveModelCallback,
    SuggestedLRs,
    TerminateOnNaNCallback,
    TrackerCallback,
    minimum,
    slide,
    steep,
    valley,
)
from .collections import L, first
from .data import Categorize, DataLoader, DataLoaders, ItemDataset, MultiCategorize
from .datablock import (
    CategoryBlock,
    DataBlock,
    DataBlockError,
    Datasets,
    MultiCategoryBlock,
    RegressionBlock,
    TransformBlock,
)
from .download import URLs, download_url, fastlearn_home, untar_data
from .export import Predictor, load_learner, register_builder
from .getters import ColReader, RegexLabeller, get_files, parent_label, using_attr
from .interpret import ClassificationInterpretation
from .learner import Learner
from .losses import (
    BCEWithLogitsLossFlat,
    CrossEntropyLossFlat,
    FocalLossFlat,
    L1LossFlat,
    LabelSmoothingCrossEntropy,
    MSELossFlat,
    class_weights,
)
from .metrics import *  # noqa: F403 (the metrics module defines an explicit __all__)
from .metrics import __all__ as _metrics_all
from .optim import SGD, Adam, AdamW, OptimWrapper, RMSprop, lr_range, trainable_params
from .sampling import ImbalancedSampler
from .splitters import (
    ColSplitter,
    FileSplitter,
    FuncSplitter,
    GrandparentSplitter,
    IndexSplitter,
    MaskSplitter,
    RandomSplitter,
    RandomSubsetSplitter,
    TimeSplitter,
    TrainTestSplitter,
)
from .torch_utils import default_device, set_seed, to_device

__all__ = [
    "EVENTS", "Callback", "CancelBackwardException", "CancelBatchException",
    "CancelEpochException", "CancelFitException", "CancelStepException",
    "CancelTrainException", "CancelValidException", "BnFreeze", "CSVLogger", "CutMix", "MixUp",
    "ChannelsLastCallback",
    "CheckpointCallback", "DistributedCallback", "MixedPrecisionCallback", "EarlyStoppingCallback",
    "GradientAccumulationCallback", "GradientClipCallback", "LRFinderCallback",
    "ParamScheduler", "ProgressCallback", "Recorder", "ReduceLROnPlateau", "SaveModelCallback",
    "SuggestedLRs", "TerminateOnNaNCallback", "TrackerCallback", "Categorize", "DataLoader",
    "DataLoaders", "ItemDataset", "MultiCategorize", "URLs", "download_url", "fastlearn_home",
    "untar_data", "Predictor", "load_learner", "register_builder",
    "ClassificationInterpretation", "Learner", "BCEWithLogitsLossFlat", "CrossEntropyLossFlat",
    "FocalLossFlat",
    "L1LossFlat", "LabelSmoothingCrossEntropy", "MSELossFlat", "class_weights", "SGD", "Adam",
    "AdamW", "OptimWrapper", "RMSprop", "lr_range", "trainable_params", "ImbalancedSampler",
    "combine_scheds", "combined_cos", "flat_cos", "one_cycle_lr", "one_cycle_mom", "sched_cos",
    "sched_exp", "sched_lin", "sched_no", "ColSplitter", "FuncSplitter", "GrandparentSplitter",
    "IndexSplitter", "RandomSplitter", "TimeSplitter", "default_device", "set_seed",
    "to_device", *_metrics_all,
    # the DataBlock API
    "L", "first", "DataBlock", "DataBlockError", "Datasets", "TransformBlock", "CategoryBlock",
    "MultiCategoryBlock", "RegressionBlock", "ColReader", "RegexLabeller", "get_files",
    "parent_label", "using_attr", "FileSplitter", "MaskSplitter", "RandomSubsetSplitter",
    "TrainTestSplitter",
    # lr_find's suggestion rules
    "minimum", "slide", "steep", "valley",
]
