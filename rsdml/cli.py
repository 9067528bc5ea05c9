"""The ``rsdml`` command line: thin wrappers over the package, one sub-command per job.

Machine-readable results go to stdout, the last line being one JSON object (metrics as
fractions in [0, 1]); progress bars, tables and a short human summary (metrics in %) go to
stderr, so ``rsdml ... | tail -n 1`` is always parseable.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import inspect
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from rsdml.errors import DEBUG_ENV, UserError, debug_enabled


class CommandLineError(UserError, ValueError):
    """An option of the command line has a value (or a combination) that cannot work."""


# The metrics a command's human summary shows, as the README's tables lead with them.
HEADLINE_METRICS = ("knn@10", "map@20")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def _say(message: str) -> None:
    """One line of the human summary, on stderr."""
    print(message, file=sys.stderr, flush=True)


def _percent(metrics: dict[str, Any], names: Sequence[str] = HEADLINE_METRICS) -> str:
    """``"kNN@10 92.3 %, mAP@20 85.1 %"`` for the named metrics present in ``metrics``."""
    from rsdml.tables import metric_label

    shown = [
        f"{metric_label(name)} {100 * metrics[name]:.1f} %" for name in names if name in metrics
    ]
    return ", ".join(shown) or "no metrics"


def _duration(seconds: float) -> str:
    """A readable duration: ``"45 s"``, ``"12 min"``, ``"3.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of text as columns aligned on their widest cell (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*map(str.ljust, row[:-1], widths), row[-1]]).rstrip() for row in rows
    )


def _parse_value(text: str) -> Any:
    """Interpret a ``key=value`` parameter: JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _key_values(pairs: Sequence[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandLineError(f"expected KEY=VALUE, got {pair!r} (e.g. --param tau=0.1)")
        key, value = pair.split("=", 1)
        params[key.strip()] = _parse_value(value.strip())
    return params


def cmd_datasets(args: argparse.Namespace) -> int:
    from rsdml.data import list_datasets

    rows = list_datasets(args.root) if args.root else list_datasets()
    for row in rows:
        mark = "present" if row["present"] else "missing"
        print(f"{row['name']:<15} {mark:<8} {row.get('path', '')}", file=sys.stderr)
    _print_json(rows)
    return 0


def _fractions(args: argparse.Namespace) -> str:
    return " ".join(f"{value:g}" for value in args.fractions)


def cmd_split(args: argparse.Namespace) -> int:
    from rsdml.data import load_scene_list, make_split

    total = sum(args.fractions)
    if total > 1 + 1e-6:
        raise CommandLineError(f"--fractions {_fractions(args)} sum to {total:g}, more than 1")
    if total < 1 - 1e-6 and not args.allow_unused:
        # Checked here too so that the message names the command-line flag.
        raise CommandLineError(
            f"--fractions {_fractions(args)} sum to {total:g}, which would leave "
            f"{1 - total:.0%} of the images in no split; make them sum to 1, or add "
            "--allow-unused if that is intended"
        )
    scenes = load_scene_list(args.dataset, args.root, download=args.download)
    split = make_split(
        scenes, fractions=tuple(args.fractions), seed=args.seed, allow_unused=args.allow_unused
    )
    summary = split.summary(scenes.labels, scenes.classes)
    saved = ""
    if args.out:
        from rsdml.storage import atomic_write_json

        record = {
            "dataset": scenes.name,
            **split.to_dict(),
            "classes": list(scenes.classes),
            "files": [str(path) for path in scenes.files],
            "labels": np.asarray(scenes.labels).tolist(),
        }
        saved = f"; written to {atomic_write_json(args.out, record)}"
    _say(
        f"split of {scenes.name} (seed {args.seed}, fractions {_fractions(args)}): "
        f"{summary['classes']} classes, {summary['train']} training, {summary['val']} "
        f"validation and {summary['test']} test images{saved}"
    )
    _print_json(summary)
    return 0


def cmd_embed_eval(args: argparse.Namespace) -> int:
    from rsdml.baseline import evaluate_backbone
    from rsdml.runtime import resolve_device

    resolve_device(args.device)  # before the images are decoded and cached
    metrics = evaluate_backbone(
        args.dataset,
        args.backbone,
        root=args.root,
        image_size=args.image_size,
        weights=args.weights,
        device=args.device,
        download=args.download,
        pretrained=not args.no_pretrained,
        dataset_options=_key_values(args.dataset_option),
    )
    from rsdml.storage import cache_subdir

    _say(
        f"frozen {args.backbone} features of {args.dataset}, test split: {_percent(metrics)}; "
        f"the features are cached in {cache_subdir('features')}"
    )
    _print_json(metrics)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from rsdml.losses import METHODS
    from rsdml.train.config import FROZEN_LOSS_DEFAULTS

    rows = []
    table = [("name", "paper", "hooks", "defaults")]
    for name, info in METHODS.items():
        shown = info.as_row()
        table.append((name, info.paper, shown["hooks"], shown["defaults"] or "-"))
        rows.append(
            {
                "name": name,
                "paper": info.paper,
                "defaults": info.defaults,
                "hooks": sorted(info.hooks),
            }
        )
    _say(_table(table))
    for name, overrides in FROZEN_LOSS_DEFAULTS.items():
        changed = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        _say(f"in frozen mode {name} defaults to {changed} instead")
    _print_json(rows)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rsdml.losses import check_params
    from rsdml.runtime import resolve_device
    from rsdml.train import TrainConfig, fit

    if args.noise is not None and args.noise_rate is None:
        # Without a rate the run would silently train on clean labels.
        raise CommandLineError(
            f"--noise {args.noise} needs --noise-rate RATE, the fraction of corrupted training "
            "labels (e.g. --noise-rate 0.4)"
        )
    loss_params = _key_values(args.param)
    # Refused here, before any data is read or a run folder is created.
    check_params(args.method, loss_params)
    resolve_device(args.device)
    options: dict[str, Any] = {
        "method": args.method,
        "dataset": args.dataset,
        "root": args.root,
        "mode": args.mode,
        "backbone": args.backbone,
        "epochs": args.epochs,
        "seed": args.seed,
        "label_fraction": args.label_fraction,
        "noise": args.noise,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "loss_params": loss_params,
        "dataset_options": _key_values(args.dataset_option),
    }
    # Left out when not given, so that TrainConfig's default and its own checks apply.
    if args.noise_rate is not None:
        options["noise_rate"] = args.noise_rate
    if args.no_pretrained:
        options["pretrained"] = False
    if args.download:
        options["dataset_options"]["download"] = True
    if args.views:
        options["views"] = tuple(args.views)
    if args.weights:
        options["weights"] = args.weights
    if args.unlabelled_pool:
        options["unlabelled_pool"] = args.unlabelled_pool
    metrics = fit(TrainConfig.from_dict(options), out=args.out)
    _say(
        f"{args.method} on {args.dataset}, test split: {_percent(metrics['test'])}; the run is "
        f"in {args.out} (metrics.json, embeddings.npz, learning curve, checkpoints)"
    )
    _print_json(metrics["test"])
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from rsdml.study import plan_study, run_study

    if args.device is not None:
        from rsdml.runtime import resolve_device

        resolve_device(args.device)  # refused here, not once per cell
    if args.dry_run:
        plan = plan_study(
            args.study, out=args.out, workers=args.workers, rerun=args.rerun, device=args.device
        )
        _say(_plan_text(plan))
        _print_json(plan)
        return 0
    summary = run_study(
        args.study,
        out=args.out,
        workers=args.workers,
        figures=args.figures,
        report=not args.no_report,
        fresh_kernels=args.fresh_kernels,
        rerun=args.rerun,
        device=args.device,
    )
    failed = f", {len(summary['failed'])} failed" if summary["failed"] else ""
    where = f"; runs in {summary['out']}/cells"
    if not args.no_report:
        where += f", figures and tables (results.md) in {summary['figures']}"
    _say(
        f"study {summary['study']}: {summary['cells']} cells, {summary['ran']} ran, "
        f"{summary['skipped']} already done{failed}{where}"
    )
    _print_json(summary)
    return 1 if summary["failed"] or summary["report_failed"] else 0


def _plan_text(plan: dict[str, Any]) -> str:
    """The dry run of a study as a table of cells and a closing line with the estimate."""
    rows = [("cell", "status", "seconds")]
    for cell in plan["cells"]:
        seconds = "" if cell["seconds"] is None else f"{cell['seconds']:.0f}"
        rows.append((cell["label"], cell["status"], seconds))
    estimate = plan["estimated_seconds"]
    if estimate is None:
        cost = "time unknown (no finished cell recorded its time yet)"
    else:
        cost = f"about {_duration(estimate)} with {plan['workers']} worker(s)"
    return (
        f"{_table(rows)}\nstudy {plan['study']} in {plan['out']}: {len(plan['cells'])} cells, "
        f"{plan['done']} done, {plan['to_run']} to run, {cost}; nothing was run"
    )


def cmd_figures(args: argparse.Namespace) -> int:
    from rsdml.study import regenerate_figures

    summary = regenerate_figures(args.run_dir, figures=args.figures)
    failed = summary["report_failed"]
    _say(
        f"figures and tables of {args.run_dir} are in {summary['figures']}"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    _print_json(summary)
    return 1 if failed else 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input (bad option, missing data, conflicting run folder): reported in one
    line without a traceback. Anything else is a bug and keeps its traceback."""
    from rsdml.data import CorruptImageError, DatasetNotFoundError
    from rsdml.study import StudyError
    from rsdml.train import RunFolderConflict, TrainingDiverged

    # The named types are the rooms' errors from before UserError; they stay until each room
    # derives its own from UserError, and ValueError / FileNotFoundError until every check does.
    return (
        UserError,
        StudyError,
        DatasetNotFoundError,
        CorruptImageError,
        RunFolderConflict,
        TrainingDiverged,
        ValueError,
        FileNotFoundError,
    )


def _message(error: BaseException) -> str:
    """The text of an error; a KeyError's is its argument, not the argument's repr."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error) or type(error).__name__


def user_error_message(error: BaseException, out: str | None = None) -> str | None:
    """The one-line report of a user or environment error; None for a bug (keep the traceback).

    Args:
        error: the exception a command raised.
        out: the command's output folder, if any, so that a read-only or full disk there is
            blamed on ``--out``.
    """
    from rsdml.runtime import describe_os_error, environment_os_error

    if isinstance(error, _user_errors()):
        return _message(error)
    cause = environment_os_error(error)
    if cause is not None:
        return describe_os_error(cause, out=out)
    return None


def _train_default(name: str) -> Any:
    """The default of a TrainConfig field, where it is owned."""
    from rsdml.train.config import TrainConfig

    return {item.name: item.default for item in dataclasses.fields(TrainConfig)}[name]


def _by_mode(name: str) -> str:
    """``"100 in frozen mode, 130 in finetune mode"``: a default that depends on --mode."""
    from rsdml.train.config import FINETUNE_DEFAULTS, FROZEN_DEFAULTS

    return f"{FROZEN_DEFAULTS[name]:g} frozen, {FINETUNE_DEFAULTS[name]:g} finetune"


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
        from rsdml.baseline import evaluate_backbone
        from rsdml.data import DATASETS
        from rsdml.data.splits import DEFAULT_FRACTIONS, DEFAULT_SEED
        from rsdml.losses import METHODS
        from rsdml.models.backbones import list_backbones
        from rsdml.runtime import PROGRESS_ENV
        from rsdml.storage import DATA_ENV, cache_dir
        from rsdml.study import available_presets, run_study
        from rsdml.train.config import MODES, NOISE_KINDS, UNLABELLED_POOLS, TrainConfig

        self.datasets = _names(DATASETS)
        self.presets = available_presets()
        self.workers = inspect.signature(run_study).parameters["workers"].default
        self.methods = _names(METHODS)
        self.backbones = _names(list_backbones())
        self.modes, self.noise_kinds, self.pools = MODES, NOISE_KINDS, UNLABELLED_POOLS
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
        self.views = {mode: TrainConfig(mode=mode).resolved().views for mode in MODES}
        self.all_views = _names(self.views["frozen"])
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


def _add_pretrained(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", metavar="FILE", help="local weight file for the backbone (default: ImageNet)"
    )
    parser.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialisation instead of ImageNet weights, e.g. offline (default: off)",
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
    p.set_defaults(func=cmd_datasets)

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
    p.set_defaults(func=cmd_split)

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
    _add_dataset_option(p)
    _add_download(p)
    p.set_defaults(func=cmd_embed_eval)

    p = add_parser("methods", help="list the training methods, their papers, hooks and defaults")
    p.set_defaults(func=cmd_methods)

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
    p.add_argument("--epochs", type=int, help=f"epochs (default: {_by_mode('epochs')})")
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
        f"frozen mode, {_names(text.views['finetune'])} in finetune mode)",
    )
    p.add_argument(
        "--unlabelled-pool",
        choices=text.pools,
        help="where semi-supervised methods draw unlabelled images from: the rest of the "
        "training split, or the test split (transductive) (default: "
        f"{_train_default('unlabelled_pool')})",
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
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run folder (resumes if interrupted)"
    )
    _add_download(p)
    p.set_defaults(func=cmd_train)

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
    p.set_defaults(func=cmd_study)

    p = add_parser(
        "figures", help="regenerate figures and tables of an existing study, no training"
    )
    p.add_argument("run_dir", help="the study folder written by `rsdml study`")
    p.add_argument("--figures", metavar="DIR", help="output folder (default: <run_dir>/figures)")
    p.set_defaults(func=cmd_figures)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rsdml`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "no_progress", False):
        from rsdml.runtime import PROGRESS_ENV

        # the environment, not an argument: the study's notebook kernels inherit it
        os.environ[PROGRESS_ENV] = "0"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("rsdml: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        message = user_error_message(error, out=getattr(args, "out", None))
        if message is None:
            raise
        if debug_enabled(getattr(args, "debug", False)):
            traceback.print_exception(error, file=sys.stderr)
        print(f"rsdml {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
