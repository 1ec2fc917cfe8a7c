"""fastlearn: the fast.ai course's deep-learning workflow on plain PyTorch.

    from fastlearn import *
    learn = Learner(dls, model, metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)

Importing fastlearn loads torch and numpy only; matplotlib, pandas, scikit-learn and
transformers are imported when a feature needs them. The applications live in
`fastlearn.vision`, `fastlearn.text`, `fastlearn.tabular` and `fastlearn.collab`
(`from fastlearn.vision.all import *` mirrors the course's `from fastai.vision.all import *`).
"""

from .core.callback import (
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
from .core.callbacks import (
    BnFreeze,
    ChannelsLastCallback,
    CheckpointCallback,
    CSVLogger,
    DistributedCallback,
    EarlyStoppingCallback,
    GradientAccumulationCallback,
    GradientClipCallback,
    LRFinderCallback,
    MixedPrecisionCallback,
    ParamScheduler,
    ProgressCallback,
    Recorder,
    ReduceLROnPlateau,
    SaveModelCallback,
    SuggestedLRs,
    TerminateOnNaNCallback,
    TrackerCallback,
)
from .core.collections import L, first
from .core.data import Categorize, DataLoader, DataLoaders, ItemDataset, MultiCategorize
from .core.datablock import (
    CategoryBlock,
    DataBlock,
    DataBlockError,
    Datasets,
    MultiCategoryBlock,
    RegressionBlock,
    TransformBlock,
)
from .core.download import URLs, download_url, fastlearn_home, untar_data
from .core.export import Predictor, load_learner, register_builder
from .core.getters import ColReader, RegexLabeller, get_files, parent_label, using_attr
from .core.interpret import ClassificationInterpretation
from .core.learner import Learner
from .core.losses import (
    BCEWithLogitsLossFlat,
    CrossEntropyLossFlat,
    FocalLossFlat,
    L1LossFlat,
    LabelSmoothingCrossEntropy,
    MSELossFlat,
    class_weights,
)
from .core.metrics import *  # noqa: F403 (the metrics module defines an explicit __all__)
from .core.metrics import __all__ as _metrics_all
from .core.optim import SGD, Adam, AdamW, OptimWrapper, RMSprop, lr_range, trainable_params
from .core.sampling import ImbalancedSampler
from .core.schedule import (
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
from .core.splitters import (
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
from .core.torch_utils import default_device, set_seed, to_device

__version__ = "0.1.0"

__all__ = [
    "EVENTS", "Callback", "CancelBackwardException", "CancelBatchException",
    "CancelEpochException", "CancelFitException", "CancelStepException",
    "CancelTrainException", "CancelValidException", "BnFreeze", "CSVLogger", "ChannelsLastCallback",
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
]
