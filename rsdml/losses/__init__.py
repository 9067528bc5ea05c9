"""Losses of the study, one method per module, and the registry that builds them by name.

>>> from rsdml.losses import create, METHODS
>>> loss = create("trnsl", num_classes=21, dim=128, num_samples=1470, q=0.7)
>>> METHODS["trnsl"].hooks
frozenset({'pruning'})

Every loss is a :class:`MetricLoss`: ``loss(batch)`` returns a scalar for a :class:`Batch`, and
the engine drives the hooks listed in ``METHODS[name].hooks`` (see :mod:`rsdml.losses.base`).
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any

from rsdml.errors import UserError
from rsdml.losses.base import HOOK_NAMES, Batch, MetricLoss, PrototypeLoss
from rsdml.losses.classification import MeanAbsoluteErrorLoss, SoftmaxCrossEntropyLoss
from rsdml.losses.contrastive import DCNNContrastiveLoss
from rsdml.losses.hr_s2dml import HRS2DMLLoss
from rsdml.losses.nsl import ArcFaceLoss, NormalizedSoftmaxLoss
from rsdml.losses.rnsl import RobustNormalizedSoftmaxLoss, TruncatedRNSL
from rsdml.losses.snca import SNCACEMemoryBank, SNCACEMomentum, SNCAMemoryBank, SNCAMomentum
from rsdml.losses.srl import SimilarityRetentionLoss
from rsdml.losses.triplet import TripletLoss


class UnknownMethodError(UserError, KeyError):
    """No method is registered under that name; the message lists the available ones."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: quotes around the whole message.
        return str(self.args[0]) if self.args else ""


class LossParameterError(UserError, TypeError):
    """A loss parameter the method does not have, or a value of the wrong type."""


FAMILIES = ("proxy", "pair", "memory", "semi-supervised", "robust", "classifier")
#: Arguments that ``create`` supplies from the data rather than from the method's settings.
STRUCTURAL_ARGUMENTS = ("num_classes", "dim", "num_samples")


@dataclass(frozen=True)
class MethodInfo:
    """One row of the method table (it feeds the README and the docs).

    Attributes:
        name: registry name, e.g. ``"trnsl"``.
        title: human-readable method name.
        paper: short citation of the paper the method comes from.
        family: one of ``FAMILIES``.
        description: one line on what the loss does.
        formula: the loss in LaTeX-ish plain text.
        loss_class: the :class:`MetricLoss` subclass ``create`` instantiates.
        defaults: the method's hyper-parameters and their defaults (read from ``loss_class``'s
            signature, so they cannot drift from the code).
        hooks: engine hooks the loss needs.
        sampler: ``"random"`` or ``"balanced"`` (class-balanced batches for in-batch pair losses).
        has_class_probabilities: whether ``class_probabilities`` works (prototype losses).
    """

    name: str
    title: str
    paper: str
    family: str
    description: str
    formula: str
    loss_class: type[MetricLoss]
    defaults: dict[str, Any] = field(init=False)
    hooks: frozenset[str] = field(init=False)
    sampler: str = field(init=False)
    has_class_probabilities: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r} for {self.name}")
        object.__setattr__(self, "defaults", _hyper_parameters(self.loss_class))
        object.__setattr__(self, "hooks", self.loss_class.hooks)
        object.__setattr__(self, "sampler", self.loss_class.sampler)
        object.__setattr__(self, "has_class_probabilities", self.loss_class.has_class_probabilities)

    def as_row(self) -> dict[str, str]:
        """The entry as strings, for a Markdown table."""
        return {
            "name": self.name,
            "title": self.title,
            "paper": self.paper,
            "family": self.family,
            "hooks": ", ".join(sorted(self.hooks)) or "-",
            "sampler": self.sampler,
            "defaults": ", ".join(f"{key}={_short(value)}" for key, value in self.defaults.items()),
            "description": self.description,
            "formula": self.formula,
        }


def _short(value: Any) -> str:
    """A default as a table shows it: floats to 4 significant digits (30/130 is 0.2308)."""
    if isinstance(value, float):
        text = f"{value:.4g}"
        # 1.0 stays a float to the eye: check_params tells numbers from flags by their default
        return text if any(mark in text for mark in ".en") else f"{text}.0"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_short(item) for item in value) + ")"
    return repr(value)


def _hyper_parameters(loss_class: type[MetricLoss]) -> dict[str, Any]:
    """The keyword defaults of ``loss_class.__init__`` minus the structural arguments."""
    parameters = inspect.signature(loss_class.__init__).parameters
    return {
        name: parameter.default
        for name, parameter in parameters.items()
        if name != "self"
        and name not in STRUCTURAL_ARGUMENTS
        and parameter.default is not inspect.Parameter.empty
    }


_KANG_TGRS_SNCA = "Kang et al., IEEE TGRS 58(12), 2020 (SNCA-CE)"
_KANG_TGRS_RNSL = "Kang et al., IEEE TGRS 2021, doi:10.1109/TGRS.2020.3042607 (RNSL)"
_SNCA = "p_ij = exp(f_i.m_j/sigma) / sum_{k!=i} exp(f_i.m_k/sigma); L = -1/B sum_i log sum_{j!=i, y_j=y_i} p_ij"

_ENTRIES = (
    MethodInfo(
        name="ce",
        title="Softmax cross-entropy",
        paper="standard classification baseline",
        family="classifier",
        description="Softmax cross-entropy of a linear classifier on the raw embedding v.",
        formula="L = -1/B sum_i log softmax(U v_i + b)_{y_i}",
        loss_class=SoftmaxCrossEntropyLoss,
    ),
    MethodInfo(
        name="mae",
        title="MAE",
        paper="Ghosh et al., AAAI 2017; baseline of " + _KANG_TGRS_RNSL,
        family="robust",
        description="Mean absolute error of the prototype softmax, the q = 1 limit of RNSL.",
        formula="L = 1/B sum_i (1 - p_{i,y_i}),  p_ic = softmax_c(w_c.f_i / tau)",
        loss_class=MeanAbsoluteErrorLoss,
    ),
    MethodInfo(
        name="dcnn",
        title="D-CNN",
        paper="Cheng et al., IEEE TGRS 56(5), 2018",
        family="pair",
        description="Contrastive hinge: positive pairs below tau - beta, negatives beyond tau + beta.",
        formula="L = mean_pos [d^2 - (tau - beta)]_+ + mean_neg [(tau + beta) - d^2]_+",
        loss_class=DCNNContrastiveLoss,
    ),
    MethodInfo(
        name="triplet",
        title="Triplet",
        paper="Schroff et al., CVPR 2015; Hermans et al., arXiv 1703.07737",
        family="pair",
        description="Triplet margin loss with batch-hard (default) or semi-hard in-batch mining.",
        formula="L = mean_a [max_p d(a,p) - min_n d(a,n) + margin]_+",
        loss_class=TripletLoss,
    ),
    MethodInfo(
        name="nsl",
        title="NSL",
        paper="Zhai & Wu, BMVC 2019",
        family="proxy",
        description="Normalised softmax over learnable class prototypes with temperature tau.",
        formula="L = -1/B sum_i log softmax_c(w_c.f_i / tau)_{y_i}",
        loss_class=NormalizedSoftmaxLoss,
    ),
    MethodInfo(
        name="arcface",
        title="ArcFace",
        paper="Deng et al., CVPR 2019",
        family="proxy",
        description="Normalised softmax with an additive angular margin m on the target class.",
        formula=(
            "L = -1/B sum_i log e^{psi_i/tau} / (e^{psi_i/tau} + sum_{c!=y_i} e^{cos theta_ic/tau}),"
            " psi = cos(theta + m) if cos theta > cos(pi - m) else cos theta - m sin m"
        ),
        loss_class=ArcFaceLoss,
    ),
    MethodInfo(
        name="snca_mb",
        title="SNCA (MB)",
        paper="Wu et al., ECCV 2018; " + _KANG_TGRS_SNCA,
        family="memory",
        description="Neighbourhood components against a momentum-averaged memory bank of all samples.",
        formula=_SNCA + "; m_i <- normalise(alpha m_i + (1 - alpha) f_i)",
        loss_class=SNCAMemoryBank,
    ),
    MethodInfo(
        name="snca_mu",
        title="SNCA (MU)",
        paper=_KANG_TGRS_SNCA,
        family="memory",
        description="Neighbourhood components against a memory refreshed by an EMA encoder.",
        formula=_SNCA + "; m_i <- f^_i (EMA encoder)",
        loss_class=SNCAMomentum,
    ),
    MethodInfo(
        name="snca_ce_mb",
        title="SNCA-CE (MB)",
        paper=_KANG_TGRS_SNCA,
        family="memory",
        description="lambda x SNCA on a memory bank plus cross-entropy of a classifier on v.",
        formula="L = lambda L_SNCA(f; M) + CE(U v + b);  " + _SNCA,
        loss_class=SNCACEMemoryBank,
    ),
    MethodInfo(
        name="snca_ce_mu",
        title="SNCA-CE (MU)",
        paper=_KANG_TGRS_SNCA,
        family="memory",
        description="lambda x SNCA on an EMA-encoder memory plus cross-entropy of a classifier on v.",
        formula="L = lambda L_SNCA(f; M) + CE(U v + b);  " + _SNCA,
        loss_class=SNCACEMomentum,
    ),
    MethodInfo(
        name="hr_s2dml",
        title="HR-S2DML",
        paper="Kang et al., Remote Sens. 12(16), 2603, 2020",
        family="semi-supervised",
        description="ArcFace-style NSL on labelled data plus batch nuclear-norm maximisation on unlabelled data.",
        formula="L = L_ArcFace + lambda (-||P||_* / B),  P_ic = softmax_c(w_c.f^u_i / tau)",
        loss_class=HRS2DMLLoss,
    ),
    MethodInfo(
        name="rnsl",
        title="RNSL",
        paper=_KANG_TGRS_RNSL,
        family="robust",
        description="Box-Cox (generalised cross-entropy) loss on the normalised-softmax probability.",
        formula="L = 1/B sum_i (1 - p_{i,y_i}^q) / q",
        loss_class=RobustNormalizedSoftmaxLoss,
    ),
    MethodInfo(
        name="trnsl",
        title="t-RNSL",
        paper=_KANG_TGRS_RNSL,
        family="robust",
        description="Truncated RNSL: samples with p_y <= k are pruned at scheduled epochs.",
        formula="L = 1/B sum_i w_i [L_q(p_{i,y_i}) - L_q(k)],  w_i = 1[p_{i,y_i} > k] at pruning",
        loss_class=TruncatedRNSL,
    ),
    MethodInfo(
        name="srl",
        title="SRL (our reconstruction)",
        paper="Zhao, Yuan & Zhao, ISPRS IJGI 9(2), 61, 2020",
        family="pair",
        description="Ranked-list-style loss keeping each class's spread inside a boundary, with mined, weighted pairs.",
        formula=(
            "L = 1/B sum_i [(1 + beta |E_i|/|P_i|) mean_{j in H_i} [d_ij - (alpha - m)]_+"
            " + lambda_n sum_{j in N*_i} omega_ij [alpha - d_ij]_+],"
            " omega_ij ~ exp(T_n (alpha - d_ij))"
        ),
        loss_class=SimilarityRetentionLoss,
    ),
)

METHODS: dict[str, MethodInfo] = {entry.name: entry for entry in _ENTRIES}


def available() -> list[str]:
    """Registry names in table order."""
    return list(METHODS)


def _closest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _kind_of(default: Any) -> tuple[str, tuple[type, ...]] | None:
    """A readable kind and the accepted types for a value replacing ``default`` (None: any)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return "true or false", (bool,)
    if isinstance(default, int):
        return "an integer", (int,)
    if isinstance(default, float):
        return "a number", (int, float)
    if isinstance(default, str):
        return "a string", (str,)
    if isinstance(default, (tuple, list)):
        # JSON (the command line, study files) has lists where the defaults have tuples.
        return "a list", (tuple, list)
    return f"a {type(default).__name__}", (type(default),)


def check_params(name: str, params: dict[str, Any]) -> None:
    """Refuse an unknown method, unknown parameters and values unlike the parameter's default.

    Raises:
        UnknownMethodError: unknown method name.
        LossParameterError: a parameter the method does not have (naming the closest one), or a
            value of another type than the default (text for a number, a number for a flag...).
    """
    if name not in METHODS:
        raise UnknownMethodError(
            f"unknown method {name!r}{_closest(name, available())}; available: "
            f"{', '.join(available())} (`rsdml methods` lists them)"
        )
    defaults = METHODS[name].defaults
    accepted = ", ".join(f"{key}={value!r}" for key, value in defaults.items()) or "none"
    for key in params:
        if key in defaults:
            continue
        if not defaults:
            raise LossParameterError(f"method {name!r} takes no parameters; got {key!r}")
        if key in STRUCTURAL_ARGUMENTS:
            raise LossParameterError(
                f"{key} of method {name!r} is set from the data and the run, not as a loss "
                f"parameter; its parameters (with defaults) are: {accepted}"
            )
        raise LossParameterError(
            f"method {name!r} has no parameter {key!r}{_closest(key, list(defaults))}; its "
            f"parameters (with defaults) are: {accepted}"
        )
    for key, value in params.items():
        kind = _kind_of(defaults[key])
        if kind is None:
            continue
        description, types = kind
        # bool is an int subclass, but true/false for a number (or 1 for a flag) is a mistake.
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            raise LossParameterError(
                f"parameter {key!r} of method {name!r} must be {description} like its default "
                f"{defaults[key]!r}; got {value!r} ({type(value).__name__})"
            )


def create(name: str, *, num_classes: int, dim: int, num_samples: int, **params: Any) -> MetricLoss:
    """Build the loss registered as ``name``.

    Args:
        name: one of :func:`available`.
        num_classes: number of classes C (prototypes, classifiers).
        dim: embedding dimension D.
        num_samples: training-set size N (memory slots, pruning weights).
        **params: hyper-parameters overriding ``METHODS[name].defaults``.

    Raises:
        UnknownMethodError: unknown method name (a ``KeyError``).
        LossParameterError: a parameter the method does not have, or a value of the wrong type
            (a ``TypeError``); see :func:`check_params`.
    """
    check_params(name, params)
    info = METHODS[name]
    structural = {"num_classes": num_classes, "dim": dim, "num_samples": num_samples}
    accepted = inspect.signature(info.loss_class.__init__).parameters
    arguments = {key: value for key, value in structural.items() if key in accepted}
    return info.loss_class(**arguments, **params)


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
]
