"""The ``rsdml`` command line: thin wrappers over the package, one sub-command per job.

Machine-readable results go to stdout, the last line being one JSON object; progress bars
and messages go to stderr, so ``rsdml ... | tail -n 1`` is always parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from rsdml.errors import DEBUG_ENV, UserError, debug_enabled


class CommandLineError(UserError, ValueError):
    """An option of the command line has a value (or a combination) that cannot work."""


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


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
    _print_json(split.summary(scenes.labels, scenes.classes))
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
    _print_json(metrics)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from rsdml.losses import METHODS

    rows = []
    for name, info in METHODS.items():
        print(f"{name:<12} {info.paper:<40} {info.description}", file=sys.stderr)
        rows.append(
            {
                "name": name,
                "paper": info.paper,
                "defaults": info.defaults,
                "hooks": sorted(info.hooks),
            }
        )
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
    _print_json(metrics["test"])
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from rsdml.study import run_study

    summary = run_study(
        args.study,
        out=args.out,
        workers=args.workers,
        figures=args.figures,
        report=not args.no_report,
        fresh_kernels=args.fresh_kernels,
    )
    _print_json(summary)
    return 1 if summary["failed"] or summary["report_failed"] else 0


def cmd_figures(args: argparse.Namespace) -> int:
    from rsdml.study import regenerate_figures

    summary = regenerate_figures(args.run_dir, figures=args.figures)
    _print_json(summary)
    return 1 if summary["report_failed"] else 0


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


def _add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, e.g. on_error=skip to leave unreadable images out",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="rsdml",
        description="Deep metric learning for remote-sensing scenes: data, training, study.",
    )
    debug_help = f"show the traceback of user errors too (or set {DEBUG_ENV}=1)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # Also accepted after the sub-command; SUPPRESS keeps a sub-command that was not given
    # --debug from resetting the top-level flag to False.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True)

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = add_parser(
        "datasets", help="list known datasets, where each is looked for, whether present"
    )
    p.add_argument("--root", help="data root (default: $RSDML_DATA or the cache folder)")
    p.set_defaults(func=cmd_datasets)

    p = add_parser("split", help="the papers' per-class split; prints its sizes as JSON")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        default=[0.7, 0.1, 0.2],
        metavar=("TRAIN", "VAL", "TEST"),
    )
    p.add_argument("--download", action="store_true", help="fetch a missing known dataset")
    p.add_argument(
        "--allow-unused",
        action="store_true",
        help="accept fractions summing to less than 1 (the rest of the images is left out)",
    )
    p.set_defaults(func=cmd_split)

    p = add_parser("embed-eval", help="evaluate frozen pretrained features on the standard split")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--weights", help="local weight file for the backbone")
    p.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialisation instead of ImageNet weights (e.g. offline)",
    )
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--device", default="auto")
    _add_dataset_option(p)
    p.add_argument("--download", action="store_true", help="fetch a missing known dataset")
    p.set_defaults(func=cmd_embed_eval)

    p = add_parser("methods", help="list the training methods and their defaults")
    p.set_defaults(func=cmd_methods)

    p = add_parser("train", help="train one method; writes RUN_DIR/metrics.json")
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root")
    p.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--weights", help="local weight file for the backbone")
    p.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialisation instead of ImageNet weights (e.g. offline)",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label-fraction", type=float)
    p.add_argument("--noise", choices=["uniform", "pairflip", "dependent"])
    p.add_argument("--noise-rate", type=float)
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--views",
        nargs="+",
        help="frozen-mode feature views (default: all of them), e.g. plain hflip vflip rot90",
    )
    p.add_argument("--unlabelled-pool", choices=["train", "test"])
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="loss parameter"
    )
    _add_dataset_option(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="run folder (resumes if interrupted)")
    p.add_argument("--download", action="store_true", help="fetch a missing known dataset")
    p.set_defaults(func=cmd_train)

    p = add_parser("study", help="run a study grid through papermill, then its report")
    p.add_argument("study", help="a study YAML file or a preset name (quick, ucmerced, paper)")
    p.add_argument("--out", help="study folder (default: runs/<name>); finished cells are skipped")
    p.add_argument("--workers", type=int, default=1, help="parallel notebook processes")
    p.add_argument(
        "--figures", help="where the report writes figures and tables (default: <out>/figures)"
    )
    p.add_argument("--no-report", action="store_true", help="run the grid only")
    p.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start a new kernel for every cell instead of one warm kernel per worker (slower)",
    )
    p.set_defaults(func=cmd_study)

    p = add_parser(
        "figures", help="regenerate figures and tables of an existing study, no training"
    )
    p.add_argument("run_dir", help="the study folder written by `rsdml study`")
    p.add_argument("--figures", help="output folder (default: <run_dir>/figures)")
    p.set_defaults(func=cmd_figures)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rsdml`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
