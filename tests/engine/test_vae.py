"""The VAE family: shapes for every size / channels / labels, ELBO terms by hand, golden values, rollback, learning."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from gan_demo.core.config import ConfigError, DataConfig, RunConfig, section_of
from gan_demo.data.datasets import load_dataset
from gan_demo.families import FAMILIES
from gan_demo.families.vae import SERIES, VAE, MLPEncoder, VAESettings, fit_to, reparameterize
from gan_demo.explore.latent import z_from_seed
from gan_demo.families.losses import bernoulli_nll, gaussian_kl, gaussian_nll, kl_weight
from gan_demo.families.nets import DCGANDiscriminator, DCGANGenerator

RTOL, ATOL = 1e-5, 1e-6


pytestmark = pytest.mark.usefixtures("one_thread")  # golden and equivalence values: tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(dataset="digits", img_size=16), "cpu")


def vae_config(dataset: str = "digits", img_size: int = 16, **settings) -> RunConfig:
    """A VAE's RunConfig (not resolved) with these settings, each in its section (model, train, vae, data)."""
    cfg = RunConfig(family="vae", data=DataConfig(dataset=dataset, img_size=img_size))
    home = section_of()
    for name, value in settings.items():
        setattr(getattr(cfg, home[name]), name, value)
    return cfg


def image_vae(img_size=16, channels=1, conditional=False, **kw) -> VAE:
    cfg = vae_config(img_size=img_size, conditional=conditional, ngf=4, ndf=4, z_dim=5, **kw)
    return VAE(cfg.resolved(channels=channels, n_classes=3 if conditional else 0), "cpu")


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("img_size", [16, 32, 64])
@pytest.mark.parametrize("recon", ["bernoulli", "gaussian"])
def test_image_shapes(img_size, channels, conditional, recon):
    vae = image_vae(img_size, channels, conditional, recon=recon)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, channels, img_size, img_size, generator=gen) * 2 - 1
    y = torch.tensor([0, 1, 2, 1]) if conditional else None
    mu, logvar = vae.encode(x, y)
    assert mu.shape == logvar.shape == (4, 5)
    out = vae.decode(z_from_seed(0, 5, 4), y)
    assert out.shape == (4, channels, img_size, img_size)
    assert out.min() >= -1 and out.max() <= 1
    assert vae.reconstruct(x, y).shape == x.shape
    numbers = vae.train_step((x, y))
    assert tuple(numbers) == SERIES == vae.series
    assert all(v.dim() == 0 and v.device == vae.device and math.isfinite(float(v)) for v in numbers.values())
    assert vae.step == 1


@pytest.mark.parametrize("img_size", [16, 32, 64])
def test_conv_nets_mirror_the_dcgan_shapes(img_size):
    vae = image_vae(img_size, 3)
    encoder_body = [p.shape for p in vae.encoder.features.parameters()]
    assert encoder_body == [p.shape for p in DCGANDiscriminator(3, img_size, 4, "batch").features.parameters()]
    decoder = [p.shape for p in vae.decoder.parameters()]
    assert decoder == [p.shape for p in DCGANGenerator(5, 3, img_size, 4).parameters()]


def test_point_shapes():
    vae = VAE(vae_config("ring8", width=8, depth=2).resolved(data_scale=2.0), "cpu")
    assert vae.z_dim == 2 and vae.cfg.vae.recon == "gaussian" and vae.cfg.vae.recon_sigma == pytest.approx(0.2)
    x = torch.randn(6, 2)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (6, 2)
    assert vae.decode(z_from_seed(1, 2, 6)).shape == (6, 2)
    assert set(vae.train_step((x, None))) == set(SERIES)
    labelled = MLPEncoder(2, 2, 8, 2, n_classes=4)  # the point encoder takes labels too (a class embedding)
    assert all(t.shape == (6, 2) for t in labelled(x, torch.arange(6) % 4))


def test_labels_are_required_by_a_conditional_vae_and_ignored_otherwise():
    vae = image_vae(conditional=True)
    with pytest.raises(ValueError, match="class-conditional"):
        vae.decode(torch.zeros(2, 5))
    plain = image_vae()
    assert torch.equal(plain.decode(torch.zeros(2, 5), torch.tensor([0, 1])), plain.decode(torch.zeros(2, 5)))


# ------------------------------------------------------------------ config
def test_fit_to_reads_the_dataset_and_auto_values_resolve(digits):
    given = vae_config(conditional=True)
    cfg = fit_to(given, digits)
    m, v = cfg.model, cfg.vae
    assert (cfg.kind, m.channels, m.img_size, m.n_classes) == ("image", 1, 16, 10)
    assert (m.z_dim, v.recon, v.recon_sigma, v.lr_vae, cfg.train.beta1) == (16, "bernoulli", 0.1, 1e-3, 0.9)
    assert given.model.z_dim is None  # resolved is a copy
    assert fit_to(vae_config(), digits).model.n_classes == 0  # an unconditional VAE ignores the labels
    ring = load_dataset(DataConfig(dataset="ring8", n_points=500), "cpu")
    points = fit_to(vae_config("ring8", n_points=500), ring)
    assert points.kind == "2d" and points.model.data_dim == 2 and points.vae.recon == "gaussian"
    assert points.model.data_scale == pytest.approx(float(ring.x.std()), rel=1e-2)
    with pytest.raises(ConfigError, match="conditional: dataset 'ring8' has no labels"):
        fit_to(vae_config("ring8", conditional=True), ring)
    with pytest.raises(ValueError, match="resolved RunConfig of family vae"):
        VAE(given, "cpu")


@pytest.mark.parametrize("field, value, message", [
    ("recon", "laplace", "recon: must be one of bernoulli, gaussian"),
    ("beta", -1.0, "beta: must be between 0 and 1000"),
    ("z_dim", 2000, "z_dim: must be between 1 and 1024"),
    ("recon_sigma", 0.0, "recon_sigma: must be positive"),
    ("kl_warmup", -5, "kl_warmup: must be between 0"),
    ("img_size", 28, "img_size: must be one of 16, 32, 64"),
    ("conditional", True, "conditional: needs a labelled dataset"),
])
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        VAE(vae_config("moons", **{field: value}).resolved(), "cpu")


def test_bernoulli_is_refused_for_points():
    with pytest.raises(ConfigError, match="recon: bernoulli needs pixels"):
        vae_config("ring8", recon="bernoulli").resolved()


def test_registry_holds_the_class_itself():
    assert FAMILIES["vae"] is VAE and VAE.name == "vae" and VAE.spec.settings is VAESettings


# ------------------------------------------------------------------ ELBO terms by hand
def test_gaussian_kl_by_hand():
    mu = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    logvar = torch.tensor([[0.0, 0.0], [0.0, math.log(4.0)]])
    # row 2: 0.5 (1 + 1 - 1 - 0) + 0.5 (4 + 4 - 1 - ln 4)
    expected = [0.0, 0.5 + 0.5 * (7.0 - math.log(4.0))]
    assert gaussian_kl(mu, logvar).tolist() == pytest.approx(expected, rel=1e-6)
    assert gaussian_kl(torch.zeros(3, 4), torch.full((3, 4), -1.0)).tolist() == pytest.approx([4 * 0.5 * (math.exp(-1) - 1 + 1)] * 3)


def test_bernoulli_nll_by_hand():
    assert bernoulli_nll(torch.zeros(2, 1, 2, 2), torch.rand(2, 1, 2, 2)).tolist() == pytest.approx([4 * math.log(2)] * 2)
    a = 1.5  # a grey target 0.25: -(0.25 log s(a) + 0.75 log(1 - s(a)))
    s = 1 / (1 + math.exp(-a))
    got = bernoulli_nll(torch.tensor([[a]]), torch.tensor([[0.25]])).item()
    assert got == pytest.approx(-(0.25 * math.log(s) + 0.75 * math.log(1 - s)), rel=1e-6)
    confident = bernoulli_nll(torch.tensor([[30.0, -30.0]]), torch.tensor([[1.0, 0.0]])).item()
    assert 0 < confident < 1e-12


def test_gaussian_nll_by_hand():
    x = torch.tensor([[0.2, -0.4, 0.9]])
    const = 0.5 * 3 * math.log(2 * math.pi * 0.5 ** 2)
    assert gaussian_nll(x, x, 0.5).item() == pytest.approx(const, rel=1e-6)
    # every number one sigma off: 3 * 1 / 2 above the constant
    assert gaussian_nll(x + 0.5, x, 0.5).item() == pytest.approx(const + 1.5, rel=1e-6)
    with pytest.raises(ValueError, match="sigma must be positive"):
        gaussian_nll(x, x, 0.0)


def test_kl_weight_and_reparameterize():
    assert [kl_weight(2.0, s, 10) for s in (0, 5, 10, 20)] == [0.0, 1.0, 2.0, 2.0]
    assert kl_weight(0.5, 0, 0) == 0.5
    z = reparameterize(torch.tensor([1.0, -1.0]), torch.tensor([0.0, math.log(9.0)]), torch.tensor([2.0, 1.0]))
    assert z.tolist() == pytest.approx([3.0, 2.0])


def test_step_numbers_add_up_and_warmup_starts_at_zero(digits):
    vae = VAE(fit_to(vae_config(ngf=4, ndf=4, z_dim=4, beta=2.0, kl_warmup=4), digits), "cpu")
    gen = torch.Generator().manual_seed(0)
    weights = []
    for _ in range(6):
        out = vae.train_step(digits.sample(8, gen))
        weights.append(float(out["kl_weight"]))
        assert float(out["loss"]) == pytest.approx(float(out["recon"] + out["kl_weight"] * out["kl"]), rel=1e-5)
        assert float(out["elbo"]) == pytest.approx(-float(out["recon"] + out["kl"]), rel=1e-6)
        assert float(out["kl"]) >= 0
    assert weights == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]


# ------------------------------------------------------------------ golden values
GOLDEN_CASES = {
    "digits-bernoulli": lambda ds: vae_config(ngf=8, ndf=8, z_dim=8),
    "digits-gaussian-conditional": lambda ds: vae_config(ngf=8, ndf=8, z_dim=8, recon="gaussian", conditional=True,
                                                         kl_warmup=3),
    "ring8": lambda ds: vae_config("ring8", n_points=1000, width=16, depth=2),
}


def golden_dataset(case: str):
    if case == "ring8":
        return load_dataset(DataConfig(dataset="ring8", n_points=1000), "cpu")
    return load_dataset(DataConfig(dataset="digits", img_size=16), "cpu")


def measure_golden(case: str) -> dict:
    """5 steps from seed 0 on batches from a seeded generator: every number, a slice of decoded latents,
    the encoding of two training samples and their reconstructions."""
    ds = golden_dataset(case)
    vae = VAE(fit_to(GOLDEN_CASES[case](ds), ds), "cpu")
    gen = torch.Generator().manual_seed(0)
    steps = []
    for _ in range(5):
        out = vae.train_step(ds.sample(16, gen))
        steps.append([float(out[k]) for k in SERIES])
    y = torch.tensor([3, 7]) if vae.n_classes else None
    decoded = vae.decode(z_from_seed(0, vae.z_dim, 2), y)
    labels = None if ds.y is None else ds.y[:2]
    mu, logvar = vae.encode(ds.x[:2], labels)
    rebuilt = vae.reconstruct(ds.x[:2], labels)

    def part(x):
        return x.tolist() if ds.kind == "2d" else x[:, 0, 6:9, 6:9].tolist()

    return {"steps": steps, "decoded": part(decoded), "mu": mu.tolist(), "logvar": logvar.tolist(),
            "reconstructed": part(rebuilt)}


GOLDEN: dict = {'digits-bernoulli': {'steps': [[177.9604, 177.30984, 0.65056813, -177.96042, 1.0, 71.918625],
                                [176.99391, 176.51125, 0.48269671, -176.99394, 1.0, 65.232162],
                                [176.358, 175.9903, 0.36769941, -176.358, 1.0, 62.67627],
                                [175.4333, 175.18002, 0.25327992, -175.4333, 1.0, 64.748383],
                                [174.82724, 174.47411, 0.35312045, -174.82722, 1.0, 67.361198]],
                      'decoded': [[[-0.0028741956, -0.003513813, -0.0030024052],
                                   [-0.0039551854, -0.0035017729, -0.003529191],
                                   [-0.0029046535, -0.0032280087, -0.0026443005]],
                                  [[-0.003477335, -0.0043969154, -0.0023174286],
                                   [-0.0043131709, -0.0037438869, -0.0038496256],
                                   [-0.0032402873, -0.0036557317, -0.0031005144]]],
                      'mu': [[-0.014614653,
                              -0.020666543,
                              0.022582581,
                              -0.019022321,
                              0.025459295,
                              0.028071444,
                              0.016703591,
                              -0.026004748],
                             [-0.019823927,
                              -0.021338623,
                              0.024924828,
                              -0.016975764,
                              0.025251817,
                              0.028902046,
                              0.016534531,
                              -0.025036382]],
                      'logvar': [[-0.048379812,
                                  -0.015137983,
                                  0.01374752,
                                  -0.00035309419,
                                  0.055965569,
                                  0.042311311,
                                  -0.030313876,
                                  0.043648139],
                                 [-0.046466857,
                                  -0.019212348,
                                  0.012803527,
                                  0.0035988521,
                                  0.057549566,
                                  0.045263819,
                                  -0.030403033,
                                  0.042563062]],
                      'reconstructed': [[[-0.0033149123, -0.0042772293, -0.0032744408],
                                         [-0.0048123598, -0.0044227839, -0.0048274398],
                                         [-0.0032983422, -0.0042228699, -0.0033032894]],
                                        [[-0.0033143163, -0.0042765141, -0.0032739639],
                                         [-0.0048114061, -0.0044243336, -0.0048282743],
                                         [-0.0032997727, -0.0042220354, -0.003303051]]]},
 'digits-gaussian-conditional': {'steps': [[7104.3208, 7104.3208, 1.0693167, -7105.3901, 0.0, 15652.173],
                                           [7067.1655, 7066.7407, 1.2749628, -7068.0156, 0.33333334, 14031.328],
                                           [6645.5771, 6644.6621, 1.3727022, -6646.0347, 0.66666669, 12836.219],
                                           [6540.9487, 6539.2515, 1.697064, -6540.9487, 1.0, 12648.621],
                                           [6839.6934, 6837.6045, 2.0889025, -6839.6934, 1.0, 12999.473]],
                                 'decoded': [[[-0.0061292285, -0.0042910767, -0.0040303394],
                                              [-0.0050048577, -0.0033683262, -0.0052900836],
                                              [-0.0060381154, -0.0052121137, -0.0066902619]],
                                             [[-0.0067889504, -0.0034414548, -0.0062853396],
                                              [-0.0048522223, -0.00057746511, -0.0031840443],
                                              [-0.0044371518, -0.0063496679, -0.0068447306]]],
                                 'mu': [[0.084780812,
                                         0.096573837,
                                         -0.059320126,
                                         0.01713953,
                                         0.27675813,
                                         0.092335299,
                                         -0.077423997,
                                         -0.0033846423],
                                        [-0.019830208,
                                         -0.086458266,
                                         0.13246766,
                                         -0.12832834,
                                         0.012759741,
                                         -0.033837233,
                                         0.11853135,
                                         -0.093094304]],
                                 'logvar': [[-0.026963005,
                                             0.072010249,
                                             -0.10808536,
                                             0.1672783,
                                             0.32575285,
                                             0.16776162,
                                             -0.17355183,
                                             -0.061595026],
                                            [0.0075633256,
                                             -0.06185542,
                                             0.011921771,
                                             0.044972368,
                                             0.043795191,
                                             -0.048569608,
                                             0.085528642,
                                             0.029204171]],
                                 'reconstructed': [[[-0.0074018929, -0.0039453483, -0.0056141452],
                                                    [-0.0053576729, -0.0038782754, -0.0051714396],
                                                    [-0.0047767521, -0.0053803036, -0.0062442445]],
                                                   [[-0.0067823646, -0.0042032595, -0.0052966527],
                                                    [-0.0064005377, -0.0028805793, -0.0057266457],
                                                    [-0.0083418898, -0.0056359451, -0.0041060676]]]},
 'ring8': {'steps': [[93.109512, 93.028633, 0.080887422, -93.10952, 1.0, 48.505867],
                     [97.960655, 97.880562, 0.080100805, -97.960663, 1.0, 95.336151],
                     [97.46167, 97.382767, 0.078905329, -97.46167, 1.0, 105.98637],
                     [111.23499, 111.1546, 0.080394387, -111.23499, 1.0, 101.91904],
                     [97.92794, 97.850204, 0.077734463, -97.92794, 1.0, 39.191982]],
           'decoded': [[-0.24094896, 0.0043532234], [-0.071976103, 0.11279625]],
           'mu': [[0.22532558, 0.22817509], [0.26820004, 0.1865942]],
           'logvar': [[0.13383549, 0.19717093], [0.18867405, 0.20379436]],
           'reconstructed': [[-0.17430751, 0.026221428], [-0.17831483, 0.021417728]]}}


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_golden_five_steps(case):
    got, expected = measure_golden(case), GOLDEN[case]
    assert set(got) == set(expected)
    for key in expected:
        torch.testing.assert_close(torch.tensor(got[key], dtype=torch.float64),
                                   torch.tensor(expected[key], dtype=torch.float64), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ state, learning
def test_state_dict_rolls_back_exactly(digits):
    vae = VAE(fit_to(vae_config(ngf=4, ndf=4, z_dim=4, conditional=True, kl_warmup=5), digits), "cpu")
    data_gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        vae.train_step(digits.sample(8, data_gen))
    saved = copy.deepcopy(vae.state_dict())
    gens = data_gen.get_state(), vae.gen.get_state()

    def three_steps():
        return [[float(v) for v in vae.train_step(digits.sample(8, data_gen)).values()] for _ in range(3)]

    first = three_steps()
    assert vae.step == 5
    vae.load_state_dict(saved)
    data_gen.set_state(gens[0])
    vae.gen.set_state(gens[1])
    assert vae.step == 2
    assert three_steps() == first


def test_a_few_hundred_steps_learn_digits(digits):
    """300 steps (batch 32, lr 2e-3) of a tiny VAE with the default Bernoulli decoder on the 16 px digits:
    the loss falls, and the 359 held-out digits come back through the bottleneck closer than the mean
    training image is to them. Measured (1 thread): loss 162.0 -> 109.7 (mean of the first / last 20
    steps), held-out MSE 0.091 against the mean image's 0.179; 1.6-3 s on a shared 2-core box."""
    test = load_dataset(DataConfig(dataset="digits", img_size=16), "cpu", split="test")
    vae = VAE(fit_to(vae_config(ngf=8, ndf=8, z_dim=8, lr_vae=2e-3), digits), "cpu")
    gen = torch.Generator().manual_seed(1)
    losses = [float(vae.train_step(digits.sample(32, gen))["loss"]) for _ in range(300)]
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.8 * first
    reconstruction_mse = float((vae.reconstruct(test.x, test.y) - test.x).pow(2).mean())
    mean_image_mse = float((digits.x.mean(0, keepdim=True) - test.x).pow(2).mean())
    assert reconstruction_mse < 0.75 * mean_image_mse


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return {k: _rounded(v) for k, v in value.items()} if isinstance(value, dict) else value


if __name__ == "__main__":  # PYTHONPATH=. python tests/engine/test_vae.py: the golden values the code gives now
    import pprint

    torch.set_num_threads(1)
    print("GOLDEN: dict = " + pprint.pformat(_rounded({c: measure_golden(c) for c in GOLDEN_CASES}), width=120,
                                             sort_dicts=False))


def test_step_cost_prices_the_encoder_and_decoder(digits):
    """A VAE's step is its own nets forward and backward (~3x forward), not a GAN's G and D."""
    from torch.utils.flop_counter import FlopCounterMode

    from gan_demo.families import step_cost

    cfg = fit_to(vae_config(ngf=4, ndf=4, z_dim=4, batch_size=8, conditional=True), digits)
    cost = step_cost(cfg)
    vae = VAE(cfg, "cpu")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        mu, _ = vae.encoder(digits.x[:8], digits.y[:8])
        vae.decoder(mu, digits.y[:8])
    assert cost.flops == 3 * counter.get_total_flops() > 0
    assert cost.params == sum(p.numel() for net in vae.networks.values() for p in net.parameters())
    assert cost.memory_bytes > 16 * cost.params  # weights, gradients and Adam's moments, plus activations
