"""Embedding head (LayerNorm, Linear, L2, logits on raw v) and the backbone + head model."""

from __future__ import annotations

import math

import pytest
import torch

from rsdml.models import Embedded, EmbeddingHead, EmbeddingModel, create_backbone


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def _layer_norm_by_hand(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)  # biased, as LayerNorm uses
    return (x - mean) / torch.sqrt(var + eps)


@pytest.mark.parametrize("layernorm", [True, False])
def test_head_shapes_norms_and_raw_vector(layernorm):
    torch.manual_seed(0)
    head = EmbeddingHead(in_dim=12, dim=5, layernorm=layernorm)
    features = torch.randn(7, 12, dtype=torch.float64) * 3 + 1
    head = head.double()
    out = head(features)
    assert isinstance(out, Embedded)
    assert out.embedding.shape == out.raw.shape == (7, 5)
    assert out.logits is None
    inputs = _layer_norm_by_hand(features) if layernorm else features
    raw = inputs @ head.linear.weight.T + head.linear.bias
    torch.testing.assert_close(out.raw, raw)
    norms = torch.linalg.vector_norm(out.embedding, dim=1)
    torch.testing.assert_close(norms, torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(out.embedding * torch.linalg.vector_norm(raw, dim=1)[:, None], raw)


def test_layernorm_has_no_parameters_and_removes_scale():
    head = EmbeddingHead(in_dim=16, dim=4, layernorm=True)
    assert {name for name, _ in head.named_parameters()} == {"linear.weight", "linear.bias"}
    features = torch.randn(3, 16)
    # LayerNorm makes the head invariant to a per-sample affine change of the features
    torch.testing.assert_close(head(features).raw, head(5 * features + 2).raw, atol=1e-4, rtol=1e-4)
    plain = EmbeddingHead(in_dim=16, dim=4, layernorm=False)
    assert not torch.allclose(plain(features).raw, plain(5 * features + 2).raw)


def test_logits_are_computed_from_the_raw_vector():
    torch.manual_seed(1)
    head = EmbeddingHead(in_dim=8, dim=6, num_classes=3)
    out = head(torch.randn(4, 8))
    assert out.logits.shape == (4, 3)
    expected = out.raw @ head.classifier.weight.T + head.classifier.bias
    torch.testing.assert_close(out.logits, expected)
    from_embedding = out.embedding @ head.classifier.weight.T + head.classifier.bias
    assert not torch.allclose(out.logits, from_embedding)


def test_linear_layers_use_kaiming_normal_init():
    torch.manual_seed(2)
    head = EmbeddingHead(in_dim=512, dim=128, num_classes=200)
    for layer, fan_in in ((head.linear, 512), (head.classifier, 128)):
        weight = layer.weight.detach()
        # Kaiming-normal with fan-in and ReLU gain: N(0, 2 / fan_in); 65k / 25k samples
        assert weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
        assert abs(weight.mean().item()) < 0.05 * math.sqrt(2 / fan_in)
        assert torch.count_nonzero(layer.bias) == 0


def test_gradients_reach_every_head_parameter():
    torch.manual_seed(3)
    head = EmbeddingHead(in_dim=10, dim=4, num_classes=3)
    out = head(torch.randn(6, 10))
    target = torch.randn(6, 4)
    loss = (out.embedding * target).sum() + torch.nn.functional.cross_entropy(
        out.logits, torch.tensor([0, 1, 2, 0, 1, 2])
    )
    loss.backward()
    for name, parameter in head.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_head_rejects_wrong_feature_width():
    head = EmbeddingHead(in_dim=10)
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        head(torch.randn(2, 11))


def test_model_fine_tuning_reaches_every_parameter():
    torch.manual_seed(4)
    model = EmbeddingModel.create("resnet18", dim=16, num_classes=3, pretrained=False)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.embedding.shape == (2, 16) and out.logits.shape == (2, 3)
    (out.embedding.sum() + out.logits.square().sum()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_model_with_frozen_backbone_trains_only_the_head():
    torch.manual_seed(5)
    backbone = create_backbone("resnet18", pretrained=False)
    model = EmbeddingModel(backbone, EmbeddingHead(backbone.feature_dim, dim=8))
    model.backbone.requires_grad_(False)
    model.train()
    assert model.backbone_frozen
    assert model.head.training and not model.backbone.training
    stats_before = backbone.trunk.bn1.running_mean.clone()
    out = model(torch.rand(3, 3, 32, 32))
    out.embedding.sum().backward()
    assert torch.equal(backbone.trunk.bn1.running_mean, stats_before)  # no BatchNorm drift
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    # unfreezing restores ordinary training mode
    model.backbone.requires_grad_(True)
    model.train()
    assert model.backbone.training


def test_model_refuses_mismatched_head():
    backbone = create_backbone("resnet18", pretrained=False)
    with pytest.raises(ValueError, match="512"):
        EmbeddingModel(backbone, EmbeddingHead(in_dim=100))
