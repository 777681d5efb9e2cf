"""Minibatch standard deviation and PacGAN packing (issue 19): D options for the MLP and the DCGAN D.

Golden values pin a few steps of tiny runs with each option, on 2D points and on images, with every loss,
R1 and the gradient penalty, and conditional D's (the pattern of tests/test_golden.py: literals measured on
one CPU thread; `PYTHONPATH=. python tests/test_mbstd_pack.py` prints what the code gives now). The rest
checks what the layers compute, the penalties on packed inputs, the config's refusals, and that old
checkpoints (without the fields) rebuild exactly as before.
"""
from __future__ import annotations

import json

import pytest
import torch

from gan_demo.training.checkpoint import load_checkpoint
from gan_demo.core.config import LOSSES, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.families.losses import gradient_penalty, r1_penalty
from gan_demo.families.nets import (DCGANDiscriminator, MLPDiscriminator, judge_each, minibatch_stddev, pack_samples,
                             step_cost)
from gan_demo.training.trainer import Trainer

STEPS = 3
RTOL, ATOL = 1e-5, 1e-6
CONV_RTOL = 2e-4  # oneDNN's convolution kernels differ by instruction set (see tests/test_golden.py)
STEP_VALUES = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")


def toy_cfg(loss: str, r1_gamma: float, mbstd_group: int = 0, pack: int = 0) -> RunConfig:
    """ring8 with a 2-layer MLP of width 16 (d_norm auto: BatchNorm without a penalty, none with one)."""
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000),
                     model=ModelConfig(width=16, depth=2, z_dim=8, mbstd_group=mbstd_group, pack=pack),
                     train=TrainConfig(loss=loss, r1_gamma=r1_gamma, batch_size=64, steps=STEPS, seed=0, device="cpu",
                                       lr_g=1e-3, lr_d=1e-3, lr_decay=0.0))


def digits_cfg(conditional: bool, mbstd_group: int = 0, pack: int = 0, r1_gamma: float = 0.0,
               d_norm: str = "auto") -> RunConfig:
    """A tiny DCGAN on the bundled digits at 16 px, fp32."""
    return RunConfig(data=DataConfig(dataset="digits", img_size=16),
                     model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=conditional, mbstd_group=mbstd_group,
                                       pack=pack, d_norm=d_norm),
                     train=TrainConfig(batch_size=16, steps=STEPS, seed=0, device="cpu", amp=False, lr_g=2e-4,
                                       lr_d=2e-4, r1_gamma=r1_gamma))


TOY_CASES = {
    **{f"pack2 {loss}": (loss, 0.0 if loss == "wgan-gp" else 0.1, 0, 2) for loss in LOSSES},  # R1, or wgan-gp's GP
    "pack4 nonsaturating batchnorm": ("nonsaturating", 0.0, 0, 4),
    "mbstd4 nonsaturating batchnorm": ("nonsaturating", 0.0, 4, 0),
    "mbstd4 nonsaturating r1": ("nonsaturating", 0.1, 4, 0),
    "mbstd4 wgan-gp": ("wgan-gp", 0.0, 4, 0),
    "mbstd2 pack2 hinge r1": ("hinge", 0.1, 2, 2),
}
DIGITS_CASES = {
    "mbstd4": dict(conditional=False, mbstd_group=4),
    "pack2": dict(conditional=False, pack=2),
    "pack2 conditional": dict(conditional=True, pack=2),
    "mbstd2 pack2 conditional r1": dict(conditional=True, mbstd_group=2, pack=2, r1_gamma=0.1),
}


def measure(cfg: RunConfig) -> dict:
    tr = Trainer(cfg)
    steps = [[float(rec.step)] + [getattr(rec, n) for n in STEP_VALUES] for rec in (tr.step_once() for _ in range(STEPS))]
    x = tr.sample_fixed()
    return {"steps": steps, "samples": x[:4].tolist() if tr.kind == "2d" else x[:2, 0, 6:9, 6:9].tolist()}


# Measured 2026-12-04 on one thread of this CPU (`PYTHONPATH=. python tests/test_mbstd_pack.py`).
GOLDEN = {'toy': {'pack2 nonsaturating': {'steps': [[1.0,
                                            1.3807635,
                                            0.69122481,
                                            0.50499701,
                                            0.50164425,
                                            0.22315174,
                                            0.039619707],
                                           [2.0,
                                            1.3740551,
                                            0.69131809,
                                            0.50817341,
                                            0.50141549,
                                            0.23239091,
                                            0.040787771],
                                           [3.0,
                                            1.3785924,
                                            0.69191098,
                                            0.50612772,
                                            0.50145614,
                                            0.26701516,
                                            0.041161116]],
                                 'samples': [[-0.021508325, -0.26542968],
                                             [-0.014111391, -0.1628769],
                                             [0.031595644, -0.27802858],
                                             [-0.022824353, -0.18295293]]},
         'pack2 minimax': {'steps': [[1.0, 1.3807635, -0.69508284, 0.50499701, 0.50164425, 0.22315174, 0.039791092],
                                     [2.0, 1.3740551, -0.69498938, 0.50817341, 0.50141549, 0.2323909, 0.040962163],
                                     [3.0, 1.3785924, -0.69438869, 0.50612766, 0.50145614, 0.26701504, 0.041271348]],
                           'samples': [[-0.021512989, -0.265425],
                                       [-0.014112722, -0.16287075],
                                       [0.031597942, -0.2780326],
                                       [-0.022839347, -0.18293566]]},
         'pack2 hinge': {'steps': [[1.0, 1.9874036, -0.0048580626, 0.50499701, 0.50164425, 0.45077524, 0.079410791],
                                   [2.0, 1.9736036, -0.0058007981, 0.50842762, 0.50166541, 0.47335267, 0.081946976],
                                   [3.0, 1.9823515, -0.0056918031, 0.50665641, 0.50198972, 0.54119313, 0.082788691]],
                         'samples': [[-0.021516968, -0.26543874],
                                     [-0.014114875, -0.16288409],
                                     [0.0315906, -0.27803823],
                                     [-0.022838261, -0.18295635]]},
         'pack2 lsgan': {'steps': [[1.0, 0.48223048, 0.48990002, 0.020006713, 0.0065769982, 1.1813933, 0.086077943],
                                   [2.0, 0.46543974, 0.48393965, 0.037962034, 0.012074602, 1.1809254, 0.088540263],
                                   [3.0, 0.47010991, 0.47849339, 0.033845358, 0.018458746, 1.1792638, 0.089672945]],
                         'samples': [[-0.021082932, -0.26520976],
                                     [-0.013903298, -0.16308875],
                                     [0.031546306, -0.27754551],
                                     [-0.022846978, -0.18303005]]},
         'pack2 wgan-gp': {'steps': [[1.0, 8.0693941, -0.0057398221, 0.020006713, 0.0065769982, 8.6303701, 0.086820252],
                                     [2.0, 7.8727474, -0.009003724, 0.022492487, 0.0071089673, 8.316576, 0.092425443],
                                     [3.0, 7.8637486, -0.0095396452, 0.028283048, 0.010506995, 8.5476475, 0.094554931]],
                           'samples': [[-0.022929547, -0.26473132],
                                       [-0.014611364, -0.16191243],
                                       [0.032131549, -0.27809781],
                                       [-0.02393564, -0.18247649]]},
         'pack4 nonsaturating batchnorm': {'steps': [[1.0,
                                                      1.4497738,
                                                      0.6916936,
                                                      0.51917011,
                                                      0.52259028,
                                                      0.43650329,
                                                      0.29495153],
                                                     [2.0,
                                                      1.4489059,
                                                      0.68963581,
                                                      0.51703811,
                                                      0.5236364,
                                                      0.439275,
                                                      0.33902556],
                                                     [3.0,
                                                      1.4535233,
                                                      0.68302214,
                                                      0.50915933,
                                                      0.51665258,
                                                      0.37707248,
                                                      0.36722189]],
                                           'samples': [[-0.0094291335, -0.23631644],
                                                       [-0.012334573, -0.14743412],
                                                       [0.038728338, -0.2591826],
                                                       [-0.014771009, -0.16255429]]},
         'mbstd4 nonsaturating batchnorm': {'steps': [[1.0,
                                                       1.4446511,
                                                       0.76288086,
                                                       0.47394791,
                                                       0.4784022,
                                                       0.71086448,
                                                       0.32700399],
                                                      [2.0,
                                                       1.4421375,
                                                       0.76321858,
                                                       0.47515765,
                                                       0.48127371,
                                                       0.70964521,
                                                       0.27207607],
                                                      [3.0,
                                                       1.4312425,
                                                       0.76293588,
                                                       0.47583437,
                                                       0.47784272,
                                                       0.66386604,
                                                       0.41088957]],
                                            'samples': [[-0.013248512, -0.2391858],
                                                        [-0.0074780243, -0.13329232],
                                                        [0.034853473, -0.25711694],
                                                        [-0.012645892, -0.14941488]]},
         'mbstd4 nonsaturating r1': {'steps': [[1.0,
                                                1.4242915,
                                                0.58079135,
                                                0.54806995,
                                                0.56045181,
                                                0.24384902,
                                                0.022660181],
                                               [2.0,
                                                1.4205595,
                                                0.5827561,
                                                0.54885536,
                                                0.55947924,
                                                0.25214744,
                                                0.02514042],
                                               [3.0,
                                                1.4210253,
                                                0.58416921,
                                                0.54743141,
                                                0.55853283,
                                                0.25617579,
                                                0.027041918]],
                                     'samples': [[0.0088584451, -0.22373304],
                                                 [0.0018736708, -0.1312824],
                                                 [0.050662894, -0.24683839],
                                                 [0.0026239899, -0.14337406]]},
         'mbstd4 wgan-gp': {'steps': [[1.0, 8.4512806, -0.24143974, 0.19297695, 0.24299632, 10.9867, 0.054376278],
                                      [2.0, 8.4016047, -0.24071831, 0.19187301, 0.24148086, 9.3714647, 0.059739731],
                                      [3.0, 8.2014761, -0.24020173, 0.18441114, 0.24142815, 11.0869, 0.063466586]],
                            'samples': [[0.010948345, -0.22638902],
                                        [0.0026241688, -0.13473314],
                                        [0.052572343, -0.2490041],
                                        [0.0042327447, -0.1469942]]},
         'mbstd2 pack2 hinge r1': {'steps': [[1.0,
                                              1.9630711,
                                              0.20396064,
                                              0.45834422,
                                              0.44900131,
                                              0.3929593,
                                              0.041844957],
                                             [2.0,
                                              1.9691397,
                                              0.20416544,
                                              0.45698279,
                                              0.44914055,
                                              0.41370344,
                                              0.036320511],
                                             [3.0,
                                              1.9418342,
                                              0.20504358,
                                              0.46348089,
                                              0.44884914,
                                              0.48639029,
                                              0.035686571]],
                                   'samples': [[-0.032915194, -0.2448345],
                                               [-0.02379974, -0.13886872],
                                               [0.021631861, -0.26508823],
                                               [-0.038196635, -0.15447924]]}},
 'digits': {'mbstd4': {'steps': [[1.0, 1.3880486, 0.69424516, 0.49845988, 0.49931735, 0.95809788, 0.11410107],
                                 [2.0, 1.3813004, 0.69545794, 0.50192857, 0.49940652, 0.96229649, 0.14337371],
                                 [3.0, 1.3700143, 0.69398928, 0.50742203, 0.49919763, 0.90720981, 0.13381086]],
                       'samples': [[[0.50109285, 0.49911234, 0.49941236],
                                    [0.50033927, 0.50004274, 0.50025678],
                                    [0.50004083, 0.50010836, 0.50024056]],
                                   [[0.49993357, 0.49991912, 0.49999601],
                                    [0.50043827, 0.50042671, 0.49997064],
                                    [0.49988535, 0.50054741, 0.49986392]]]},
            'pack2': {'steps': [[1.0, 1.4833711, 0.68501937, 0.46177763, 0.50741798, 6.7545962, 1.5787191],
                                [2.0, 1.4352815, 0.68252623, 0.48333496, 0.50706959, 6.0837016, 1.45117],
                                [3.0, 1.4210184, 0.67985374, 0.50009614, 0.51669592, 5.660429, 1.556451]],
                      'samples': [[[0.50036711, 0.49864525, 0.49875706],
                                   [0.49964964, 0.49953422, 0.49939537],
                                   [0.49947673, 0.4990795, 0.49966416]],
                                  [[0.49931556, 0.49930695, 0.49931315],
                                   [0.49981338, 0.499962, 0.49919793],
                                   [0.49931145, 0.49981058, 0.49933162]]]},
            'pack2 conditional': {'steps': [[1.0, 1.4130311, 26.416798, 0.47626302, 0.48358071, 8.5830822, 174.35632],
                                            [2.0, 1.4885037, 25.873495, 0.47026774, 0.51150918, 8.8102083, 166.60809],
                                            [3.0, 1.3090534, 26.630463, 0.53695726, 0.48899126, 7.9819756, 181.60776]],
                                  'samples': [[[0.50128335, 0.50045419, 0.50133711],
                                               [0.49901408, 0.50053006, 0.49945733],
                                               [0.50101191, 0.49930805, 0.50074291]],
                                              [[0.50097644, 0.49945012, 0.50220209],
                                               [0.49952766, 0.49934378, 0.49896523],
                                               [0.49918884, 0.49884102, 0.50101495]]]},
            'mbstd2 pack2 conditional r1': {'steps': [[1.0,
                                                       1.3854349,
                                                       26.397406,
                                                       0.5004769,
                                                       0.50004607,
                                                       0.10380407,
                                                       174.41476],
                                                      [2.0,
                                                       1.3844928,
                                                       25.835693,
                                                       0.5008567,
                                                       0.49995416,
                                                       0.10594268,
                                                       166.81215],
                                                      [3.0,
                                                       1.3852484,
                                                       26.634077,
                                                       0.5004698,
                                                       0.49994546,
                                                       0.08659561,
                                                       181.81683]],
                                            'samples': [[[0.50127298, 0.50045139, 0.50132501],
                                                         [0.49901009, 0.50052035, 0.4994497],
                                                         [0.50098884, 0.49930388, 0.50073361]],
                                                        [[0.50096369, 0.49944404, 0.50218493],
                                                         [0.49951994, 0.49933153, 0.49895641],
                                                         [0.49917272, 0.49883467, 0.50100076]]]}}}

# D's logits on G_ema's samples of 6 fixed latents (seed 7) for the bundled checkpoints, measured with the code
# before the fields existed (main at cec709e, one thread): the same config.json must rebuild the same networks.
OLD_CHECKPOINTS = {
    "ring8": {"d": [0.009827, 0.009927, 0.015551, 0.023953, -0.01479, 0.017666], "g": -2.00998},
    "grid25": {"d": [-0.127936, 0.076501, -0.065807, -0.02333, 0.071426, -0.010884], "g": 2.23265},
    "digits": {"d": [-2.650391, -3.21971, -5.039015, -4.149054, -3.601636, -2.571962], "g": -2238.30674},
}


pytestmark = pytest.mark.usefixtures("one_thread")  # golden and equivalence values: tests/conftest.py


def check(actual: dict, expected: dict, rtol: float = RTOL) -> None:
    assert set(actual) == set(expected)
    for key in expected:
        torch.testing.assert_close(torch.tensor(actual[key], dtype=torch.float64),
                                   torch.tensor(expected[key], dtype=torch.float64),
                                   rtol=rtol, atol=ATOL, msg=lambda m, key=key: f"{key}: {m}")


# ------------------------------------------------------------------ golden runs
@pytest.mark.parametrize("case", list(TOY_CASES))
def test_toy_golden(case):
    check(measure(toy_cfg(*TOY_CASES[case])), GOLDEN["toy"][case])


@pytest.mark.parametrize("case", list(DIGITS_CASES))
def test_digits_golden(case):
    check(measure(digits_cfg(**DIGITS_CASES[case])), GOLDEN["digits"][case], rtol=CONV_RTOL)


def test_options_change_the_run():
    """Each option is live: the same seed with it on trains to other numbers than without."""
    plain = measure(toy_cfg("nonsaturating", 0.1))["steps"]
    assert measure(toy_cfg("nonsaturating", 0.1, mbstd_group=4))["steps"] != plain
    assert measure(toy_cfg("nonsaturating", 0.1, pack=2))["steps"] != plain


# ------------------------------------------------------------------ the layers
def test_minibatch_stddev_values():
    h = torch.tensor([[0.0, 2.0], [1.0, 4.0], [2.0, 2.0], [3.0, 4.0]])  # groups of 2, strided: {0, 2} and {1, 3}
    out = minibatch_stddev(h, 2)
    assert out.shape == (4, 3)
    torch.testing.assert_close(out[:, :2], h)
    # group {0, 2}: features (0, 2) and (2, 2): population std 1 and 0 -> mean 0.5; group {1, 3}: (1, 4), (3, 4) -> 0.5
    torch.testing.assert_close(out[:, 2], torch.full((4,), 0.5), atol=1e-4, rtol=0)
    same = minibatch_stddev(torch.ones(8, 3, 4, 4), 4)  # a collapsed batch: no spread
    assert same.shape == (8, 4, 4, 4) and float(same[:, 3].max()) < 1e-3
    odd = minibatch_stddev(torch.randn(6, 5), 4)  # 6 samples, groups of 4: the largest size that divides, 3
    assert odd.shape == (6, 6) and torch.isfinite(odd).all()


def test_pack_samples_concatenates_consecutive_samples():
    x = torch.arange(6.0).reshape(6, 1)
    packed, y = pack_samples(x, 2, torch.tensor([0, 1, 2, 3, 4, 5]))
    assert packed.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]] and y.tolist() == [[0, 1], [2, 3], [4, 5]]
    imgs = torch.randn(4, 3, 8, 8).to(memory_format=torch.channels_last)
    packed, _ = pack_samples(imgs, 2)
    assert packed.shape == (2, 6, 8, 8) and torch.equal(packed[1, 3:], imgs[3])
    odd, _ = pack_samples(x[:5], 2)  # filled up by wrapping around: the last pack is (4, 0)
    assert odd.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]]


@pytest.mark.parametrize("make", [
    lambda pack, mb, nc: MLPDiscriminator(2, 16, 2, "relu", "none", nc, 1.0, mb, pack),
    lambda pack, mb, nc: DCGANDiscriminator(3, 16, 8, "batch", nc, mb, pack),
], ids=["mlp", "dcgan"])
def test_packed_d_shapes_and_per_sample_judgement(make):
    D = make(2, 2, 0)
    x = torch.randn(8, *D.in_shape)
    assert D(x).shape == (4,)  # one logit per pack
    each = judge_each(D, x)
    assert each.shape == (8,) and torch.equal(each[0], each[1])
    assert judge_each(D, x[:5]).shape == (5,)  # an odd batch outside training still gets one score a sample
    assert judge_each(make(0, 0, 0), x).shape == (8,)


@pytest.mark.parametrize("make", [
    lambda: MLPDiscriminator(2, 16, 2, "relu", "spectral", 3, 1.0, 0, 2),
    lambda: DCGANDiscriminator(1, 16, 8, "none", 3, 0, 2),
], ids=["mlp", "dcgan"])
def test_conditional_packed_d_reads_each_position_label(make):
    """A packed projection D gives each position of a pack its own class table: swapping two labels of a
    pack (the same images) changes the verdict, while the unconditional part is shared."""
    torch.manual_seed(0)
    D = make().eval()
    x = torch.randn(2, *D.in_shape)
    a = D(x, torch.tensor([0, 1]))
    b = D(x, torch.tensor([1, 0]))
    assert a.shape == (1,) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="labels"):
        D(x, None)


def test_2d_lab_draws_a_packed_minibatch_stddev_d():
    """The 2D lab's map and arrows come from a D that judges packs of 4 with a spread feature: one value per grid
    point, one arrow per sample, even for 10 samples (not a multiple of 4)."""
    from gan_demo.explore.lab import lab_state

    tr = Trainer(toy_cfg("nonsaturating", 0.1, mbstd_group=2, pack=4))
    tr.step_once()
    state = lab_state(tr, (-1.5, 1.5, -1.5, 1.5), res=8, n_fake=10, manifold_rows=3)
    assert state["heat"].shape == (8, 8) and state["grads"].shape == (10, 2)
    assert torch.isfinite(state["heat"]).all() and torch.isfinite(state["grads"]).all()


def test_r1_and_gp_are_on_the_packed_input():
    """A D linear in its packed input w . (x_1, x_2): the gradient of a pack is w, so R1 = |w|^2 and the
    gradient penalty (|w| - 1)^2 whatever the mixing; judged per sample R1 would halve (two halves of w)."""
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])

    def D(x, y=None):
        return x.reshape(-1, 4) @ w

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert float(r1_penalty(D, real, pack=2)) == pytest.approx(30.0)
    assert float(r1_penalty(D, real)) == pytest.approx(15.0)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0), pack=2)
    assert float(gp) == pytest.approx((30.0 ** 0.5 - 1) ** 2, rel=1e-5)
    with pytest.raises(ValueError, match="whole packs"):
        r1_penalty(lambda x, y=None: x.sum(dim=1), torch.randn(7, 2), pack=2)


def test_gp_mixes_each_pack_with_one_weight():
    """x_hat = a x + (1 - a) G(z) with one a per pack: a D that reads the packed input sees both halves mixed
    alike, so D(x_hat) = a for real ones and fake zeros; per sample the two halves would differ."""
    seen = []

    def D(x, y=None):
        seen.append(x.detach().reshape(-1, 2))
        return x.reshape(-1, 2).sum(dim=1)

    gradient_penalty(D, torch.ones(6, 1), torch.zeros(6, 1), generator=torch.Generator().manual_seed(1), pack=2)
    packs = seen[0]
    assert torch.equal(packs[:, 0], packs[:, 1]) and len(set(packs[:, 0].tolist())) == 3


def test_step_cost_counts_the_packed_d():
    base = toy_cfg("nonsaturating", 0.1).resolved()
    packed = toy_cfg("nonsaturating", 0.1, pack=2).resolved()
    assert step_cost(packed).flops < step_cost(base).flops  # D sees half as many inputs, each twice as wide
    assert step_cost(toy_cfg("nonsaturating", 0.1, mbstd_group=4).resolved()).params == step_cost(base).params + 16


# ------------------------------------------------------------------ config, CLI, checkpoints
@pytest.mark.parametrize("changes, field", [
    (dict(pack=1), "pack"), (dict(pack=17), "pack"), (dict(mbstd_group=1), "mbstd_group"),
    (dict(pack=3), "pack"),  # batch 64 is no multiple of 3
    (dict(mbstd_group=3), "mbstd_group"), (dict(pack=2, mbstd_group=64), "mbstd_group"),  # 32 packs, groups of 64
])
def test_config_refuses_what_cannot_train(changes, field):
    cfg = toy_cfg("nonsaturating", 0.1)
    for name, value in changes.items():
        setattr(cfg.model, name, value)
    with pytest.raises(ConfigError, match=f"^{field}:"):
        cfg.resolved()


def test_config_refuses_packing_a_vae_and_uneven_process_shares():
    vae = RunConfig(family="vae", model=ModelConfig(pack=2))
    with pytest.raises(ConfigError, match="^pack: .*VAE"):
        vae.validate()
    split = toy_cfg("nonsaturating", 0.1, pack=4)
    split.train.world_size = 32  # 64 / 32 = 2 samples a process: no whole pack of 4
    with pytest.raises(ConfigError, match="^pack: .*each process draws \\(2\\)"):
        split.validate()


def test_cli_flags_and_command_round_trip(tmp_path):
    from gan_demo.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--dataset", "ring8", "--mbstd-group", "4", "--pack", "2"])
    cfg = config_from_args(args)
    assert (cfg.model.mbstd_group, cfg.model.pack) == (4, 2)
    command = cfg.to_cli("runs/x")
    assert "--mbstd-group 4" in command and "--pack 2" in command
    assert "--pack" not in RunConfig().to_cli()


def test_config_json_round_trip_and_old_configs_read_off(tmp_path):
    cfg = toy_cfg("nonsaturating", 0.1, mbstd_group=4, pack=2).resolved()
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert (again.model.mbstd_group, again.model.pack) == (4, 2)
    old = cfg.to_dict()
    del old["model"]["mbstd_group"], old["model"]["pack"]  # a config.json written before the fields existed
    assert (RunConfig.from_dict(old).model.mbstd_group, RunConfig.from_dict(old).model.pack) == (0, 0)


@pytest.mark.parametrize("name", list(OLD_CHECKPOINTS))
def test_old_checkpoints_rebuild_as_before(name):
    from pathlib import Path

    run = Path(__file__).resolve().parents[2] / "checkpoints" / name
    assert "pack" not in json.loads((run / "config.json").read_text())["model"]
    ck = load_checkpoint(run)
    m = ck.cfg.model
    assert (m.mbstd_group, m.pack) == (0, 0)
    z = torch.randn(6, m.z_dim, generator=torch.Generator().manual_seed(7))
    y = torch.arange(6) % m.n_classes if m.n_classes else None
    with torch.no_grad():
        x = ck.networks["G_ema"](z, y)
        logits = ck.networks["D"](x, y)
    torch.testing.assert_close(logits, torch.tensor(OLD_CHECKPOINTS[name]["d"]), rtol=2e-4, atol=2e-5)
    assert float(x.double().sum()) == pytest.approx(OLD_CHECKPOINTS[name]["g"], rel=1e-5)


def test_packed_checkpoint_saves_and_samples(tmp_path):
    from gan_demo.explore.sampler import Sampler

    tr = Trainer(digits_cfg(conditional=False, mbstd_group=2, pack=2))
    tr.step_once()
    path = tr.save(tmp_path / "run")
    ck = load_checkpoint(path)
    assert (ck.cfg.model.mbstd_group, ck.cfg.model.pack) == (2, 2)
    assert ck.networks["D"].pack == 2 and ck.networks["D"].mbstd_group == 2
    sampler = Sampler.from_checkpoint(path)
    x, score = sampler.from_seed(3)  # one sample: its score from a pack filled up by wrapping around
    assert score is not None and 0.0 <= score <= 1.0


# ------------------------------------------------------------------ the Train and Compare tabs
def test_train_tab_values_reach_the_config_and_its_command():
    from gan_demo.ui.forms import FAMILY_ONLY, cli_command, config_from_values, values_for

    assert {"mbstd_group", "pack"} <= set(FAMILY_ONLY["gan"])
    values = values_for({"dataset": "digits", "img_size": 16, "d_norm": "none"})
    assert (values["mbstd_group"], values["pack"]) == (0, 0)  # off unless chosen (or the set's recipe has packs)
    cfg = config_from_values({**values, "mbstd_group": 4, "pack": 2})
    assert (cfg.model.mbstd_group, cfg.model.pack) == (4, 2)
    assert "--mbstd-group 4 --pack 2" in cli_command(cfg)
    with pytest.raises(ConfigError, match="^pack:"):
        config_from_values({**values, "pack": 3})  # batch 64: no whole packs of 3


def test_compare_tab_b_can_add_mbstd_or_packing():
    from gan_demo.ui.forms import B_FIELDS, pair_configs, values_for
    from gan_demo.ui.tabs.compare import b_rows

    assert ("mbstd_group", "pack") in b_rows("more") and {"mbstd_group", "pack"} <= set(B_FIELDS)
    a = values_for({"dataset": "ring8"})
    cfg_a, cfg_b = pair_configs(a, {"mbstd_group": "4", "pack": ""})  # textboxes: empty = same as A
    assert (cfg_a.model.mbstd_group, cfg_b.model.mbstd_group, cfg_b.model.pack) == (None, 4, None)  # auto, as A's
    assert cfg_a.resolved().model.mbstd_group == 0 and cfg_b.resolved().model.pack == 0  # off on ring8
    _, cfg_b = pair_configs(a, {"pack": "2"})
    assert cfg_b.model.pack == 2


def test_lesson_5_compares_the_collapsing_d_with_its_fixes():
    """Lesson 5's extra comparisons: A is the D without BatchNorm at the lesson's settings, B the same D with
    packing or minibatch stddev and nothing else changed."""
    from gan_demo.ui.forms import pair_configs
    from gan_demo.ui.tabs.lessons import LESSONS

    lesson = next(l for l in LESSONS if l.key == "stacked")
    pairs = dict(lesson.more_pairs())
    assert len(pairs) == 2
    for a_values, changes in pairs.values():
        cfg_a, cfg_b = pair_configs(a_values, {k: str(v) for k, v in changes.items()})
        assert (cfg_a.data.dataset, cfg_a.data.img_size, cfg_a.train.steps, cfg_a.model.d_norm) == \
            ("stacked-digits", 16, 800, "none")
        a, b = cfg_a.to_dict(), cfg_b.to_dict()
        differ = {k for k in a["model"] if a["model"][k] != b["model"][k]}
        assert differ in ({"pack"}, {"mbstd_group"}) and a["train"] == b["train"] and a["data"] == b["data"]


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def measure_all() -> dict:
    return {"toy": {case: measure(toy_cfg(*args)) for case, args in TOY_CASES.items()},
            "digits": {case: measure(digits_cfg(**kw)) for case, kw in DIGITS_CASES.items()}}


if __name__ == "__main__":  # PYTHONPATH=. python tests/test_mbstd_pack.py
    import pprint

    torch.set_num_threads(1)
    print("GOLDEN = " + pprint.pformat(_rounded(measure_all()), width=120, sort_dicts=False))
