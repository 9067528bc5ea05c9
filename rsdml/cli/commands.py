"""The sub-commands: each turns parsed options into a call of the package and prints its result
(one JSON line last on stdout, a short summary on stderr)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rsdml.cli.common import (
    CommandLineError,
    duration,
    key_values,
    percent,
    print_json,
    say,
    table,
)


def cmd_datasets(args: argparse.Namespace) -> int:
    from rsdml.data import list_datasets

    rows = list_datasets(args.root) if args.root else list_datasets()
    for row in rows:
        mark = "present" if row["present"] else "missing"
        print(f"{row['name']:<15} {mark:<8} {row.get('path', '')}", file=sys.stderr)
    print_json(rows)
    return 0


def _fractions(args: argparse.Namespace) -> str:
    return " ".join(f"{value:g}" for value in args.fractions)


def cmd_split(args: argparse.Namespace) -> int:
    from rsdml.data import load_scene_list, make_split
    from rsdml.data.splits import check_fractions

    # the split's own rule (its message names --allow-unused), before the data is scanned
    check_fractions(args.fractions, allow_unused=args.allow_unused)
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
    say(
        f"split of {scenes.name} (seed {args.seed}, fractions {_fractions(args)}): "
        f"{summary['classes']} classes, {summary['train']} training, {summary['val']} "
        f"validation and {summary['test']} test images{saved}"
    )
    print_json(summary)
    return 0


def cmd_embed_eval(args: argparse.Namespace) -> int:
    from rsdml.reference import evaluate_backbone
    from rsdml.runtime import resolve_device

    resolve_device(args.device)  # before the images are decoded and cached
    metrics = evaluate_backbone(
        args.dataset,
        args.backbone,
        root=args.root,
        image_size=args.image_size,
        weights=args.weights,
        device=args.device,
        engine=args.engine,
        download=args.download,
        pretrained=not args.no_pretrained,
        dataset_options=key_values(args.dataset_option),
    )
    from rsdml.storage import cache_subdir

    say(
        f"frozen {args.backbone} features of {args.dataset}, test split: {percent(metrics)}; "
        f"the features are cached in {cache_subdir('features')}"
    )
    print_json(metrics)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from rsdml.losses import METHODS
    from rsdml.train.config import FROZEN_LOSS_DEFAULTS

    rows = []
    lines = [("name", "paper", "hooks", "defaults")]
    for name, info in METHODS.items():
        shown = info.as_row()
        lines.append((name, info.paper, shown["hooks"], shown["defaults"] or "-"))
        rows.append(
            {
                "name": name,
                "paper": info.paper,
                "defaults": info.defaults,
                "hooks": sorted(info.hooks),
            }
        )
    say(table(lines))
    for name, overrides in FROZEN_LOSS_DEFAULTS.items():
        changed = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        say(f"in frozen mode {name} defaults to {changed} instead")
    print_json(rows)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rsdml.train import TrainConfig, fit
    from rsdml.train.distributed import launch_rank

    if args.noise is not None and args.noise_rate is None:
        # TrainConfig refuses a noise kind at rate 0 too; this names the command-line flags.
        raise CommandLineError(
            f"--noise {args.noise} needs --noise-rate RATE, the fraction of corrupted training "
            "labels (e.g. --noise-rate 0.4)"
        )
    # The method's parameters and the device are checked by the trainer before any data is
    # read or a run folder is created (for notebooks and studies too).
    loss_params = key_values(args.param)
    options: dict[str, Any] = {
        "method": args.method,
        "dataset": args.dataset,
        "root": args.root,
        "mode": args.mode,
        "backbone": args.backbone,
        "epochs": args.epochs,
        "steps": args.steps,
        "patience": args.patience,
        "seed": args.seed,
        "label_fraction": args.label_fraction,
        "noise": args.noise,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "engine": args.engine,
        "loss_params": loss_params,
        "dataset_options": key_values(args.dataset_option),
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
    if args.protocol != "standard":
        options["protocol"] = args.protocol
    if args.train_classes:
        options["train_classes"] = tuple(args.train_classes)
    if args.class_seed is not None:
        options["class_seed"] = args.class_seed
    if args.eval_dataset:
        options["eval_dataset"] = args.eval_dataset
    if args.eval_root:
        options["eval_root"] = args.eval_root
    metrics = fit(TrainConfig.from_dict(options), out=args.out)
    if launch_rank() != 0:  # one report per run, not one per torchrun/srun rank
        return 0
    tested = "test split"
    if "protocol" in metrics:  # unseen classes
        held_out = metrics["protocol"]["held_out"]
        trained = metrics["protocol"]["train"]
        tested = f"{len(held_out)} held-out classes (trained on {len(trained)}), leave-one-out"
    say(
        f"{args.method} on {args.dataset}, {tested}: {percent(metrics['test'])}; the run is "
        f"in {args.out} (metrics.json, embeddings.npz, learning curve, checkpoints)"
    )
    if "transfer" in metrics:
        transfer = metrics["transfer"]
        say(
            f"transfer to {transfer['dataset']}, test split against its train split: "
            f"{percent(transfer['test'])}; its frozen features alone: "
            f"{percent(transfer['frozen'])}"
        )
    print_json(metrics["test"])
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from rsdml.study import ClusterOptions, parse_slurm_options, plan_study, run_study

    if args.status or args.cancel:
        return _follow_study(args)
    if args.device is not None:
        from rsdml.runtime import resolve_device

        resolve_device(args.device)  # refused here, not once per cell
    if args.dry_run:
        plan = plan_study(
            args.study, out=args.out, workers=args.workers, rerun=args.rerun, device=args.device
        )
        say(_plan_text(plan))
        print_json(plan)
        return 0
    cluster = ClusterOptions(
        partition=args.slurm_partition,
        time_min=args.slurm_time,
        gpus_per_task=args.slurm_gpus_per_task,
        cpus_per_task=args.slurm_cpus_per_task,
        mem=args.slurm_mem,
        array_parallelism=args.array_parallelism,
        cells_per_task=args.cells_per_task,
        extra=parse_slurm_options(args.slurm_option),
    )
    summary = run_study(
        args.study,
        out=args.out,
        workers=args.workers,
        figures=args.figures,
        report=not args.no_report,
        fresh_kernels=args.fresh_kernels,
        rerun=args.rerun,
        device=args.device,
        executor=args.executor,
        cluster=cluster,
    )
    if "jobs" in summary:  # submitted to Slurm: the cells and the report run later
        jobs = summary["jobs"]
        cells = (
            f"{summary['submitted']} submitted as {summary['tasks']} task(s) of Slurm job "
            f"{jobs['array']}"
            if jobs["array"]
            else "none to submit"
        )
        features = f"shared features: job {jobs['features']}, " if jobs["features"] else ""
        say(
            f"study {summary['study']}: {summary['cells']} cells, {cells} ({features}report: "
            f"job {jobs['report']}), {summary['skipped']} already done, "
            f"{len(summary['queued'])} still queued; logs in {summary['logs']}; follow them "
            f"with `rsdml study {args.study} --out {summary['out']} --status`, stop them with "
            "--cancel"
        )
        print_json(summary)
        return 0
    failed = f", {len(summary['failed'])} failed" if summary["failed"] else ""
    busy = summary.get("running")
    running = f", {len(busy)} running elsewhere" if busy else ""
    where = f"; runs in {summary['out']}/cells"
    if not args.no_report:
        where += f", figures and tables (results.md) in {summary['figures']}"
    say(
        f"study {summary['study']}: {summary['cells']} cells, {summary['ran']} ran, "
        f"{summary['skipped']} already done{running}{failed}{where}"
    )
    print_json(summary)
    return 1 if summary["failed"] or summary["report_failed"] else 0


def _follow_study(args: argparse.Namespace) -> int:
    """``--status`` and ``--cancel``: from the study folder, running nothing."""
    from rsdml.study import cancel_study, load_study, study_dir, study_status

    # with --out the study file is not needed: the folder holds its own copy (study.json)
    out = Path(args.out) if args.out else study_dir(load_study(args.study))
    if args.cancel:
        result = cancel_study(out)
        jobs = ", ".join(result["cancelled"]) or "none was active"
        say(f"study in {out}: cancelled jobs {jobs}")
        print_json(result)
        return 0
    status = study_status(out)
    say(_status_text(status))
    print_json(status)
    return 0


def _status_text(status: dict[str, Any]) -> str:
    """The counts per state, then one line per failed (and per running) cell."""
    lines = [
        f"study {status['study']} in {status['out']}: {status['done']} done, "
        f"{status['running']} running, {status['pending']} pending, {status['failed']} failed"
    ]
    for cell in status["cells"]:
        if cell["status"] == "failed":
            job = f" (job {cell['job']})" if cell.get("job") else ""
            lines.append(f"FAILED {cell['label']}{job}: {cell['error']}; log: {cell['log']}")
        elif cell["status"] == "running":
            lines.append(f"running {cell['label']}: job {cell.get('job')} on {cell.get('host')}")
    for submission in status["submissions"]:
        state = f", cancelled {submission['cancelled']}" if submission["cancelled"] else ""
        lines.append(
            f"{submission['executor']} submission of {submission['submitted'][:19]}: jobs "
            f"{' '.join(submission['jobs']) or 'none'}{state}"
        )
    return "\n".join(lines)


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
        cost = f"about {duration(estimate)} with {plan['workers']} worker(s)"
    return (
        f"{table(rows)}\nstudy {plan['study']} in {plan['out']}: {len(plan['cells'])} cells, "
        f"{plan['done']} done, {plan['to_run']} to run, {cost}; nothing was run"
    )


def cmd_figures(args: argparse.Namespace) -> int:
    from rsdml.study import regenerate_figures

    summary = regenerate_figures(args.run_dir, figures=args.figures, workers=args.workers)
    failed = summary["report_failed"]
    say(
        f"figures and tables of {args.run_dir} are in {summary['figures']}"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    print_json(summary)
    return 1 if failed else 0


def cmd_explore(args: argparse.Namespace) -> int:
    from rsdml.explore import explorable_runs, how_to_open, list_methods, open_lab

    runs = explorable_runs(args.folder)  # refuses a folder without a finished run, here
    lines = how_to_open(args.folder)
    if args.open:
        say(f"starting JupyterLab on the explorer of {args.folder} (stop it with Ctrl-C)")
        return open_lab(args.folder)
    say(
        f"{len(runs)} finished run(s) in {args.folder} (methods: {', '.join(list_methods(runs))}); "
        f"open the explorer with `rsdml explore {args.folder} --open` or\n  {lines['lab']}\n"
        f"its static gallery without a browser:\n  {lines['static']}"
    )
    print_json({"folder": args.folder, "runs": len(runs), **lines})
    return 0
