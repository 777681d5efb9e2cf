"""Shapes, widths, ranges and conditioning of the MLP and DCGAN generators/discriminators."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.families.nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    build_models,
    count_params,
    step_cost,
)

B = 3


def mlp_config(**kw) -> ModelConfig:
    base = dict(arch="mlp", z_dim=4, width=16, depth=2, activation="relu", d_norm="none", data_dim=2)
    return ModelConfig(**{**base, **kw})


def dcgan_config(**kw) -> ModelConfig:
    base = dict(arch="dcgan", z_dim=8, ngf=4, ndf=4, d_norm="batch", channels=1, img_size=16)
    return ModelConfig(**{**base, **kw})


def labels(n: int, n_classes: int) -> torch.Tensor:
    return torch.arange(n) % n_classes


# ---------------------------------------------------------------- MLP
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "tanh", "silu"])
@pytest.mark.parametrize("d_norm", ["none", "batch", "spectral"])
@pytest.mark.parametrize("n_classes", [0, 3])
def test_mlp_shapes(activation, d_norm, n_classes):
    torch.manual_seed(0)
    G, D = build_models(mlp_config(activation=activation, d_norm=d_norm, n_classes=n_classes))
    assert isinstance(G, MLPGenerator) and isinstance(D, MLPDiscriminator)
    y = labels(B, n_classes) if n_classes else None
    x = G(torch.randn(B, 4), y)
    assert x.shape == (B, 2)
    logits = D(x, y)
    assert logits.shape == (B,) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    logits.sum().backward()  # gradients flow through both nets
    assert all(p.grad is not None for p in G.parameters())


def test_mlp_layers_follow_config():
    G, D = build_models(mlp_config(width=32, depth=3, activation="leaky_relu", data_dim=5))
    g_linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in g_linears] == [32, 32, 32, 5]
    assert g_linears[0].in_features == 4
    slopes = {m.negative_slope for m in G.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    # plain linear output: no squashing, so points can reach grid25's [-4, 4]
    assert isinstance(G.net[-1], nn.Linear)
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [32, 32, 32, 1]


def test_mlp_generator_output_is_unbounded():
    G = MLPGenerator(z_dim=2, data_dim=2, width=8, depth=1)
    with torch.no_grad():
        for p in G.parameters():
            p.fill_(1.0)
    assert G(torch.full((1, 2), 10.0)).abs().max() > 4


def test_mlp_d_norms():
    _, D = build_models(mlp_config(d_norm="batch", depth=3))
    # DCGAN rule: no norm on D's input layer, BatchNorm1d after the other hidden linears
    assert sum(isinstance(m, nn.BatchNorm1d) for m in D.modules()) == 2
    _, D = build_models(mlp_config(d_norm="spectral", depth=2, n_classes=3))
    linears = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Embedding))]
    assert len(linears) == 4 and all(hasattr(m, "parametrizations") for m in linears)
    _, D = build_models(mlp_config(d_norm="none"))
    assert not any(isinstance(m, nn.BatchNorm1d) or hasattr(m, "parametrizations") for m in D.modules())


def test_spectral_norm_bounds_mlp_discriminator():
    torch.manual_seed(0)
    _, D = build_models(mlp_config(d_norm="spectral", width=32, activation="relu"))
    for _ in range(30):  # let the power iteration converge
        D(torch.randn(8, 2))
    D.eval()
    for m in D.modules():
        if isinstance(m, nn.Linear):
            assert torch.linalg.matrix_norm(m.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


# -------------------------------------------------------------- DCGAN
@pytest.mark.parametrize("img_size", [16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_tanh_range(img_size, channels):
    torch.manual_seed(0)
    G, D = build_models(dcgan_config(img_size=img_size, channels=channels))
    assert isinstance(G, DCGANGenerator) and isinstance(D, DCGANDiscriminator)
    x = G(torch.randn(B, 8))
    assert x.shape == (B, channels, img_size, img_size)
    assert x.min() >= -1 and x.max() <= 1
    assert isinstance(G.net[-1], nn.Tanh)
    logits = D(x)
    assert logits.shape == (B,) and logits.dtype == torch.float32


@pytest.mark.parametrize("d_norm", ["batch", "spectral", "none"])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_dcgan_norms_and_conditioning(d_norm, n_classes):
    torch.manual_seed(0)
    G, D = build_models(dcgan_config(img_size=32, channels=3, d_norm=d_norm, n_classes=n_classes))
    y = labels(B, n_classes) if n_classes else None
    x = G(torch.randn(B, 8), y)
    assert x.shape == (B, 3, 32, 32)
    logits = D(x, y)
    assert logits.shape == (B,) and torch.isfinite(logits).all()
    logits.sum().backward()
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    first = convs[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.features[:2])  # first block: no BN
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert n_bn == (2 if d_norm == "batch" else 0)
    wrapped = [hasattr(m, "parametrizations") for m in convs]
    assert all(wrapped) if d_norm == "spectral" else not any(wrapped)
    assert first.in_channels == 3


def test_canonical_widths_32px():
    G, D = build_models(ModelConfig(arch="dcgan", z_dim=100, ngf=64, ndf=64, d_norm="batch",
                                    channels=3, img_size=32))
    g_convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert g_convs[0].in_channels == 100
    assert [m.out_channels for m in g_convs] == [256, 128, 64, 3]
    d_convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in d_convs] == [64, 128, 256, 1]
    # bias=False where BatchNorm follows (as pytorch/examples)
    assert all(m.bias is None for m in g_convs[:-1]) and all(m.bias is None for m in d_convs[1:3])
    # state sizes: z -> (4ngf, 4, 4) -> (2ngf, 8, 8) -> (ngf, 16, 16) -> (3, 32, 32)
    h, sizes = torch.randn(2, 100, 1, 1), []
    for m in G.net:
        h = m(h)
        if isinstance(m, nn.ConvTranspose2d):
            sizes.append(tuple(h.shape[1:]))
    assert sizes == [(256, 4, 4), (128, 8, 8), (64, 16, 16), (3, 32, 32)]
    h = D.features(torch.randn(2, 3, 32, 32))
    assert h.shape == (2, 256, 4, 4)


def test_widths_64px_and_16px():
    G, D = build_models(dcgan_config(ngf=8, ndf=8, img_size=64, channels=3))
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [64, 32, 16, 8, 3]
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32, 64, 1]
    G, D = build_models(dcgan_config(ngf=8, ndf=8, img_size=16, channels=1))
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [16, 8, 1]
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 1]


def test_dcgan_init():
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(arch="dcgan", z_dim=100, ngf=64, ndf=64, d_norm="batch",
                                    channels=3, img_size=32))
    conv = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)][0]
    w = conv.weight.detach()
    assert w.mean().abs() < 0.002 and w.std().item() == pytest.approx(0.02, rel=0.05)
    bn = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    w = bn.weight.detach()
    assert w.mean().item() == pytest.approx(1.0, abs=0.01) and w.std().item() == pytest.approx(0.02, rel=0.3)
    assert (bn.bias == 0).all()
    assert (D.out.bias == 0).all()


# -------------------------------------------------------- conditioning
@pytest.mark.parametrize("make", [
    lambda: build_models(dcgan_config(n_classes=10)),
    lambda: build_models(mlp_config(n_classes=10)),
])
def test_conditional_labels_matter_and_are_required(make):
    torch.manual_seed(0)
    G, D = make()
    G.eval(), D.eval()
    z = torch.randn(1, G.z_dim).expand(2, -1)
    x = G(z, torch.tensor([3, 7]))
    assert not torch.allclose(x[0], x[1])
    # an int (or 0-d tensor) asks for one class for the whole batch: "a 7"
    assert torch.allclose(G(z, 7), G(z, torch.tensor([7, 7])))
    same = x[:1].expand(2, *x.shape[1:])
    d = D(same, torch.tensor([3, 7]))
    assert d.shape == (2,) and d[0] != d[1]
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)
    with pytest.raises(ValueError, match="class-conditional"):
        D(x)
    with pytest.raises(ValueError, match="0..9"):
        G(z, torch.tensor([3, 10]))
    with pytest.raises(ValueError, match="shape"):
        G(z, torch.tensor([1, 2, 3]))


def test_unconditional_models_ignore_labels():
    torch.manual_seed(0)
    G, D = build_models(dcgan_config())
    G.eval(), D.eval()
    z = torch.randn(2, 8)
    assert torch.equal(G(z, torch.tensor([0, 1])), G(z))
    x = G(z)
    assert torch.equal(D(x, torch.tensor([0, 1])), D(x))


# --------------------------------------------------------------- misc
def test_bad_inputs_raise_clear_errors():
    G, D = build_models(dcgan_config())
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        G(torch.randn(2, 9))
    with pytest.raises(ValueError, match="images must have shape"):
        D(torch.randn(2, 3, 16, 16))
    for bad in (dict(arch="auto"), dict(d_norm="auto"), dict(img_size=28), dict(z_dim=0)):
        with pytest.raises(ValueError):
            build_models(dataclasses.replace(dcgan_config(), **bad))
    with pytest.raises(ValueError, match="activation"):
        build_models(mlp_config(activation="gelu"))


def test_z_may_be_4d():
    G, _ = build_models(dcgan_config())
    G.eval()
    z = torch.randn(2, 8)
    assert torch.equal(G(z[:, :, None, None]), G(z))


def test_count_params():
    lin = nn.Linear(3, 4)
    assert count_params(lin) == 16
    G, D = build_models(mlp_config(width=16, depth=2, z_dim=4))
    assert count_params(G) == (4 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2)
    _, D_sn = build_models(mlp_config(width=16, depth=2, z_dim=4, d_norm="spectral"))
    assert count_params(D_sn) == count_params(D)  # spectral norm adds buffers, not parameters


def test_build_is_deterministic_under_seed():
    torch.manual_seed(1)
    G1, D1 = build_models(dcgan_config(d_norm="spectral", n_classes=3))
    torch.manual_seed(1)
    G2, D2 = build_models(dcgan_config(d_norm="spectral", n_classes=3))
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G2.state_dict().values()) + list(D2.state_dict().values())):
        assert torch.equal(a, b)
    assert G1.state_dict().keys() == G2.state_dict().keys()


def test_state_dict_round_trip_rebuilds_the_same_models():
    """What a checkpoint does: build from the config alone, load the weights, same outputs."""
    cfg = dcgan_config(d_norm="spectral", n_classes=3)
    torch.manual_seed(0)
    G, D = build_models(cfg)
    D(torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]))  # move the power-iteration state
    G2, D2 = build_models(cfg)
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    for m in (G, D, G2, D2):
        m.eval()
    z, y = torch.randn(2, 8), torch.tensor([1, 2])
    assert torch.equal(G(z, y), G2(z, y))
    x = G(z, y)
    assert torch.equal(D(x, y), D2(x, y))


# ------------------------------------------------------------------- cost
def test_step_cost_of_a_tiny_mlp_by_hand():
    # ring8 resolves to r1_gamma 0.1 (a penalty) and d_norm "none"; batch 4, width 16, depth 2, z_dim 8.
    cfg = RunConfig(data=DataConfig(dataset="ring8"), model=ModelConfig(width=16, depth=2, z_dim=8),
                    train=TrainConfig(batch_size=4)).resolved()
    g = 2 * 4 * (8 * 16 + 16 * 16 + 16 * 2)  # G forward: 3328
    d = 2 * 4 * (2 * 16 + 16 * 16 + 16 * 1)  # D forward: 2432
    cost = step_cost(cfg)
    assert cost.flops == (g + 6 * d + 4 * d) + 3 * (g + d) == 44928
    p_g, p_d = (8 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2), (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert cost.params == p_g + p_d
    acts_g, acts_d = 4 * (16 + 16 + 16 + 16 + 2), 4 * (16 + 16 + 16 + 16 + 1)  # every leaf's output
    assert cost.memory_bytes == 4 * (4 * (p_g + p_d) + p_g + max(3 * acts_d, acts_g + acts_d))
    two_critics = RunConfig.from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "n_critic": 2}})
    assert step_cost(two_critics).flops == cost.flops + g + 10 * d


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_step_cost_counts_forward_flops_as_torch_does(d_norm):
    from torch.utils.flop_counter import FlopCounterMode

    from gan_demo.families.nets import forward_cost

    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=16),
                    model=ModelConfig(ngf=8, ndf=8, conditional=True, d_norm=d_norm)).resolved(channels=1, n_classes=10)
    G, D = build_models(cfg.model)
    z, y = torch.zeros(4, cfg.model.z_dim), torch.zeros(4, dtype=torch.long)
    for net, x in ((G, z), (D, torch.zeros(4, 1, 16, 16))):
        with FlopCounterMode(display=False) as counter:
            net(x, y)
        assert forward_cost(net, x, y)[0] == counter.get_total_flops() > 0


def test_step_cost_of_a_huge_model_allocates_nothing():
    import resource

    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=64, channels=3), model=ModelConfig(ngf=1024, ndf=1024),
                    train=TrainConfig(batch_size=4096, n_critic=10)).resolved()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    cost = step_cost(cfg)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300 * 1024
    assert cost.params > 1.4e9 and cost.flops > 1e16 and cost.memory_bytes > 30 * 2**30
