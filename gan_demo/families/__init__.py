"""Model families in a plain dict registry: name -> family class (its nets, optimizer, train_step, defaults).

Today FAMILIES holds the VAE alone. The GAN is still trainer.py's G / D / G_ema step; the Trainer
reshape (issue 9) moves it here as families/gan.py, and the registry then reads
{"gan": GAN, "vae": VAE}. A checkpoint's config.json will name its family by this key.

What a family class F offers (the VAE in families/vae.py is the first):
    F.name                       its key here
    F.Config                     its config dataclass (None = auto); cfg.fit_to(dataset) fills the data's facts
    F(cfg, device, generator=None)  builds the nets and optimizers from the seed alone; noise comes
                                 from `generator` (a Trainer passes its own) or one seeded from cfg.seed
    f.series                     names of the numbers train_step returns (the curves to plot)
    f.train_step(batch) -> dict[str, Tensor]  one update on (x, y); 0-d tensors left on the device
    f.step                       updates taken
    f.networks, f.optimizers     name -> module / optimizer (saving, moving, wrapping)
    f.state_dict(), f.load_state_dict(state)  everything training changes (rollback, checkpoints)
    f.decode(z, y)               samples for latents z: images in [-1, 1] or data coordinates
Nothing here imports trainer.py: arrows point down.
"""
from .vae import VAE

FAMILIES = {"vae": VAE}
