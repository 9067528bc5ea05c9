"""The training engine: one loop for every method, in frozen-backbone and fine-tune modes."""

from rsdml.train.checkpoint import RunFolder, RunFolderConflict
from rsdml.train.config import TrainConfig
from rsdml.train.engine import (
    Trainer,
    TrainingDiverged,
    TrainingSetupError,
    fit,
    prepare_features,
)
from rsdml.train.prepare import RunData, build_inputs, prepare_data

__all__ = [
    "RunData",
    "RunFolder",
    "RunFolderConflict",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingSetupError",
    "build_inputs",
    "fit",
    "prepare_features",
    "prepare_data",
]
