"""Registry-wide tests: the method table, and every loss trained briefly as the engine would."""

import copy

import pytest
import torch
import torch.nn.functional as F

from rsdml.errors import UserError
from rsdml.losses import (
    FAMILIES,
    HOOK_NAMES,
    METHODS,
    Batch,
    LossParameterError,
    MetricLoss,
    UnknownMethodError,
    available,
    check_params,
    create,
)

NAMES = [
    "ce",
    "mae",
    "dcnn",
    "triplet",
    "nsl",
    "arcface",
    "snca_mb",
    "snca_mu",
    "snca_ce_mb",
    "snca_ce_mu",
    "hr_s2dml",
    "rnsl",
    "trnsl",
    "srl",
]
PROTOTYPE_METHODS = {"nsl", "arcface", "rnsl", "trnsl", "hr_s2dml", "mae"}
CLASSES, PER_CLASS, FEATURES, DIM = 4, 8, 10, 6
NUM_SAMPLES = CLASSES * PER_CLASS


def test_available_lists_every_method_in_table_order():
    assert available() == NAMES
    assert list(METHODS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_method_info_is_complete(name):
    info = METHODS[name]
    assert info.name == name
    assert info.family in FAMILIES
    assert info.hooks <= HOOK_NAMES
    assert info.sampler in ("random", "balanced")
    assert info.title and info.paper and info.description and info.formula
    assert "\n" not in info.description
    assert issubclass(info.loss_class, MetricLoss)
    assert info.has_class_probabilities == (name in PROTOTYPE_METHODS)
    row = info.as_row()
    assert row["name"] == name and all(isinstance(value, str) for value in row.values())


def test_the_table_row_shows_defaults_short():
    row = METHODS["trnsl"].as_row()
    assert "prune_start=0.3077" in row["defaults"] and "resume='current'" in row["defaults"]
    assert "momentum_schedule=((0.0, 0.5), (0.6154, 0.8)" in METHODS["snca_mb"].as_row()["defaults"]
    assert "threshold=1.0" in METHODS["dcnn"].as_row()["defaults"]
    assert METHODS["trnsl"].as_row()["hooks"] == "pruning"


def test_hooks_and_samplers_follow_the_spec():
    hooks = {name: METHODS[name].hooks for name in NAMES if METHODS[name].hooks}
    assert hooks == {
        "snca_mb": {"memory"},
        "snca_ce_mb": {"memory"},
        "snca_mu": {"memory", "momentum_encoder"},
        "snca_ce_mu": {"memory", "momentum_encoder"},
        "hr_s2dml": {"unlabelled"},
        "trnsl": {"pruning"},
    }
    balanced = {name for name in NAMES if METHODS[name].sampler == "balanced"}
    assert balanced == {"dcnn", "triplet", "srl"}


def test_defaults_follow_the_papers():
    defaults = {name: METHODS[name].defaults for name in NAMES}
    assert defaults["nsl"] == {"temperature": 0.05}
    assert defaults["arcface"] == {"temperature": 0.05, "margin": 0.5}
    assert defaults["rnsl"] == {"temperature": 0.05, "q": 0.7}
    assert defaults["trnsl"]["k"] == 0.5 and defaults["trnsl"]["q"] == 0.7
    assert defaults["trnsl"]["prune_start"] == 40 / 130
    assert defaults["trnsl"]["prune_every"] == 10 / 130
    assert defaults["trnsl"]["resume"] == "current"  # the released code
    for name in ("snca_mb", "snca_mu", "snca_ce_mb", "snca_ce_mu"):
        assert defaults[name]["temperature"] == 0.05 and defaults[name]["margin"] == 0.0
        assert defaults[name]["memory_init"] == "embeddings"
    assert defaults["snca_ce_mb"]["snca_weight"] == defaults["snca_ce_mu"]["snca_weight"] == 1.0
    assert defaults["snca_mb"]["momentum_schedule"] == (
        (0.0, 0.5),
        (80 / 130, 0.8),
        (120 / 130, 0.9),
    )
    assert defaults["hr_s2dml"] == {
        "temperature": 0.05,
        "margin": 0.5,
        "hr_weight": 1.0,
        "nuclear_norm_scale": "batch",
        "bnm_temperature": True,
        "leak_labels": False,
    }
    assert defaults["triplet"] == {"margin": 0.2, "mining": "batch_hard"}
    assert defaults["srl"]["boundary"] == 1.2 and defaults["srl"]["margin"] == 0.4
    assert defaults["srl"]["negative_temperature"] == 10.0
    assert defaults["srl"]["negative_weight"] == 1.0


def test_unknown_parameter_names_the_closest_one_and_all_accepted():
    with pytest.raises(LossParameterError) as caught:
        create("trnsl", num_classes=3, dim=4, num_samples=9, qq=0.5)
    message = str(caught.value)
    assert "did you mean 'q'" in message
    assert all(f"{key}=" in message for key in METHODS["trnsl"].defaults)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, TypeError)


def test_methods_without_parameters_say_so():
    with pytest.raises(LossParameterError, match="'ce' takes no parameters"):
        check_params("ce", {"temperature": 0.1})


def test_structural_arguments_are_not_loss_parameters():
    with pytest.raises(LossParameterError, match="set from the data"):
        check_params("nsl", {"dim": 64})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("nsl", {"temperature": "abc"}),
        ("nsl", {"temperature": True}),
        ("triplet", {"mining": 3}),
        ("hr_s2dml", {"leak_labels": 1}),
        ("snca_mb", {"momentum_schedule": 0.5}),
    ],
)
def test_values_unlike_the_default_are_refused(name, params):
    key, value = next(iter(params.items()))
    with pytest.raises(LossParameterError, match=f"parameter {key!r} of method {name!r}") as caught:
        check_params(name, params)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rnsl", {"q": 1}),  # an integer for a float
        ("snca_mb", {"momentum_schedule": [[0.0, 0.5], [0.5, 0.9]]}),  # JSON lists for tuples
        ("srl", {"positive_threshold": 0.3}),  # a default of None takes any value
        ("hr_s2dml", {"leak_labels": True}),
    ],
)
def test_values_like_the_default_are_accepted(name, params):
    check_params(name, params)


def test_unknown_method_is_a_user_error_with_a_plain_message():
    with pytest.raises(UnknownMethodError) as caught:
        create("nls", num_classes=3, dim=4, num_samples=9)
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, UserError)
    assert str(caught.value).startswith("unknown method 'nls' (did you mean 'nsl'?)")


def test_create_passes_parameters_and_rejects_unknown_ones():
    loss = create("trnsl", num_classes=3, dim=4, num_samples=9, q=0.4, k=0.3)
    assert (loss.q, loss.k, loss.num_samples, tuple(loss.prototypes.shape)) == (0.4, 0.3, 9, (3, 4))
    with pytest.raises(TypeError, match="no parameter"):
        create("nsl", num_classes=3, dim=4, num_samples=9, q=0.4)
    with pytest.raises(KeyError, match="available"):
        create("softtriple", num_classes=3, dim=4, num_samples=9)


# ---- every method trained briefly on separable synthetic data, with the engine's hooks ----


def synthetic(seed):
    """Features a linear map can separate: random class means plus Gaussian noise."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(CLASSES, FEATURES, generator=generator)
    labels = torch.arange(CLASSES).repeat_interleave(PER_CLASS)
    features = means[labels] + 0.8 * torch.randn(NUM_SAMPLES, FEATURES, generator=generator)
    return features, labels


class Setup:
    """A linear embedding model, its EMA copy, the loss and the data, fed as the engine would."""

    def __init__(self, name):
        torch.manual_seed(0)
        self.name = name
        self.features, self.labels = synthetic(1)
        self.unlabelled, self.unlabelled_labels = synthetic(2)
        self.model = torch.nn.Linear(FEATURES, DIM)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.loss = create(name, num_classes=CLASSES, dim=DIM, num_samples=NUM_SAMPLES)
        if self.loss.needs.memory:
            with torch.no_grad():
                self.loss.init_memory(F.normalize(self.model(self.features), dim=1), self.labels)

    def batch(self):
        raw = self.model(self.features)
        batch = Batch(F.normalize(raw, dim=1), raw, self.labels, torch.arange(NUM_SAMPLES))
        if self.loss.needs.unlabelled:
            batch.unlabelled = F.normalize(self.model(self.unlabelled), dim=1)
        if self.loss.needs.momentum_encoder:
            with torch.no_grad():
                batch.momentum = F.normalize(self.ema(self.features), dim=1)
        return batch

    def parameters(self):
        return list(self.model.parameters()) + list(self.loss.parameters())

    def train(self, steps, lr):
        optimiser = torch.optim.SGD(self.parameters(), lr=lr, momentum=0.9)
        for step in range(steps):
            self.loss.set_progress(step / steps)
            batch = self.batch()
            optimiser.zero_grad()
            self.loss(batch).backward()
            optimiser.step()
            self.loss.after_step(batch)
            with torch.no_grad():
                for ema, online in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                    ema.mul_(0.9).add_(0.1 * online)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_reaches_every_parameter(name):
    setup = Setup(name)
    value = setup.loss(setup.batch())
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    for parameter in setup.parameters():
        assert parameter.grad is not None, f"{name}: a parameter got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name}: non-finite gradient"
        assert parameter.grad.abs().sum() > 0, f"{name}: a parameter got a zero gradient"
    assert all(isinstance(value, float) for value in setup.loss.stats().values())


@pytest.mark.parametrize("name", NAMES)
def test_a_few_sgd_steps_lower_the_loss(name):
    setup = Setup(name)
    with torch.no_grad():
        before = setup.loss(setup.batch()).item()
    setup.train(steps=12, lr=0.05)
    with torch.no_grad():
        after = setup.loss(setup.batch()).item()
    assert after < before - 0.1 * max(1.0, abs(before)), f"{name}: {before:.4f} -> {after:.4f}"


@pytest.mark.parametrize("name", sorted(PROTOTYPE_METHODS))
def test_class_probabilities_are_distributions(name):
    setup = Setup(name)
    with torch.no_grad():
        probabilities = setup.loss.class_probabilities(setup.batch().embeddings)
    assert probabilities.shape == (NUM_SAMPLES, CLASSES)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(NUM_SAMPLES))


@pytest.mark.parametrize("name", NAMES)
def test_losses_run_in_double_precision(name):
    setup = Setup(name)
    setup.model.double()
    setup.ema.double()
    setup.features, setup.unlabelled = setup.features.double(), setup.unlabelled.double()
    setup.loss.double()
    value = setup.loss(setup.batch())
    assert value.dtype == torch.float64 and torch.isfinite(value)


def test_pruning_hooks_as_the_engine_drives_them():
    setup = Setup("trnsl")
    setup.train(steps=12, lr=0.05)
    total = 13
    due = [epoch for epoch in range(1, total + 1) if setup.loss.pruning_due(epoch, total)]
    assert due == list(range(4, 14))
    with torch.no_grad():
        embeddings = F.normalize(setup.model(setup.features), dim=1)
        probabilities = setup.loss.class_probabilities(embeddings)
    setup.loss.update_pruning(embeddings, setup.labels)
    kept = probabilities[torch.arange(NUM_SAMPLES), setup.labels] > 0.5
    assert 0 < kept.sum() < NUM_SAMPLES  # some samples pruned, some kept
    assert torch.equal(setup.loss.weights.bool(), kept)
    assert setup.loss.stats()["kept_fraction"] == pytest.approx(kept.float().mean().item())
