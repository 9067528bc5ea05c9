"""Training configuration: mode-dependent defaults and clear errors for bad fields."""

from __future__ import annotations

import pytest

from rsdml.errors import UserError
from rsdml.models.features import VIEWS
from rsdml.train import TrainConfig
from rsdml.train.config import VIEWS_ALL_BELOW_PER_CLASS, ConfigError, frozen_views


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
    assert TrainConfig(mode="frozen").resolved().patience == 30
    assert TrainConfig(mode="finetune").resolved().patience == 0  # the papers' whole schedule
    assert TrainConfig(patience=5).resolved().patience == 5
    with pytest.raises(ConfigError, match="patience must be 0"):
        TrainConfig(patience=-1).validate()
    # patience changes what a run trains, so it is part of the run's identity
    assert TrainConfig(patience=5).resolved().key() != TrainConfig(patience=6).resolved().key()
