"""Model families in a plain dict registry: name -> family class (its nets, optimizers, train_step, defaults).

A checkpoint's config.json names its family by this key (RunConfig.family; configs without one
are GANs). The Trainer builds a family from a resolved RunConfig and a StepContext and knows
nothing else about it (minGPT: "the Trainer has nothing to do with GPT").

What a family class F offers the config, the Trainer, the checkpoint and the Sampler:
    F.name                         its key here
    F.spec                         its config.FamilySpec: its settings dataclass (RunConfig's section of its name),
                                   the shared fields only it reads, its live settings, defaults and checks, and the
                                   faces of its settings in the web app (core.faces; derived where it declares none);
                                   register() hands it to the config, which imports no family
    F.series                       names of the numbers train_step returns, in order (the curves to plot)
    F.bounded                      those of them that have exploded once beyond engine.BLOWUP
    F.network_names, F.optimizer_names   the keys of networks / optimizers (checkpoint prefixes, state.pt keys)
    F(cfg, ctx, dist=...)          builds nets and optimizers from a resolved RunConfig, weights from the seed
                                   alone; data, noise, autocast and gradient averaging come from the
                                   engine.StepContext (the VAE also builds standalone: vae.fit_to)
    F.empty_networks(cfg)          name -> module, to load a checkpoint's weights into
    F.sampling_nets(cfg, networks) (decoder, critic or None): what a Sampler draws with and scores with
    f.train_step() -> dict[str, Tensor]  one update; 0-d tensors left on the device
    f.phases                       name -> one update alone (GAN: "d" and "g", the 2D lab's single steps)
    f.step                         updates taken (the Trainer's step count; rolled back with the state)
    f.networks, f.optimizers       name -> module / optimizer (saving, checking, moving)
    f.decoder_net(ema=True)        (z, y) -> samples: images in [-1, 1] or data coordinates
    f.critic                       D, or None for a family without one
    f.state_dict(), f.load_state_dict(state)  everything training changes (rollback, checkpoints)
    f.release_optimizers()         drop the optimizer state once training is over
    F.step_cost(cfg)               optional: nets.StepCost of one step, priced without allocating (the web limits);
                                   without it step_cost() counts 6 FLOPs per weight per sample
    F.plots(loss), F.samples_caption, F.describe(cfg)   optional: its face in the Train tab and the CLI
Nothing here imports trainer.py: arrows point down (what both need lives in gan_demo.core.step_utils).
A new family is its module plus one entry in FAMILIES (or a register() call from outside the package).
"""
import torch

from gan_demo.core.config import RunConfig, register_family, unregister_family
from gan_demo.families.gan import GAN
from gan_demo.families.nets import StepCost, count_params
from gan_demo.families.vae import VAE

FAMILIES = {"gan": GAN, "vae": VAE}


def register(family) -> None:
    """Add a family class (a plugin, a test's toy) to FAMILIES and its settings to the config's registry."""
    FAMILIES[family.name] = family
    register_family(family.spec)


def unregister(name: str) -> None:
    """Forget a family register() added."""
    FAMILIES.pop(name, None)
    unregister_family(name)


for _family in FAMILIES.values():
    register_family(_family.spec)



def step_cost(cfg: RunConfig) -> StepCost:
    """The work and memory of one training step of a resolved config, as its family prices it. A family that
    does not price itself is counted as dense layers: 6 FLOPs per weight per sample (forward 2, backward 4)
    and fp32 weights, gradients and Adam's two moments (its activations are not counted)."""
    family = FAMILIES[cfg.family]
    if hasattr(family, "step_cost"):
        return family.step_cost(cfg)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        params = sum(count_params(net) for net in family.empty_networks(cfg).values())
    return StepCost(flops=6.0 * params * cfg.train.batch_size, memory_bytes=16.0 * params, params=params)
