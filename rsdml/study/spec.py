"""The study file: its parsing, and the checks that run before any cell does.

A study is a YAML file (or the name of a preset in ``rsdml/studies/``)::

    name: quick
    notebook: train              # notebooks/train.py, run once per grid cell
    shared: {dataset: synthetic, mode: frozen, epochs: 30}
    methods: [nsl, arcface, trnsl]
    seeds: [0, 1]
    settings:                    # named settings: TrainConfig overrides
      clean: {}
      uniform-0.5: {noise: uniform, noise_rate: 0.5}
    only: {uniform-0.5: [nsl, trnsl]}   # optional: restrict a setting to some methods
    report: [results, embeddings, rank_analysis, data_overview]
    report_parameters: {embeddings: {noisy_setting: uniform-0.5}}   # optional overrides
    cpu_kernels: portable        # optional: the CPU kernels of its processes (rsdml.cpu_kernels)

Every key of ``shared`` and of a setting is a :class:`~rsdml.train.TrainConfig` field: a cell's
configuration is ``{**shared, **setting, method, seed}`` (:func:`cell_config`), passed to the
notebook as its one ``config`` parameter and to ``TrainConfig.from_dict`` unchanged.
:func:`load_study` checks every key, every cell's configuration and every report parameter
before anything runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsdml.cpu_kernels import CHOICE_MEANINGS, CHOICES
from rsdml.errors import UserError, did_you_mean
from rsdml.execution import NOTEBOOKS_DIR, parameter_names
from rsdml.train.config import ConfigError, field_names

PRESETS_DIR = Path(__file__).parent.parent / "studies"

# The parameters a grid notebook takes (see notebooks/train.py) and those the runner sets itself.
GRID_PARAMETERS = ("config", "setting", "out_dir")
# Set by the grid (``methods``, ``seeds``): the same key in shared or a setting would be overridden.
GRID_KEYS = ("method", "seed")
# Set by the runner for every report notebook.
REPORT_RUNNER_PARAMETERS = ("study_dir", "figures_dir")


class StudyError(UserError, ValueError):
    """A study file that cannot be run as written, or a study folder that cannot be written."""


@dataclass
class Study:
    """A parsed study file."""

    name: str
    notebook: str
    shared: dict[str, Any]
    methods: list[str]
    seeds: list[int]
    settings: dict[str, dict[str, Any]]
    only: dict[str, list[str]] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    report_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""
    cpu_kernels: str | None = None
    """The kernels of the study's notebook kernels and jobs (:mod:`rsdml.cpu_kernels`); None:
    this process's choice."""


# Report notebooks that were split in two: a study folder written before the split names the
# first alone in its study.json; reading it back puts the second after it (see stored_study).
SPLIT_REPORTS = {"embeddings": "noisy_embeddings"}


def stored_study(data: dict[str, Any]) -> Study:
    """The study of a study folder's ``study.json`` (``data``, as read), with the report of
    the current notebooks: where it names a notebook of :data:`SPLIT_REPORTS` and not its
    second half, the second half runs after it, and each of the two takes the stored report
    parameters it accepts (the embeddings maps of noisy settings moved this way)."""
    study = Study(**data)
    for first, second in SPLIT_REPORTS.items():
        if first not in study.report or second in study.report:
            continue
        study.report.insert(study.report.index(first) + 1, second)
        given = study.report_parameters.pop(first, {})
        for name in (first, second):
            takes = parameter_names(NOTEBOOKS_DIR / f"{name}.py")
            kept = {key: value for key, value in given.items() if key in takes}
            if kept:
                study.report_parameters[name] = kept
    return study


def available_presets() -> list[str]:
    """Names of the studies shipped with rsdml."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_study(spec: str | os.PathLike) -> Study:
    """Read a study from a YAML file or a preset name, validating every key."""
    path = Path(spec)
    if not path.exists():
        preset = PRESETS_DIR / f"{spec}.yaml"
        if not preset.exists():
            raise StudyError(
                f"no study file {str(spec)!r} and no preset of that name; "
                f"presets: {', '.join(available_presets())}"
            )
        path = preset
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StudyError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping of keys (name, shared, methods...)")
    known = {
        "name",
        "notebook",
        "shared",
        "methods",
        "seeds",
        "settings",
        "only",
        "report",
        "report_parameters",
        "cpu_kernels",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        hints = ", ".join(f"{name!r}{did_you_mean(str(name), known)}" for name in unknown)
        raise StudyError(f"{path}: unknown key(s) {hints}; known keys: {sorted(known)}")
    for required in ("methods", "settings"):
        if not raw.get(required):
            raise StudyError(f"{path}: '{required}' is missing or empty")
    _check_shapes(path, raw)
    study = Study(
        name=str(raw.get("name", path.stem)),
        notebook=str(raw.get("notebook", "train")),
        shared=dict(raw.get("shared") or {}),
        methods=[str(m) for m in raw["methods"]],
        seeds=[int(s) for s in raw.get("seeds", [0])],
        settings={str(k): dict(v or {}) for k, v in raw["settings"].items()},
        only={str(k): [str(m) for m in v] for k, v in (raw.get("only") or {}).items()},
        report=[str(r) for r in raw.get("report", [])],
        report_parameters={
            str(k): dict(v or {}) for k, v in (raw.get("report_parameters") or {}).items()
        },
        source=str(path),
        cpu_kernels=_cpu_kernels(path, raw.get("cpu_kernels")),
    )
    for setting in study.only:
        if setting not in study.settings:
            raise StudyError(
                f"{path}: 'only' names setting {setting!r}, which is not in 'settings'"
            )
    for name in [study.notebook, *study.report]:
        if not (NOTEBOOKS_DIR / f"{name}.py").exists():
            raise StudyError(f"{path}: notebook {name!r} not found in {NOTEBOOKS_DIR}")
    _check_grid(path, study)
    _check_report_parameters(path, study)
    return study


def _cpu_kernels(path: Path, value: Any) -> str | None:
    """The study's ``cpu_kernels``, one of :data:`rsdml.cpu_kernels.CHOICES` or None."""
    if value is None:
        return None
    if value not in CHOICES:
        meanings = "; ".join(f"{choice}: {meaning}" for choice, meaning in CHOICE_MEANINGS.items())
        raise StudyError(
            f"{path}: cpu_kernels {value!r}{did_you_mean(str(value), CHOICES)} is not one of "
            f"{', '.join(CHOICES)} ({meanings}); or leave it out to use this process's choice"
        )
    return str(value)


def _check_shapes(path: Path, raw: dict[str, Any]) -> None:
    """Refuse values of the wrong kind before they are converted (a list where a mapping goes)."""
    for key in ("shared", "settings", "only", "report_parameters"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise StudyError(f"{path}: '{key}' must be a mapping, got {raw[key]!r}")
    for key in ("methods", "seeds", "report"):
        if raw.get(key) is not None and not isinstance(raw[key], list):
            raise StudyError(f"{path}: '{key}' must be a list, got {raw[key]!r}")
    for seed in raw.get("seeds") or []:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise StudyError(f"{path}: seeds must be integers, got {seed!r}")
    for group in ("settings", "only", "report_parameters"):
        for name, value in (raw.get(group) or {}).items():
            kind = list if group == "only" else dict
            if value is not None and not isinstance(value, kind):
                what = "a list of methods" if kind is list else "a mapping of parameters"
                raise StudyError(f"{path}: {group}.{name} must be {what}, got {value!r}")


def cell_config(study: Study, setting: str, method: str, seed: int) -> dict[str, Any]:
    """The whole training configuration of one cell, as ``TrainConfig.from_dict`` takes it."""
    return {**study.shared, **study.settings[setting], "method": method, "seed": seed}


def _check_grid(path: Path, study: Study) -> None:
    """Check every key of ``shared`` and the settings, and every cell's configuration."""
    from rsdml.losses import METHODS
    from rsdml.train import TrainConfig

    takes = parameter_names(NOTEBOOKS_DIR / f"{study.notebook}.py")
    missing = [name for name in GRID_PARAMETERS if name not in takes]
    if missing:
        raise StudyError(
            f"{path}: notebook {study.notebook!r} cannot run a grid: its parameters cell lacks "
            f"{missing}; a grid notebook takes {list(GRID_PARAMETERS)} like notebooks/train.py"
        )
    fields = field_names()
    places = {"shared": study.shared, **{f"setting {k!r}": v for k, v in study.settings.items()}}
    for place, values in places.items():
        for key in values:
            if key in GRID_KEYS:
                raise StudyError(
                    f"{path}: {place} sets {key!r}, which the study's '{key}s' list sets for "
                    f"every cell; remove it there and list the {key}s under '{key}s'"
                )
            if key not in fields:
                raise StudyError(
                    f"{path}: {place} has unknown training option {key!r}"
                    f"{did_you_mean(str(key), fields)}; any TrainConfig field is accepted: {fields}"
                )
    for setting in study.settings:
        for method in study.only.get(setting, study.methods):
            where = f"{path}: setting {setting!r}, method {method!r}"
            if method not in METHODS:
                raise StudyError(
                    f"{where}: unknown method{did_you_mean(method, METHODS)}; "
                    f"available: {', '.join(METHODS)}"
                )
            config = cell_config(study, setting, method, study.seeds[0] if study.seeds else 0)
            try:
                TrainConfig.from_dict(config).validate()
            except ConfigError as error:
                raise StudyError(f"{where}: {error}") from error
            accepted = METHODS[method].defaults
            for name in config.get("loss_params") or {}:
                if name not in accepted:
                    raise StudyError(
                        f"{where}: loss_params has {name!r}{did_you_mean(name, accepted)}, which "
                        f"{method} does not take; its parameters: {sorted(accepted)}"
                    )


def _check_report_parameters(path: Path, study: Study) -> None:
    """Check that every report parameter names a notebook and one of its parameters."""
    # a notebook left out of 'report' may keep its parameters (switched off for a while); a
    # misspelt one would be ignored for good
    notebooks = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py"))
    for name, parameters in study.report_parameters.items():
        if name not in notebooks:
            raise StudyError(
                f"{path}: report_parameters names {name!r}{did_you_mean(name, notebooks)}, which is "
                f"not a notebook (they are {notebooks}); fix or remove it"
            )
        takes = parameter_names(NOTEBOOKS_DIR / f"{name}.py")
        for key in parameters:
            if key in REPORT_RUNNER_PARAMETERS:
                raise StudyError(
                    f"{path}: report_parameters.{name} sets {key!r}, which the runner sets "
                    "(the study folder and --figures); remove it"
                )
            if key not in takes:
                options = [p for p in takes if p not in REPORT_RUNNER_PARAMETERS]
                raise StudyError(
                    f"{path}: report_parameters.{name} has unknown parameter {key!r}"
                    f"{did_you_mean(str(key), options)}; notebook {name} takes {options}"
                )
