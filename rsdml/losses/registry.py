"""The method registry: every method registers its loss class beside it, timm-style.

>>> from rsdml.losses.registry import register_method
>>> @register_method("toy", title="Toy", paper="-", family="proxy",
...                  description="...", formula="...")  # doctest: +SKIP
... class ToyLoss(MetricLoss): ...

``METHODS`` maps each name to its :class:`MethodInfo` in registration (import) order, which is the
order of ``rsdml methods`` and of the docs' table; :func:`create` builds a loss by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rsdml.errors import UserError, did_you_mean
from rsdml.losses.base import MetricLoss


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
        hooks: the optional loop steps the loss needs (``loss_class.needs.hooks``).
        sampler: ``"random"`` or ``"balanced"`` (``loss_class.needs.sampler``).
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
        object.__setattr__(self, "hooks", self.loss_class.needs.hooks)
        object.__setattr__(self, "sampler", self.loss_class.needs.sampler)
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


#: Every registered method, in registration order (see :func:`register_method`).
METHODS: dict[str, MethodInfo] = {}

#: Citations shared by several methods.
KANG_TGRS_SNCA = "Kang et al., IEEE TGRS 58(12), 2020 (SNCA-CE)"
KANG_TGRS_RNSL = "Kang et al., IEEE TGRS 2021, doi:10.1109/TGRS.2020.3042607 (RNSL)"

LossClass = TypeVar("LossClass", bound=type[MetricLoss])


def register_method(
    name: str, *, title: str, paper: str, family: str, description: str, formula: str
) -> Callable[[LossClass], LossClass]:
    """Class decorator: register a :class:`MetricLoss` subclass as the method ``name``.

    The method's defaults, needs and sampler are read from the class itself, so the table cannot
    drift from the code. Registering a name twice is refused.

    Raises:
        ValueError: ``name`` is taken, or ``family`` is not one of ``FAMILIES``.
    """

    def register(loss_class: LossClass) -> LossClass:
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = MethodInfo(
            name=name,
            title=title,
            paper=paper,
            family=family,
            description=description,
            formula=formula,
            loss_class=loss_class,
        )
        return loss_class

    return register


def available() -> list[str]:
    """Registry names in table order."""
    return list(METHODS)


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
            f"unknown method {name!r}{did_you_mean(name, available(), cutoff=0.5)}; available: "
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
            f"method {name!r} has no parameter {key!r}{did_you_mean(key, defaults, cutoff=0.5)}; its "
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
    "METHODS",
    "STRUCTURAL_ARGUMENTS",
    "LossParameterError",
    "MethodInfo",
    "UnknownMethodError",
    "available",
    "check_params",
    "create",
    "register_method",
]
