"""Training configuration: mode-dependent defaults and clear errors for bad fields."""

from __future__ import annotations

import pytest

from rsdml.errors import UserError
from rsdml.models.features import VIEWS
from rsdml.train import TrainConfig
from rsdml.train.config import (
    FROZEN_DEFAULTS,
    FROZEN_STEPS,
    VIEWS_ALL_BELOW_PER_CLASS,
    ConfigError,
    frozen_length,
    frozen_views,
)


def test_frozen_mode_leaves_the_default_views_to_the_size_of_the_archive():
    assert TrainConfig(mode="frozen").resolved().views is None
    per_class = VIEWS_ALL_BELOW_PER_CLASS
    # every view below the threshold (UC Merced: 70 training images per class) ...
    assert frozen_views(None, 21 * 70, 21) == VIEWS
    assert frozen_views(None, 10 * per_class - 1, 10) == VIEWS
    # ... the plain view alone from there on (EuroSAT: 1,890 per class)
    assert frozen_views(None, 10 * per_class, 10) == ("plain",)
    assert frozen_views(None, 18900, 10) == ("plain",)
    # views that were asked for are kept whatever the size
    assert frozen_views(("plain", "hflip"), 18900, 10) == ("plain", "hflip")
    assert frozen_views(VIEWS, 18900, 10) == VIEWS


def test_finetune_mode_has_no_feature_views():
    # fine-tuning augments images on the fly; cached feature views do not apply
    assert TrainConfig(mode="finetune").resolved().views == ("plain",)


def test_explicit_views_are_kept_and_survive_a_round_trip():
    config = TrainConfig(views=("plain", "hflip")).resolved()
    assert config.views == ("plain", "hflip")
    assert TrainConfig.from_dict(config.to_dict()).resolved().views == ("plain", "hflip")


def test_default_views_round_trip_as_none():
    values = TrainConfig().to_dict()
    assert values["views"] is None
    assert TrainConfig.from_dict(values).resolved().views is None


@pytest.mark.parametrize(
    ("views", "message"),
    [((), "at least one view"), (("plain", "rot45"), "unknown view")],
)
def test_bad_views_are_refused_with_the_accepted_names(views, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(views=views).resolved()


def test_frozen_trnsl_prunes_early_and_resumes_from_the_selected_weights():
    frozen = TrainConfig(method="trnsl").resolved().loss_params
    assert frozen == {"prune_start": 0.05, "prune_every": 0.15, "resume": "selected"}


def test_finetune_trnsl_keeps_the_papers_schedule():
    # the loss class's own defaults apply: first pruning at 40/130, resume from current weights
    assert TrainConfig(method="trnsl", mode="finetune").resolved().loss_params == {}


def test_explicit_loss_parameters_override_the_frozen_defaults():
    config = TrainConfig(method="trnsl", loss_params={"resume": "current", "q": 0.5})
    assert config.resolved().loss_params == {
        "prune_start": 0.05,
        "prune_every": 0.15,
        "resume": "current",
        "q": 0.5,
    }
    assert TrainConfig(method="nsl").resolved().loss_params == {}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "abc"}, "epochs must be an integer or None"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"lr": "fast"}, "lr must be a number or None"),
        ({"fractions": (0.5, 0.5)}, "fractions must be a list of 3 numbers"),
        ({"views": ["plain", 3]}, "views must be a list of strings"),
        ({"pretrained": "yes"}, "pretrained must be true or false"),
        ({"loss_params": ["q", 0.5]}, "loss_params must be a mapping"),
    ],
)
def test_values_of_the_wrong_type_are_refused_with_the_expected_type(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values).validate()


def test_lists_from_yaml_or_json_and_integer_rates_are_accepted():
    TrainConfig.from_dict({"fractions": [0.6, 0.2, 0.2], "views": ["plain"], "lr": 1}).validate()


def test_noise_without_a_rate_is_refused_naming_the_fix():
    # a rate of 0 would train on clean labels under a noisy setting's name
    with pytest.raises(ConfigError, match=r"noise_rate \(--noise-rate\).*or drop noise"):
        TrainConfig(noise="uniform").validate()
    TrainConfig(noise="uniform", noise_rate=0.4).validate()


def test_unknown_option_suggests_the_closest_field():
    with pytest.raises(ConfigError, match=r"'epoch' \(did you mean 'epochs'\?\)"):
        TrainConfig.from_dict({"epoch": 2})


def test_config_errors_are_user_errors_and_value_errors():
    # the command line prints user errors in one line; callers catching ValueError still work
    assert issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)


def test_patience_defaults_by_mode_and_refuses_a_negative_count():
    # frozen mode's length waits for the data (frozen_length), fine-tuning takes the papers'
    assert TrainConfig(mode="frozen").resolved().patience is None
    assert TrainConfig(mode="frozen").resolved().epochs is None
    assert TrainConfig(mode="finetune").resolved().patience == 0  # the papers' whole schedule
    assert TrainConfig(patience=5).resolved().patience == 5
    with pytest.raises(ConfigError, match="patience must be 0"):
        TrainConfig(patience=-1).validate()
    # patience changes what a run trains, so it is part of the run's identity
    assert TrainConfig(patience=5).resolved().key() != TrainConfig(patience=6).resolved().key()


@pytest.mark.parametrize(
    ("train_images", "batch_size", "expected"),
    [
        # UC Merced's 1,470 training images: 12 steps an epoch, its 100 epochs and 30 unchanged
        (1470, 128, (100, 30)),
        # EuroSAT's 18,900: 148 steps, so 1,200 steps are 9 epochs and 360 steps 3
        (18900, 128, (9, 3)),
        # a few labelled images: one step an epoch, capped at the epochs and patience chosen on
        # UC Merced instead of 1,200 epochs
        (74, 128, (100, 30)),
        # smaller batches, more steps an epoch: 2,700 images in batches of 64 are 43 steps
        (2700, 64, (28, 9)),
    ],
)
def test_frozen_length_counts_steps_across_archive_sizes(train_images, batch_size, expected):
    steps = -(-train_images // batch_size)
    epochs, patience = frozen_length(None, None, train_images, batch_size)
    assert (epochs, patience) == expected
    assert epochs == min(FROZEN_DEFAULTS["epochs"], -(-FROZEN_STEPS // steps))
    # what is given is kept
    assert frozen_length(7, 2, train_images, batch_size) == (7, 2)


def test_a_step_budget_sets_the_epochs_of_the_labelled_images_it_is_given():
    # EuroSAT's study: 592 steps are 4 epochs of 148; 945 labelled images (5 %) give 8 steps an
    # epoch, 74 epochs; 189 (1 %) give 2, which the cap of 100 epochs stops
    assert frozen_length(None, None, 18900, 128, steps=592) == (4, 3)
    assert frozen_length(None, None, 945, 128, steps=592) == (74, 30)
    assert frozen_length(None, None, 189, 128, steps=592) == (FROZEN_DEFAULTS["epochs"], 30)
    # None is the default budget; epochs given win over steps
    assert frozen_length(None, None, 18900, 128, steps=None) == frozen_length(
        None, None, 18900, 128
    )
    assert frozen_length(6, None, 18900, 128, steps=592) == (6, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 600, "mode": "finetune"}, "steps counts a frozen run's length"),
    ],
)
def test_bad_step_budgets_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options).validate()


def test_new_fields_at_their_defaults_keep_the_keys_of_recorded_runs():
    from rsdml.storage import content_key
    from rsdml.train.config import KEYED_WHEN_SET

    config = TrainConfig(method="arcface", noise="uniform", noise_rate=0.3).resolved()
    values = config.to_dict()
    for name in ("progress", "num_workers", "device", "engine", *KEYED_WHEN_SET):
        values.pop(name)
    assert config.key() == content_key(values)  # what runs recorded before these fields hold
    assert TrainConfig(protocol="unseen-classes").key() != TrainConfig().key()
    assert TrainConfig(eval_dataset="eurosat").key() != TrainConfig().key()
    unseen = TrainConfig(protocol="unseen-classes")
    assert TrainConfig(protocol="unseen-classes", class_seed=1).key() != unseen.key()
    named = TrainConfig(protocol="unseen-classes", train_classes=("beach", "forest"))
    assert named.key() != unseen.key()


def test_train_classes_round_trip_as_a_tuple():
    config = TrainConfig(protocol="unseen-classes", train_classes=["b", "a"])
    again = TrainConfig.from_dict(config.to_dict()).resolved()
    assert again.train_classes == ("b", "a")
    assert again.key() == config.resolved().key()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"protocol": "unseen"}, "protocol must be one of .*did you mean 'unseen-classes'"),
        ({"train_classes": ("a", "b")}, "add --protocol unseen-classes"),
        ({"class_seed": 3}, "add --protocol unseen-classes"),
        ({"protocol": "unseen-classes", "train_classes": ("a",)}, "at least 2 classes"),
        (
            {"protocol": "unseen-classes", "noise": "dependent", "noise_rate": 0.3},
            "use uniform or pairflip",
        ),
        ({"protocol": "unseen-classes", "unlabelled_pool": "test"}, "held-out classes"),
        ({"protocol": "unseen-classes", "database_labels": "noisy"}, "clean labels"),
        ({"eval_root": "/data"}, "without eval_dataset"),
    ],
)
def test_protocol_options_that_cannot_work_are_refused_in_one_line(values, message):
    with pytest.raises(ConfigError, match=message) as caught:
        TrainConfig(**values).validate()
    assert "\n" not in str(caught.value)


def test_uniform_noise_is_accepted_under_unseen_classes():
    TrainConfig(protocol="unseen-classes", noise="pairflip", noise_rate=0.2).validate()
