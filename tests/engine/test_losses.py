"""Loss values on hand-computed logits, the vanishing minimax gradient, and the penalties."""
from __future__ import annotations

import math

import pytest
import torch

from gan_demo.families.losses import (
    LOSS_FORMULAS,
    LOSS_KINDS,
    LOSS_NOTES,
    PROBABILITY_LOSSES,
    d_loss,
    d_prob,
    d_score,
    display_prob,
    g_loss,
    gradient_penalty,
    r1_penalty,
)
from gan_demo.families.nets import MLPDiscriminator

LOG2 = math.log(2.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_losses_are_finite_scalars_even_for_extreme_logits(kind):
    r, f = t(-1e4, 0.0, 50.0, 1e4), t(1e4, -3.0, 0.0, -1e4)
    for value in (d_loss(kind, r, f), g_loss(kind, f)):
        assert value.shape == () and torch.isfinite(value)


@pytest.mark.parametrize("kind", ["nonsaturating", "minimax"])
def test_logistic_d_loss_values(kind):
    zero = torch.zeros(4)
    assert d_loss(kind, zero, zero).item() == pytest.approx(2 * LOG2)
    # D sure and right: ~0; D sure and wrong: ~ 2 * 30
    assert d_loss(kind, t(30.0), t(-30.0)).item() == pytest.approx(0.0, abs=1e-6)
    assert d_loss(kind, t(-30.0), t(30.0)).item() == pytest.approx(60.0, rel=1e-6)
    r, f = t(1.0, -2.0), t(0.5)
    expected = -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()
    assert d_loss(kind, r, f).item() == pytest.approx(expected.item(), rel=1e-5)


def test_generator_loss_values():
    zero = torch.zeros(3)
    assert g_loss("nonsaturating", zero).item() == pytest.approx(LOG2)
    assert g_loss("minimax", zero).item() == pytest.approx(-LOG2)
    f = t(1.0, -2.0)
    assert g_loss("nonsaturating", f).item() == pytest.approx(-torch.log(torch.sigmoid(f)).mean().item(), rel=1e-5)
    assert g_loss("minimax", f).item() == pytest.approx(torch.log(1 - torch.sigmoid(f)).mean().item(), rel=1e-5)
    assert g_loss("hinge", f).item() == pytest.approx(0.5)
    assert g_loss("wgan-gp", f).item() == pytest.approx(0.5)
    assert g_loss("lsgan", f).item() == pytest.approx(0.5 * (0.0 + 9.0) / 2)


def test_hinge_lsgan_wgan_d_loss_values():
    r, f = t(2.0, 0.5), t(-2.0, 0.0)
    # hinge: relu(1 - r) = [0, 0.5] -> 0.25; relu(1 + f) = [0, 1] -> 0.5
    assert d_loss("hinge", r, f).item() == pytest.approx(0.75)
    # lsgan: 0.5 * mean([1, 0.25]) + 0.5 * mean([4, 0])
    assert d_loss("lsgan", r, f).item() == pytest.approx(0.5 * 0.625 + 0.5 * 2.0)
    # wgan: mean(f) - mean(r)
    assert d_loss("wgan-gp", r, f).item() == pytest.approx(-1.0 - 1.25)
    # the optimum of each
    assert d_loss("hinge", t(1.0, 3.0), t(-1.0, -5.0)).item() == 0.0
    assert d_loss("lsgan", t(1.0), t(0.0)).item() == 0.0


def test_real_and_fake_batches_may_differ_in_size():
    assert d_loss("nonsaturating", torch.zeros(2), torch.zeros(5)).item() == pytest.approx(2 * LOG2)


def _grad_wrt_logits(kind: str, f: torch.Tensor) -> torch.Tensor:
    f = f.clone().requires_grad_(True)
    g_loss(kind, f).backward()
    return f.grad


def test_minimax_gradient_vanishes_when_d_rejects_fakes():
    """The teaching point: early on D confidently rejects fakes (very negative logits).
    log(1 - D(G(z))) is flat there, so the minimax G barely learns; -log D(G(z)) is steep."""
    rejected = torch.full((8,), -10.0)
    minimax = _grad_wrt_logits("minimax", rejected).abs().sum()
    nonsaturating = _grad_wrt_logits("nonsaturating", rejected).abs().sum()
    assert minimax < 1e-4
    assert nonsaturating > 0.99
    assert nonsaturating / minimax > 1e4
    # where D is fooled (logit 10) it is the other way round
    fooled = torch.full((8,), 10.0)
    assert _grad_wrt_logits("minimax", fooled).abs().sum() > 0.99
    assert _grad_wrt_logits("nonsaturating", fooled).abs().sum() < 1e-4


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_gradients_point_the_right_way(kind):
    """Descending L_G raises D's score of the fakes; descending L_D separates real from fake."""
    f = torch.full((4,), 0.3, requires_grad=True)
    g_loss(kind, f).backward()
    assert (f.grad < 0).all()
    r = torch.full((4,), 0.3, requires_grad=True)
    f = torch.full((4,), 0.3, requires_grad=True)
    d_loss(kind, r, f).backward()
    assert (r.grad < 0).all() and (f.grad > 0).all()


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="nonsaturating, minimax, hinge, lsgan, wgan-gp"):
        d_loss("wgan", torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="unknown loss"):
        g_loss("bce", torch.zeros(1))
    with pytest.raises(ValueError):
        d_score("l2", torch.zeros(1))
    with pytest.raises(ValueError):
        display_prob("l2", torch.zeros(1))


def test_formulas_cover_every_kind():
    assert set(LOSS_FORMULAS) == set(LOSS_KINDS) == set(LOSS_NOTES)
    for l_d, l_g in LOSS_FORMULAS.values():
        assert l_d.startswith("L_D") and l_g.startswith("L_G")
        assert l_d.count("{") == l_d.count("}") and l_g.count("{") == l_g.count("}")
    assert r"\lambda" in LOSS_FORMULAS["wgan-gp"][0]


def test_d_score():
    logits = t(0.0, 0.0, 2.0, -2.0)
    for kind in ("nonsaturating", "minimax", "hinge"):
        assert d_score(kind, logits).item() == pytest.approx(0.5)
    assert d_score("wgan-gp", t(1.0, 3.0)).item() == pytest.approx(2.0)
    assert d_score("lsgan", t(1.0, 0.0)).item() == pytest.approx(0.5)
    assert not d_score("nonsaturating", logits.requires_grad_(True)).requires_grad


def test_d_prob_per_sample():
    logits = t(0.0, math.log(3.0), -math.log(3.0))
    for kind in PROBABILITY_LOSSES:
        assert d_prob(kind, logits).tolist() == pytest.approx([0.5, 0.75, 0.25])
    for kind in ("lsgan", "wgan-gp"):
        assert d_prob(kind, logits).tolist() == pytest.approx(logits.tolist())  # a score, not a probability
    assert set(PROBABILITY_LOSSES) < set(LOSS_KINDS)


def test_display_prob_is_in_0_1_for_every_loss():
    logits = t(-5.0, -1.0, 0.0, 0.5, 1.0, 7.0)
    assert display_prob("hinge", logits).tolist() == pytest.approx(torch.sigmoid(logits).tolist())
    assert display_prob("lsgan", logits).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.5, 1.0, 1.0])
    critic = display_prob("wgan-gp", logits)
    # standardised: the mean score maps to 0.5, and the order is kept
    assert display_prob("wgan-gp", t(-1.0, 0.0, 1.0)).tolist()[1] == pytest.approx(0.5)
    assert critic.argsort().tolist() == list(range(6))
    for kind in LOSS_KINDS:
        p = display_prob(kind, logits * 100)
        assert ((p >= 0) & (p <= 1)).all()


# ------------------------------------------------------------ penalties
class LinearD(torch.nn.Module):
    """D(x) = <x, w> + b, labels ignored: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w + 0.5


def test_gradient_penalty_is_zero_for_unit_gradient():
    u = torch.tensor([0.6, 0.8])  # |u| = 1
    D = LinearD(u)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert gradient_penalty(D, real, fake).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_value_and_gradient_for_linear_d():
    D = LinearD(torch.tensor([3.0, 4.0]))  # |grad| = 5 everywhere -> (5 - 1)^2
    real, fake = torch.randn(8, 2), torch.randn(8, 2, requires_grad=True)
    gp = gradient_penalty(D, real, fake)
    assert gp.item() == pytest.approx(16.0, rel=1e-5)
    gp.backward()  # create_graph=True: the penalty trains D
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(D.w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5, rtol=1e-5)
    assert fake.grad is None  # G gets nothing from the penalty


def test_gradient_penalty_images_conditional_and_seeded():
    torch.manual_seed(0)
    D = MLPDiscriminator(data_dim=2 * 4 * 4, width=8, depth=1, n_classes=3)
    real, fake = torch.randn(4, 2, 4, 4), torch.randn(4, 2, 4, 4)
    y = torch.tensor([0, 1, 2, 0])
    gp1 = gradient_penalty(D, real, fake, y, generator=torch.Generator().manual_seed(3))
    gp2 = gradient_penalty(D, real, fake, y, generator=torch.Generator().manual_seed(3))
    assert gp1.shape == () and torch.isfinite(gp1) and gp1.item() == gp2.item()
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(D, real, fake[:2])


def test_r1_penalty_for_linear_d():
    D = LinearD(torch.tensor([1.0, 2.0]))  # ||grad||^2 = 5
    real = torch.randn(10, 2)
    r1 = r1_penalty(D, real)
    assert r1.item() == pytest.approx(5.0, rel=1e-6)
    r1.backward()
    assert torch.allclose(D.w.grad, 2 * torch.tensor([1.0, 2.0]))  # d/dw |w|^2
    assert not real.requires_grad  # the caller's tensor is untouched


def test_r1_penalty_quadratic_d():
    class QuadraticD(torch.nn.Module):
        def forward(self, x, y=None):
            return (x ** 2).sum(dim=1)  # grad 2x -> ||grad||^2 = 4 |x|^2

    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert r1_penalty(QuadraticD(), real).item() == pytest.approx((4 * 1 + 4 * 4) / 2)


@pytest.mark.parametrize("net", ["mlp-relu", "mlp-leaky", "dcgan", "mlp-pack"])
def test_penalties_with_constant_slopes_equal_plain_autograd(net):
    """R1 and the gradient penalty run D's (leaky) ReLUs with constant slopes (nets.constant_slopes): the same
    penalty and the same gradients for D's weights as autograd through nn.functional's relu, which also sends
    relu's zero second derivative back through D."""
    from gan_demo.families import losses
    from gan_demo.families.nets import DCGANDiscriminator

    torch.manual_seed(0)
    if net == "dcgan":
        D, x = DCGANDiscriminator(1, 16, 8, "none"), torch.randn(6, 1, 16, 16)
    else:
        D = MLPDiscriminator(width=16, depth=3, activation="leaky_relu" if net == "mlp-leaky" else "relu",
                             pack=2 if net == "mlp-pack" else 0)
        x = torch.randn(8, 2)
    fake = torch.randn_like(x)
    pack = 2 if net == "mlp-pack" else 1

    def penalties():
        D.zero_grad()
        r1 = r1_penalty(lambda v, y: D(v), x, pack=pack)
        gp = gradient_penalty(lambda v, y: D(v), x, fake, generator=torch.Generator().manual_seed(1), pack=pack)
        (r1 + gp).backward()
        # A bias that only shifts where the slopes change gets no gradient from a penalty (autograd's plain path
        # hands it zeros): compare as zeros.
        return torch.stack([r1, gp]).detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                                for p in D.parameters()]

    values, grads = penalties()

    def plain_input_grad(D_, v, y):  # losses._input_grad as it was: no constant slopes
        v = v.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(D_(v, y).sum(), v, create_graph=True)
        return grad.float().flatten(1)

    original = losses._input_grad
    losses._input_grad = plain_input_grad
    try:
        plain_values, plain_grads = penalties()
    finally:
        losses._input_grad = original
    assert torch.allclose(values, plain_values, rtol=1e-6, atol=1e-7)
    assert len(grads) == len(plain_grads) > 0
    for a, b in zip(grads, plain_grads):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
