"""The argument parser of every sub-command, with help texts read from where each default is
owned."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import inspect
from collections.abc import Sequence
from typing import Any

from rsdml.cli import commands
from rsdml.errors import DEBUG_ENV


def _train_default(name: str) -> Any:
    """The default of a TrainConfig field, where it is owned."""
    from rsdml.train.config import TrainConfig

    return {item.name: item.default for item in dataclasses.fields(TrainConfig)}[name]


def _by_mode(name: str) -> str:
    """``"100 in frozen mode, 130 in finetune mode"``: a default that depends on --mode."""
    from rsdml.train.config import FINETUNE_DEFAULTS, FROZEN_DEFAULTS

    return f"{FROZEN_DEFAULTS[name]:g} frozen, {FINETUNE_DEFAULTS[name]:g} finetune"


def _frozen_steps(name: str) -> str:
    """Frozen mode's training length (``"steps"``) or patience (``"patience"``) in steps."""
    from rsdml.train.config import FROZEN_PATIENCE_STEPS, FROZEN_STEPS

    return f"{FROZEN_STEPS if name == 'steps' else FROZEN_PATIENCE_STEPS:,}"


def _names(values: Sequence[str]) -> str:
    return ", ".join(values)


def _version() -> str:
    try:
        return importlib.metadata.version("rsdml")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown (not installed)"


class _Help:
    """Help texts whose defaults and allowed values are read from where they are owned."""

    def __init__(self) -> None:
        from rsdml.data import DATASETS
        from rsdml.data.splits import DEFAULT_FRACTIONS, DEFAULT_SEED
        from rsdml.losses import METHODS
        from rsdml.models.backbones import list_backbones
        from rsdml.models.features import VIEWS
        from rsdml.reference import evaluate_backbone
        from rsdml.runtime import PROGRESS_ENV
        from rsdml.storage import DATA_ENV, cache_dir
        from rsdml.study import EXECUTORS, ClusterOptions, available_presets, run_study
        from rsdml.train.config import (
            MODES,
            NOISE_KINDS,
            PROTOCOLS,
            UNLABELLED_POOLS,
            VIEWS_ALL_BELOW_PER_CLASS,
            TrainConfig,
        )

        self.datasets = _names(DATASETS)
        self.presets = available_presets()
        self.workers = inspect.signature(run_study).parameters["workers"].default
        self.executors = EXECUTORS
        self.executor = inspect.signature(run_study).parameters["executor"].default
        self.cluster = {item.name: item.default for item in dataclasses.fields(ClusterOptions)}
        self.methods = _names(METHODS)
        self.backbones = _names(list_backbones())
        self.modes, self.noise_kinds, self.pools = MODES, NOISE_KINDS, UNLABELLED_POOLS
        self.protocols = PROTOCOLS
        self.progress_env = PROGRESS_ENV
        self.split_seed, self.split_fractions = DEFAULT_SEED, list(DEFAULT_FRACTIONS)
        self.embed_image_size = (
            inspect.signature(evaluate_backbone).parameters["image_size"].default
        )
        self.root = f"data root (default: ${DATA_ENV} if set, else {cache_dir() / 'data'})"
        # the mode- and dataset-dependent defaults, as TrainConfig.resolved() fills them in
        self.image_size = {
            dataset: TrainConfig(dataset=dataset).resolved().image_size
            for dataset in ("synthetic", "folder")
        }
        self.views = {"finetune": TrainConfig(mode="finetune").resolved().views}
        self.all_views = _names(VIEWS)
        self.views_per_class = VIEWS_ALL_BELOW_PER_CLASS
        self.device = (
            f"torch device: auto (CUDA when present, else the CPU), cpu, cuda or cuda:N "
            f"(default: {_train_default('device')})"
        )


def _add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, repeatable, e.g. on_error=skip to leave unreadable images out, or "
        "num_classes=4 for the synthetic scenes (default: none)",
    )


def _add_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch a missing known dataset from its official archive (default: off)",
    )


def _add_engine(parser: argparse.ArgumentParser) -> None:
    from rsdml.models.engines import ENGINE_CHOICES

    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default=_train_default("engine"),
        help="what computes frozen features: auto takes ONNX Runtime, else OpenVINO, on a CPU "
        "when installed (about 3x torch), torch on a GPU or when neither is installed; the "
        f"features agree to 1e-4 and share one cache (default: {_train_default('engine')})",
    )


def _add_pretrained(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", metavar="FILE", help="local weight file for the backbone (default: ImageNet)"
    )
    parser.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialisation instead of ImageNet weights, e.g. offline (default: off)",
    )


def _add_study_executor(parser: argparse.ArgumentParser, text: _Help) -> None:
    """The options of `rsdml study` that run the grid elsewhere, follow it and stop it."""
    cluster = text.cluster
    parser.add_argument(
        "--executor",
        choices=text.executors,
        default=text.executor,
        help="local: a process pool here (--workers); slurm: the pending cells as one Slurm job "
        "array through submitit, after one job computing their shared frozen features and "
        "before one job running the report (returns once submitted); submitit-local: the same "
        f"jobs with submitit on this machine, waited for (default: {text.executor})",
    )
    group = parser.add_argument_group("job array (--executor slurm or submitit-local)")
    group.add_argument(
        "--slurm-partition", metavar="NAME", help="Slurm partition (default: Slurm's)"
    )
    group.add_argument(
        "--slurm-time",
        type=int,
        default=cluster["time_min"],
        metavar="MINUTES",
        help="time limit of each task, also under submitit-local; a task that reaches it is "
        f"requeued and resumes its cell from last.pt (default: {cluster['time_min']})",
    )
    group.add_argument(
        "--slurm-gpus-per-task",
        type=int,
        default=cluster["gpus_per_task"],
        metavar="N",
        help=f"GPUs of each task (default: {cluster['gpus_per_task']})",
    )
    group.add_argument(
        "--slurm-cpus-per-task",
        type=int,
        metavar="N",
        help="CPU cores of each task; its cells use that many threads (default: Slurm's)",
    )
    group.add_argument(
        "--slurm-mem",
        metavar="SIZE",
        help="memory of each task as sbatch --mem takes it, e.g. 32G (default: Slurm's)",
    )
    group.add_argument(
        "--array-parallelism",
        type=int,
        metavar="N",
        help="tasks running at once (default: as many as Slurm allows; --workers under "
        "submitit-local)",
    )
    group.add_argument(
        "--cells-per-task",
        type=int,
        default=cluster["cells_per_task"],
        metavar="N",
        help="cells each task runs one after the other in one warm kernel; more saves start-up "
        f"time for short cells (default: {cluster['cells_per_task']})",
    )
    group.add_argument(
        "--slurm-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other sbatch option by its long name, repeatable, e.g. account=mylab, "
        "qos=normal, constraint=a100 (default: none)",
    )
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument(
        "--status",
        action="store_true",
        help="print how many cells are done, running, pending and failed, from the study "
        "folder alone, with the job and log file of each failed cell; run nothing",
    )
    follow.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the study's jobs (recorded in <out>/jobs.json); run nothing",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    text = _Help()
    parser = argparse.ArgumentParser(
        prog="rsdml",
        description="Deep metric learning for remote-sensing scenes: data, training, study. "
        "Every command prints its result as one JSON line last on stdout (metrics as fractions) "
        "and a short summary (metrics in %) on stderr.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="show the version"
    )
    debug_help = f"show the traceback of user errors too (or set {DEBUG_ENV}=1)"
    progress_help = f"no progress bars (the same as {text.progress_env}=0)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    parser.add_argument("--no-progress", action="store_true", help=progress_help)
    # Also accepted after the sub-command; SUPPRESS keeps a sub-command that was not given
    # the flag from resetting the top-level one to False.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    common.add_argument(
        "--no-progress", action="store_true", default=argparse.SUPPRESS, help=progress_help
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], description=kwargs.get("help"), **kwargs)

    p = add_parser(
        "datasets", help="list known datasets, where each is looked for, whether present"
    )
    p.add_argument("--root", metavar="DIR", help=text.root)
    p.set_defaults(func=commands.cmd_datasets)

    p = add_parser("split", help="the papers' per-class split; prints its sizes as JSON")
    p.add_argument("--dataset", required=True, help=f"dataset name: {text.datasets}")
    p.add_argument("--root", metavar="DIR", help=text.root)
    p.add_argument(
        "--seed",
        type=int,
        default=text.split_seed,
        help=f"seed of the split (default: {text.split_seed}, the papers' split)",
    )
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        default=text.split_fractions,
        metavar=("TRAIN", "VAL", "TEST"),
        help="fractions of each class's images for training, validation and test (default: "
        f"{' '.join(f'{value:g}' for value in text.split_fractions)})",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the split (indices, files, labels, classes) to this JSON file, "
        "atomically (default: write nothing)",
    )
    _add_download(p)
    p.add_argument(
        "--allow-unused",
        action="store_true",
        help="accept fractions summing to less than 1; the rest of the images is left out "
        "(default: off)",
    )
    p.set_defaults(func=commands.cmd_split)

    p = add_parser("embed-eval", help="evaluate frozen pretrained features on the standard split")
    p.add_argument("--dataset", required=True, help=f"dataset name: {text.datasets}")
    p.add_argument("--root", metavar="DIR", help=text.root)
    p.add_argument(
        "--backbone",
        default=_train_default("backbone"),
        help=f"backbone: {text.backbones} (default: {_train_default('backbone')})",
    )
    _add_pretrained(p)
    p.add_argument(
        "--image-size",
        type=int,
        default=text.embed_image_size,
        metavar="PIXELS",
        help=f"side of the square images the backbone sees (default: {text.embed_image_size})",
    )
    p.add_argument("--device", default=_train_default("device"), help=text.device)
    _add_engine(p)
    _add_dataset_option(p)
    _add_download(p)
    p.set_defaults(func=commands.cmd_embed_eval)

    p = add_parser("methods", help="list the training methods, their papers, hooks and defaults")
    p.set_defaults(func=commands.cmd_methods)

    p = add_parser("train", help="train one method; writes RUN_DIR/metrics.json")
    p.add_argument("--method", required=True, help=f"method ({text.methods}); see `rsdml methods`")
    p.add_argument(
        "--dataset",
        default=_train_default("dataset"),
        help=f"dataset name: {text.datasets} (default: {_train_default('dataset')})",
    )
    p.add_argument("--root", metavar="DIR", help=text.root)
    p.add_argument(
        "--mode",
        choices=text.modes,
        default=_train_default("mode"),
        help="frozen: train a head on cached backbone features; finetune: train the whole "
        f"network on augmented images (default: {_train_default('mode')})",
    )
    p.add_argument(
        "--backbone",
        default=_train_default("backbone"),
        help=f"backbone: {text.backbones} (default: {_train_default('backbone')})",
    )
    _add_pretrained(p)
    p.add_argument(
        "--epochs",
        type=int,
        help=f"epochs (default: {_by_mode('epochs')}; frozen runs take {_frozen_steps('steps')} "
        "steps, at most that many epochs)",
    )
    p.add_argument(
        "--steps",
        type=int,
        help=f"frozen mode without --epochs: train for this many optimiser steps, in whole epochs "
        f"(default: {_frozen_steps('steps')})",
    )
    p.add_argument(
        "--patience",
        type=int,
        metavar="EPOCHS",
        help="stop this many epochs after the best validation kNN@10; 0 runs every epoch "
        f"(default: {_by_mode('patience')}; frozen runs wait {_frozen_steps('patience')} steps, "
        "at most that many epochs)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=_train_default("seed"),
        help=f"training seed (default: {_train_default('seed')}); the split keeps its own "
        f"seed, {_train_default('split_seed')}",
    )
    p.add_argument(
        "--label-fraction",
        type=float,
        metavar="FRACTION",
        help="keep the labels of this fraction of the training images, in (0, 1]; the rest "
        "form the unlabelled pool (default: every label)",
    )
    p.add_argument(
        "--noise",
        choices=text.noise_kinds,
        help="corrupt the training labels with this kind of noise; needs --noise-rate "
        "(default: clean labels)",
    )
    p.add_argument(
        "--noise-rate",
        type=float,
        metavar="RATE",
        help="fraction of corrupted training labels, in [0, 1), with --noise (default: none)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        metavar="PIXELS",
        help=f"side of the square images (default: {text.image_size['synthetic']} for the "
        f"synthetic scenes, {text.image_size['folder']} for the others)",
    )
    p.add_argument("--batch-size", type=int, help=f"batch size (default: {_by_mode('batch_size')})")
    p.add_argument("--lr", type=float, help=f"learning rate (default: {_by_mode('lr')})")
    p.add_argument(
        "--views",
        nargs="+",
        metavar="VIEW",
        help=f"frozen-mode feature views, from {text.all_views} (default: all of them in "
        f"frozen mode while the training split has fewer than {text.views_per_class} images "
        f"per class, plain alone above; {_names(text.views['finetune'])} in finetune mode)",
    )
    p.add_argument(
        "--unlabelled-pool",
        choices=text.pools,
        help="where semi-supervised methods draw unlabelled images from: the rest of the "
        "training split, or the test split (transductive) (default: "
        f"{_train_default('unlabelled_pool')})",
    )
    p.add_argument(
        "--protocol",
        choices=text.protocols,
        default=_train_default("protocol"),
        help="standard: train and test on every class (the papers'); unseen-classes: train and "
        "select on half the classes, test leave-one-out on the held-out rest (the metric-"
        f"learning benchmarks'; docs/methods.md) (default: {_train_default('protocol')})",
    )
    p.add_argument(
        "--train-classes",
        nargs="+",
        metavar="CLASS",
        help="with --protocol unseen-classes: the training classes by name; the others are held "
        "out (default: the first half of the classes shuffled with --class-seed)",
    )
    p.add_argument(
        "--class-seed",
        type=int,
        metavar="SEED",
        help="with --protocol unseen-classes: the seed that draws the training classes "
        f"(default: {_train_default('class_seed')})",
    )
    p.add_argument(
        "--eval-dataset",
        metavar="NAME",
        help=f"also evaluate the selected model on this dataset's split ({text.datasets}): "
        "database its train split, queries its test split, beside its frozen features alone; "
        "written to metrics.json under transfer (default: none)",
    )
    p.add_argument(
        "--eval-root",
        metavar="DIR",
        help="data root of --eval-dataset (default: the --root of the run)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="loss parameter, repeatable, e.g. tau=0.1 (default: the method's own; "
        "`rsdml methods` lists them)",
    )
    _add_dataset_option(p)
    p.add_argument("--device", default=_train_default("device"), help=text.device)
    _add_engine(p)
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run folder (resumes if interrupted)"
    )
    _add_download(p)
    p.set_defaults(func=commands.cmd_train)

    p = add_parser("study", help="run a study grid through papermill, then its report")
    p.add_argument(
        "study", help=f"a study YAML file or the name of a preset: {_names(text.presets)}"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="study folder; finished cells are skipped (default: runs/<name>)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=text.workers,
        help=f"parallel notebook processes (default: {text.workers})",
    )
    p.add_argument(
        "--device",
        help="torch device of every cell, as for `rsdml train --device`; the cells' folders "
        "do not change with it (default: the device the study file sets, else "
        f"{_train_default('device')})",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the cells, which are done and which pending, and an estimated time from "
        "the finished cells' records; run and write nothing (default: off)",
    )
    p.add_argument(
        "--rerun",
        action="append",
        nargs="?",
        const="*",
        metavar="PATTERN",
        help="run finished cells again: all of them, or those matching PATTERN (method, "
        "method/setting or method/setting/seedK, with * wildcards; repeatable). Old results "
        "are moved to <out>/replaced/ and deleted once their cell finished again "
        "(default: finished cells are skipped)",
    )
    p.add_argument(
        "--figures",
        metavar="DIR",
        help="where the report writes figures and tables (default: <out>/figures)",
    )
    p.add_argument("--no-report", action="store_true", help="run the grid only (default: off)")
    p.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start a new kernel for every cell instead of one warm kernel per worker "
        "(slower; default: off)",
    )
    _add_study_executor(p, text)
    p.set_defaults(func=commands.cmd_study)

    p = add_parser(
        "figures", help="regenerate figures and tables of an existing study, no training"
    )
    p.add_argument("run_dir", help="the study folder written by `rsdml study`")
    p.add_argument("--figures", metavar="DIR", help="output folder (default: <run_dir>/figures)")
    p.add_argument(
        "--workers",
        type=int,
        default=text.workers,
        help=f"report notebooks run side by side (default: {text.workers})",
    )
    p.set_defaults(func=commands.cmd_figures)

    p = add_parser(
        "explore",
        help="the retrieval explorer (notebooks/explore.py) on a study or run folder: prints how "
        "to open it in JupyterLab, or opens it",
    )
    p.add_argument("folder", metavar="RUN_OR_STUDY_DIR", help="a study folder or one run's folder")
    p.add_argument(
        "--open",
        action="store_true",
        help="start JupyterLab on the explorer (default: only print the commands)",
    )
    p.set_defaults(func=commands.cmd_explore)
    return parser
