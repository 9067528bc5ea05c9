"""Training configuration: mode-dependent defaults and clear errors for bad fields."""

from __future__ import annotations

import pytest

from rsdml.models.features import VIEWS
from rsdml.train import TrainConfig


def test_frozen_mode_augments_with_every_geometric_view_by_default():
    assert TrainConfig(mode="frozen").resolved().views == VIEWS


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
    assert TrainConfig.from_dict(values).resolved().views == VIEWS


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
