"""One run over two processes (``torchrun``, gloo on the CPU) trains what one process trains
with the same global batch, and every rank holds the same per-sample state: one method of each
family of engine hooks, plus a resume from a single-process checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rsdml.train import RunFolder, TrainConfig, checkpoint, distributed, fit
from rsdml.train.samplers import shard, shard_sizes

TINY = {"num_classes": 4, "images_per_class": 16, "image_size": 48}
EPOCHS = 2
WORKER = Path(__file__).with_name("distributed_worker.py")

# One method per family of hooks: proxy, pair-based (balanced sampler, whole classes in a
# batch), memory bank, momentum encoder (the MU memory), unlabelled stream, pruning.
CASES = {
    "nsl": {},
    "triplet": {},
    "snca_mb": {},
    "snca_ce_mu": {},
    "hr_s2dml": {"label_fraction": 0.25},
    # pruning before epoch 2, so that it runs in this short run
    "trnsl": {
        "noise": "uniform",
        "noise_rate": 0.3,
        "loss_params": {"prune_start": 0.5, "prune_every": 0.5},
    },
}
RESUMED = "snca_mb"

# The first epoch's mean loss of two ranks against one process. Every rank embeds half of each
# batch, and the model's gradient is the sum of two half-batch gradients all-reduced, where one
# process sums the whole batch in one matrix product: the same float32 terms added in another
# order (about 1e-7 relative per operation), carried through the few SGD steps of the epoch.
# Measured on a 2-core CPU: at most 1.5e-7 relative in the first epoch (1e-6 by the second);
# 1e-5 leaves room for another BLAS and still fails on anything that changes which samples a
# rank sees or how its gradient is scaled (either moves the loss by far more).
LOSS_RTOL = 1e-5


def tiny_config(method: str, **overrides) -> TrainConfig:
    """Two short epochs on 4 synthetic classes (batch 16: several steps per epoch)."""
    values = {
        "method": method,
        "dataset": "synthetic",
        "dataset_options": TINY,
        "image_size": 64,
        "epochs": EPOCHS,
        "batch_size": 16,
        "device": "cpu",
        "progress": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, so nothing may swallow it)."""


def single_process_histories(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Each case trained in this process, and the run folder of RESUMED killed after epoch 1."""
    histories = {}
    for method, overrides in CASES.items():
        histories[method] = fit(tiny_config(method, **overrides))["history"]
    original = RunFolder.save_last

    def save_then_die(self: RunFolder, state: dict) -> None:
        original(self, state)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "CHECKPOINT_SECONDS", 0.0)
        patch.setattr(RunFolder, "save_last", save_then_die)
        with pytest.raises(Killed):
            fit(tiny_config(RESUMED, **CASES[RESUMED]), out=tmp / "resumed")
    return histories


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The single-process references, then every case (and the resume) on two ranks."""
    tmp = tmp_path_factory.mktemp("distributed")
    cache = tmp / "cache"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("RSDML_CACHE", str(cache))
        single = single_process_histories(tmp, monkeypatch)
    cases = {
        method: {"config": tiny_config(method, **overrides).to_dict()}
        for method, overrides in CASES.items()
    }
    cases["resumed"] = {
        "config": tiny_config(RESUMED, **CASES[RESUMED]).to_dict(),
        "run_folder": str(tmp / "resumed"),
    }
    plan = tmp / "plan.json"
    plan.write_text(json.dumps({"out": str(tmp), "cases": cases}))
    env = {**os.environ, "RSDML_CACHE": str(cache), "RSDML_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
        + ["--standalone", str(WORKER), str(plan)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    ranks = {
        name: [torch.load(tmp / f"{name}-rank{r}.pt", weights_only=False) for r in range(2)]
        for name in cases
    }
    results = {
        name: [json.loads((tmp / f"{name}-rank{r}.json").read_text()) for r in range(2)]
        for name in cases
    }
    return {"single": single, "ranks": ranks, "results": results, "folder": tmp / "resumed"}


def assert_same_state(first: dict, second: dict) -> None:
    """Every tensor of two state dicts equal, bit for bit."""
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


@pytest.mark.parametrize("method", list(CASES))
def test_two_ranks_finish_and_hold_the_same_state(runs, method):
    results = runs["results"][method]
    assert [r["world_size"] for r in results] == [2, 2]
    # rank 0 evaluated; the other rank returns its metrics, not metrics of its own
    assert results[0]["test"] == results[1]["test"]
    first, second = runs["ranks"][method]
    assert len(first["history"]) == EPOCHS
    assert without_timing(first["history"]) == without_timing(second["history"])
    assert_same_state(first["model"], second["model"])
    # the memory bank, the MU memory, the pruning weights, the prototypes and classifiers
    assert_same_state(first["loss"], second["loss"])
    if first["momentum_encoder"] is not None:
        assert_same_state(first["momentum_encoder"], second["momentum_encoder"])


@pytest.mark.parametrize("method", list(CASES))
def test_the_first_epoch_matches_one_process_with_the_same_global_batch(runs, method):
    single = runs["single"][method][0]
    distributed_epoch = runs["ranks"][method][0]["history"][0]
    assert distributed_epoch["loss"] == pytest.approx(single["loss"], rel=LOSS_RTOL)


def test_a_single_process_checkpoint_resumes_on_two_ranks(runs):
    first, second = runs["ranks"]["resumed"]
    reference = runs["single"][RESUMED]
    # epoch 1 comes from the checkpoint as it was written; epoch 2 is trained on two ranks
    assert without_timing(first["history"][:1]) == without_timing(reference[:1])
    assert first["history"][1]["loss"] == pytest.approx(reference[1]["loss"], rel=LOSS_RTOL)
    assert_same_state(first["loss"], second["loss"])
    stored = json.loads((runs["folder"] / "metrics.json").read_text())
    assert stored["test"] == runs["results"]["resumed"][0]["test"]
    assert len(stored["history"]) == EPOCHS


def test_the_pruning_case_prunes_on_two_ranks(runs):
    """t-RNSL pruned before its second epoch (else the check of its weights across ranks would
    compare two untouched vectors of ones)."""
    assert runs["ranks"]["trnsl"][0]["history"][1]["kept_fraction"] < 1.0


# ---------------------------------------------------------------- single-process helpers


def test_shards_are_contiguous_blocks_that_concatenate_to_the_batch():
    batch = torch.arange(10, 21)
    assert shard_sizes(11, 4) == [3, 3, 3, 2]
    blocks = [shard(batch, r, 4) for r in range(4)]
    assert [len(b) for b in blocks] == [3, 3, 3, 2]
    assert torch.equal(torch.cat(blocks), batch)
    assert shard(batch, 0, 1) is not None and torch.equal(shard(batch, 0, 1), batch)


def test_in_one_process_the_helpers_change_nothing():
    rows = torch.randn(5, 3, requires_grad=True)
    assert distributed.gather_rows(rows, [5]) is rows
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.from_main(lambda: {"a": 1}) == {"a": 1}
    assert distributed.rank_generator(0) is None
    before = torch.get_rng_state()
    distributed.seed_rank_augmentations(0, epoch=3)
    assert torch.equal(torch.get_rng_state(), before)


def test_torchrun_variables_are_read_as_they_are():
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "n1"}
    env["MASTER_PORT"] = "1234"
    assert distributed.launch_environment(env) == env


def test_srun_tasks_stand_for_torchrun_variables():
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "3", "SLURM_NNODES": "1"}
    assert distributed.launch_environment(env) == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "3",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }


def test_a_single_task_or_a_plain_process_is_not_distributed():
    assert distributed.launch_environment({}) == {}
    assert distributed.launch_environment({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == {}
    assert distributed.launch_environment({"WORLD_SIZE": "1", "RANK": "0"}) == {}


def test_tasks_on_several_nodes_need_the_master_address():
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_NNODES": "2"}
    with pytest.raises(distributed.DistributedSetupError, match="MASTER_ADDR"):
        distributed.launch_environment(env)
