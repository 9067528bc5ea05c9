"""Losses of the study, one method per module, each registered beside its class.

>>> from rsdml.losses import create, METHODS
>>> loss = create("trnsl", num_classes=21, dim=128, num_samples=1470, q=0.7)
>>> METHODS["trnsl"].hooks
frozenset({'pruning'})

Every loss is a :class:`MetricLoss`: ``loss(batch)`` returns a scalar for a :class:`Batch`, and
``loss.needs`` (a :class:`Needs`) says what the training loop must do for it. A new method is one
module with a ``@register_method(...)`` class, imported below.
"""

# ruff: noqa: I001 -- the imports below register the methods: their order is the table's order.
from rsdml.losses.base import HOOK_NAMES, Batch, MetricLoss, Needs, PrototypeLoss
from rsdml.losses.registry import (
    FAMILIES,
    METHODS,
    LossParameterError,
    MethodInfo,
    UnknownMethodError,
    available,
    check_params,
    create,
    register_method,
)
from rsdml.losses.classification import MeanAbsoluteErrorLoss, SoftmaxCrossEntropyLoss
from rsdml.losses.contrastive import DCNNContrastiveLoss
from rsdml.losses.triplet import TripletLoss
from rsdml.losses.nsl import ArcFaceLoss, NormalizedSoftmaxLoss
from rsdml.losses.snca import SNCACEMemoryBank, SNCACEMomentum, SNCAMemoryBank, SNCAMomentum
from rsdml.losses.hr_s2dml import HRS2DMLLoss
from rsdml.losses.rnsl import RobustNormalizedSoftmaxLoss, TruncatedRNSL
from rsdml.losses.srl import SimilarityRetentionLoss

__all__ = [
    "FAMILIES",
    "HOOK_NAMES",
    "METHODS",
    "ArcFaceLoss",
    "Batch",
    "DCNNContrastiveLoss",
    "HRS2DMLLoss",
    "LossParameterError",
    "MeanAbsoluteErrorLoss",
    "MethodInfo",
    "MetricLoss",
    "Needs",
    "NormalizedSoftmaxLoss",
    "PrototypeLoss",
    "RobustNormalizedSoftmaxLoss",
    "SNCACEMemoryBank",
    "SNCACEMomentum",
    "SNCAMemoryBank",
    "SNCAMomentum",
    "SimilarityRetentionLoss",
    "SoftmaxCrossEntropyLoss",
    "TripletLoss",
    "TruncatedRNSL",
    "UnknownMethodError",
    "available",
    "check_params",
    "create",
    "register_method",
]
