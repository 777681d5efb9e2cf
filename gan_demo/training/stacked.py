"""Stacked steps: R runs of one family with the same network shapes trained as one step (weights (R, ...)).

A run's networks hold views into the stacked tensors while it is stacked, and its optimizer state views of
the stacked moments, so reading a run (a save, a rollback, the progress grid) sees it as trained. Each run's
draws come from its own StepContext in its solo step's order, so its numbers match its solo run's to float
tolerance (tests/engine/test_pool.py). gan_demo.training.pool steps these. Never imports gradio.
"""
from __future__ import annotations

import copy
from functools import partial

import torch
from torch.func import functional_call, vmap

from gan_demo.families.augment import overfit_sign
from gan_demo.families.nets import constant_slopes
from gan_demo.core.step_utils import lr_factor
from gan_demo.families.losses import d_loss, d_score, g_loss, gaussian_kl, gaussian_nll, kl_weight, r1_weight

__all__ = ["StackedGAN", "StackedVAE", "STACKED"]


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors])


def _plain_mlp(module: torch.nn.Module) -> bool:
    """An unconditional MLPGenerator, MLPDiscriminator or MLPEncoder without normalisation, and a discriminator
    without minibatch stddev or packing: _mlp_forward runs it (the others go through vmap)."""
    from gan_demo.families.nets import MLPDiscriminator, MLPGenerator
    from gan_demo.families.vae import MLPEncoder

    if not isinstance(module, (MLPGenerator, MLPDiscriminator, MLPEncoder)) or module.n_classes:
        return False
    if getattr(module, "mbstd_group", 0) or getattr(module, "pack", 0):
        return False
    layers = module.net if isinstance(module, MLPGenerator) else module.features
    return all(not isinstance(layer, torch.nn.modules.batchnorm._BatchNorm) for layer in layers)


def _mlp_forward(base: torch.nn.Module, params: dict, x: torch.Tensor):
    """base's forward (models.MLPGenerator / MLPDiscriminator, vae.MLPEncoder) for R runs at once: each Linear
    as one baddbmm over the stacked weights (R, out, in), activations as they are (their own modules).
    (R, B, in) -> (R, B, out); the encoder's -> (mu, logvar), each (R, B, z_dim)."""
    from gan_demo.families.nets import MLPGenerator
    from gan_demo.families.vae import MLPEncoder

    def linear(prefix: str, h: torch.Tensor) -> torch.Tensor:
        w, b = params[prefix + "weight"], params.get(prefix + "bias")
        if w.shape[1] == 1:  # one output (D's logit): a product and a sum; bmm's backward with an inner size of 1 is slow
            out = (h * w).sum(dim=2, keepdim=True)
            return out if b is None else out + b.unsqueeze(1)
        if b is None:
            return torch.bmm(h, w.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    def layers(prefix: str, modules: torch.nn.Sequential, h: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(modules):
            h = linear(f"{prefix}.{i}.", h) if isinstance(layer, torch.nn.Linear) else layer(h)
        return h

    if isinstance(base, MLPGenerator):
        h = layers("net", base.net, x.reshape(x.shape[0], x.shape[1], base.z_dim))
        return h * base.data_scale
    h = layers("features", base.features, x.reshape(x.shape[0], x.shape[1], -1) / base.data_scale)
    if isinstance(base, MLPEncoder):
        mu, logvar = linear("out.", h).chunk(2, dim=2)  # (R, B, 2 z_dim) -> 2 x (R, B, z_dim)
        return mu, logvar
    return linear("out.", h).squeeze(2).float()  # (R, B) logits


class _StackedNet:
    """One network of every run stacked: params name -> (R, ...) leaf tensors; each run's module then
    holds views of them (module.param.data is stacked[name][i]). Runs through vmap(functional_call), or
    for plain MLPs through one baddbmm per layer (faster: benchmarks/pool_speed.py kernels)."""

    fast_mlp = True  # the baddbmm path for plain MLPs (the benchmark switches it off to compare)

    def __init__(self, modules: list[torch.nn.Module], grad: bool):
        self.base = copy.deepcopy(modules[0])  # the structure functional_call runs (its own weights unused)
        self.names = [name for name, _ in modules[0].named_parameters()]
        self.params = {}
        for name in self.names:
            stacked = _stack([dict(m.named_parameters())[name] for m in modules])
            self.params[name] = stacked.requires_grad_(grad)
        for i, module in enumerate(modules):
            for name, p in module.named_parameters():
                p.data = self.params[name].data[i]
        self.vmapped = vmap(partial(functional_call, self.base))
        self.mlp = self.fast_mlp and _plain_mlp(self.base)

    def __call__(self, x: torch.Tensor, detached: bool = False):
        """(R, B, ...) -> (R, B, ...) (a tuple of them for a net that returns one), each run through its own weights."""
        params = {n: p.detach() for n, p in self.params.items()} if detached else self.params
        if self.mlp:
            return _mlp_forward(self.base, params, x)
        return self.vmapped(params, (x,))

    def grads(self) -> list[torch.Tensor]:
        return [self.params[n].grad for n in self.names]

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @staticmethod
    def release(modules: list[torch.nn.Module]) -> None:
        """The runs' modules own their weights again (copies of their slices)."""
        for module in modules:
            for p in module.parameters():
                p.data = p.data.clone()


FUSED_ADAM_DEVICES = ("cpu", "cuda", "mps")  # where torch has the fused Adam kernel


class _StackedAdam:
    """torch.optim.Adam's update on stacked parameters, with a learning rate and a step count per run: op for op as
    its single-tensor update, or through torch's fused kernel when every run shares both (_fused). Starts from the
    runs' own optimizer state, which then holds views of the stacked moments and one step tensor per run kept
    current, so saving or copying a run's optimizers while it is pooled reads its state as its solo run's would be."""

    def __init__(self, net: _StackedNet, optimizers: list[torch.optim.Optimizer], modules: list[torch.nn.Module]):
        self.net, self.optimizers, self.modules = net, optimizers, modules
        group = optimizers[0].param_groups[0]
        self.beta1, self.beta2 = group["betas"]
        self.eps = group["eps"]
        self.steps = []
        for opt, module in zip(optimizers, modules):
            state = opt.state.get(next(module.parameters()))
            self.steps.append(float(state["step"]) if state else 0.0)
        self.step_tensors = [torch.tensor(s, dtype=torch.float32) for s in self.steps]
        self.exp_avg, self.exp_avg_sq = {}, {}
        for name in net.names:
            per_run = [dict(m.named_parameters())[name] for m in modules]
            states = [opt.state.get(p) for opt, p in zip(optimizers, per_run)]
            zeros = torch.zeros_like(per_run[0].data, memory_format=torch.preserve_format)
            self.exp_avg[name] = _stack([s["exp_avg"] if s else zeros for s in states])
            self.exp_avg_sq[name] = _stack([s["exp_avg_sq"] if s else zeros for s in states])
        for i, (opt, module) in enumerate(zip(optimizers, modules)):
            for name, p in module.named_parameters():
                opt.state[p] = {"step": self.step_tensors[i], "exp_avg": self.exp_avg[name][i],
                                "exp_avg_sq": self.exp_avg_sq[name][i]}

    @torch.no_grad()
    def step(self, lrs: list[float]) -> None:
        for i in range(len(self.steps)):
            self.steps[i] += 1
            self.step_tensors[i].fill_(self.steps[i])
        params = [self.net.params[name] for name in self.net.names]
        grads = [p.grad for p in params]
        ms = [self.exp_avg[name] for name in self.net.names]
        vs = [self.exp_avg_sq[name] for name in self.net.names]
        if self._fused(lrs, params, grads, ms, vs):
            return
        shape = (len(lrs),)
        bc1 = [1 - self.beta1 ** s for s in self.steps]
        neg_step_size = torch.tensor([-lr / b for lr, b in zip(lrs, bc1)], dtype=torch.float32)
        bc2_sqrt = torch.tensor([(1 - self.beta2 ** s) ** 0.5 for s in self.steps], dtype=torch.float32)
        device = params[0].device
        neg_step_size, bc2_sqrt = neg_step_size.to(device), bc2_sqrt.to(device)
        # Each parameter's update as torch.optim.Adam's single-tensor one, op for op (the same numbers), through
        # torch's foreach ops: one call a stage for all the parameters instead of one per parameter.
        views = [shape + (1,) * (p.dim() - 1) for p in params]  # per-run scalars broadcast over a run's tensor
        torch._foreach_lerp_(ms, grads, 1 - self.beta1)
        torch._foreach_mul_(vs, self.beta2)
        torch._foreach_addcmul_(vs, grads, grads, value=1 - self.beta2)
        denoms = torch._foreach_sqrt(vs)
        torch._foreach_div_(denoms, [bc2_sqrt.view(view) for view in views])
        torch._foreach_add_(denoms, self.eps)
        updates = torch._foreach_mul(ms, [neg_step_size.view(view) for view in views])
        torch._foreach_div_(updates, denoms)  # addcdiv's order: (value * m) / denom
        torch._foreach_add_(params, updates)

    def _fused(self, lrs: list[float], params, grads, ms, vs) -> bool:
        """Runs at one step count with one learning rate (a seed sweep's, started together: RunPools.start_all):
        the whole update as one call of torch's fused Adam kernel (optim.Adam(fused=True); the same update to
        rounding, ~1e-7), which takes one learning rate a call and one step count a tensor. One pass over each
        tensor instead of the foreach path's eight: 0.3 ms against 2.7 for a pool of 8 ring8 runs on one CPU
        thread. (Each run's slices with its own step count, a call per learning rate, lost to the foreach path
        with two pools stepping: building the slices holds the interpreter lock; BENCHMARKS 28.) True if done."""
        device = params[0].device
        if (len(set(lrs)) != 1 or len(set(self.steps)) != 1 or device.type not in FUSED_ADAM_DEVICES
                or not all(t.is_contiguous() for group in (params, grads, ms, vs) for t in group)):
            return False
        step = torch.tensor(self.steps[0], dtype=torch.float32, device=device)
        torch._fused_adam_(params, grads, ms, vs, [], [step] * len(params), lr=lrs[0], beta1=self.beta1,
                           beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
        return True

    @staticmethod
    def release(optimizers, modules) -> None:
        """The runs' optimizers own their state again: copies of whatever it holds now (a rollback
        may have loaded other tensors into it), one step tensor per parameter as torch.optim.Adam keeps it."""
        for opt, module in zip(optimizers, modules):
            for p in module.parameters():
                state = opt.state.get(p)
                if state:
                    opt.state[p] = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _grad_norms(grads: list[torch.Tensor]) -> torch.Tensor:
    """engine.grad_norm of each run: (R,)."""
    per_tensor = torch.stack([torch.linalg.vector_norm(g.float().flatten(1), dim=1) for g in grads], dim=1)
    return torch.linalg.vector_norm(per_tensor, dim=1)


class StackedGAN:
    """The GAN family's train_step (families.gan.GAN) for R runs at once, bound to their families.

    Each run's data, noise and penalty draws come from its own StepContext in the order its solo step
    draws them, so a run's numbers match its solo run's to float tolerance (tests/test_pool.py)."""

    @staticmethod
    def shared_settings(cfg) -> tuple:
        """What every run of one stack must share beyond the networks' shapes (part of pool.pool_key)."""
        t = cfg.train
        return (t.loss, t.n_critic, t.r1_gamma > 0, t.beta1, t.beta2)

    def __init__(self, families: list, net=None):
        """net: the stacked network class (default _StackedNet; stacked_conv's grouped DCGANs for images)."""
        self.families = families
        net = net or _StackedNet
        self.G = net([f.G for f in families], grad=True)
        self.D = net([f.D for f in families], grad=True)
        self.G_ema = net([f.G_ema for f in families], grad=False)
        self.adam_G = _StackedAdam(self.G, [f.opt_G for f in families], [f.G for f in families])
        self.adam_D = _StackedAdam(self.D, [f.opt_D for f in families], [f.D for f in families])
        t = families[0].cfg.train
        self.loss, self.n_critic, self.r1 = t.loss, t.n_critic, t.r1_gamma > 0
        self.pack = max(1, families[0].cfg.model.pack or 0)  # a packed D's penalties are per pack (losses._packed)
        self.device = families[0].ctx.device
        # The losses and scores reduce over the batch, the last axis: (R, B) logits give one value per run.
        self._d_loss = partial(d_loss, self.loss)
        self._g_loss = partial(g_loss, self.loss)
        self._overfit_sign = partial(overfit_sign, self.loss)
        self._d_score = partial(d_score, self.loss)

    def release(self) -> None:
        """The families own their weights and optimizer moments again (before the stack is dropped)."""
        for name in ("G", "D", "G_ema"):
            _StackedNet.release([getattr(f, name) for f in self.families])
        _StackedAdam.release([f.opt_G for f in self.families], [f.G for f in self.families])
        _StackedAdam.release([f.opt_D for f in self.families], [f.D for f in self.families])

    def draw(self, family) -> dict:
        """One run's draws for a whole step, in its solo step's order: per D update real, z (and the
        gradient penalty's alphas), then the G update's z."""
        ctx, t = family.ctx, family.cfg.train
        d = []
        for _ in range(t.n_critic):
            real, _ = ctx.draw(ctx.batch_size)
            z = ctx.noise(ctx.batch_size)
            alpha = None
            if t.loss == "wgan-gp":  # as losses.gradient_penalty draws it: one mixing weight a pack
                alpha = torch.rand((real.shape[0] // self.pack,) + (1,) * (real.dim() - 1), generator=ctx.generator,
                                   device=real.device, dtype=real.dtype).repeat_interleave(self.pack, dim=0)
            d.append((real, z, alpha))
        return {"d": d, "z_g": ctx.noise(ctx.batch_size)}

    def train_step(self, draws: list[dict]) -> torch.Tensor:
        """One step of every run: n_critic D updates, one G update, EMA; returns (R, len(SERIES)) on the device."""
        fams = self.families
        for k in range(self.n_critic):
            real = torch.stack([d["d"][k][0] for d in draws])  # (R, B, data_dim)
            z = torch.stack([d["d"][k][1] for d in draws])  # (R, B, z_dim)
            d_out = self._d_update(real, z, [d["d"][k][2] for d in draws])
        g_out = self._g_update(torch.stack([d["z_g"] for d in draws]))
        for f in fams:
            f.step += 1
        values = {**d_out, **g_out}
        return torch.stack([values[n].float() for n in fams[0].series], dim=1)

    def _per_run(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device)

    def _input_grad(self, x: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """losses._input_grad for every run, one row per input D judges (losses._packed): d sum D(x) / dx, kept
        in the graph. (R, B, ...) -> (R, B / pack, pack * n). logits: D's output on x (a leaf that requires its
        gradient, from _judge_for_penalty), so that forward is not run again."""
        if logits is None:
            x, logits = self._judge_for_penalty(x)
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        return grad.float().reshape(x.shape[0], x.shape[1] // self.pack, -1)

    def _judge_for_penalty(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x as a leaf that requires its gradient, D's logits on it) for a gradient penalty on x (constant slopes)."""
        x = x.detach().requires_grad_(True)
        with constant_slopes():  # D's (leaky) ReLUs, whichever way the stack runs them (nets.constant_slopes)
            return x, self.D(x).float()

    def _r1_weights(self) -> torch.Tensor | None:
        """Each run's R1 factor this step, as its solo step takes it (losses.r1_weight: 0 between a lazy R1's
        steps); None when it is 0 for every run (then no run pays for the penalty)."""
        weights = [r1_weight(f.cfg.train.r1_gamma, f.cfg.train.r1_every, f.step) for f in self.families]
        return self._per_run(weights) if any(weights) else None

    def _d_update(self, real, z, alphas) -> dict:
        fams = self.families
        with torch.no_grad():
            fake = self.G(z, detached=True)
        r1_weights = self._r1_weights() if self.r1 else None
        if r1_weights is not None:  # one forward on the real batch serves the loss and R1 (the solo step runs two)
            real, real_logits = self._judge_for_penalty(real)
        else:
            real_logits = self.D(real).float()
        fake_logits = self.D(fake.detach()).float()
        loss = self._d_loss(real_logits, fake_logits)  # (R,)
        if self.loss == "wgan-gp":
            alpha = torch.stack(alphas)
            x_hat = alpha * real.detach() + (1 - alpha) * fake.detach().to(real.dtype)
            grad = self._input_grad(x_hat)
            gp = (torch.sqrt(grad.pow(2).sum(dim=2) + 1e-12) - 1.0).pow(2).mean(dim=1)
            loss = loss + self._per_run([f.cfg.train.gp_weight for f in fams]) * gp
        if r1_weights is not None:
            r1 = self._input_grad(real, real_logits).pow(2).sum(dim=2).mean(dim=1)
            loss = loss + r1_weights * r1
        self.D.zero_grad()
        # runs are independent: each run's weights get its own loss's gradient (and R1's real leaf none)
        torch.autograd.backward(loss.sum(), inputs=list(self.D.params.values()))
        gnorm = _grad_norms(self.D.grads())
        self.adam_D.step([f.cfg.train.lr_d * lr_factor(f.step, f.cfg.train.steps, f.cfg.train.lr_decay) for f in fams])
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        return {
            "loss_d": loss.detach(),
            "d_real": self._d_score(real_logits),
            "d_fake": self._d_score(fake_logits),
            "grad_norm_d": gnorm,
            "r_t": self._overfit_sign(real_logits, fake_logits),
        }

    def _g_update(self, z) -> dict:
        fams = self.families
        fake = self.G(z)
        fake_logits = self.D(fake, detached=True).float()
        loss = self._g_loss(fake_logits)
        self.G.zero_grad()
        loss.sum().backward()
        gnorm = _grad_norms(self.G.grads())
        self.adam_G.step([f.cfg.train.lr_g * lr_factor(f.step, f.cfg.train.steps, f.cfg.train.lr_decay) for f in fams])
        self._update_ema()
        return {"loss_g": loss.detach(), "grad_norm_g": gnorm}

    @torch.no_grad()
    def _update_ema(self) -> None:
        """engine.update_ema per run: each its decay, ramped up by its own step."""
        weights = []
        for f in self.families:
            decay = min(f.cfg.train.ema_decay, (1 + f.step) / (10 + f.step))
            weights.append(1.0 - decay)
        weights = self._per_run(weights)
        for name in self.G.names:
            ema, net = self.G_ema.params[name], self.G.params[name]
            ema.lerp_(net.detach(), weights.view((-1,) + (1,) * (ema.dim() - 1)))


class StackedVAE:
    """The VAE family's train_step (families.vae.VAE) for R unconditional 2D runs at once, bound to their families.

    Each run draws its batch, then its reparameterization noise, from its own StepContext as its solo step
    does, and keeps its own learning rate (its optimizer's, as lr_vae sets it), beta and KL warm-up; its one
    Adam over encoder and decoder is stepped as two stacked halves with the same per-run step counts."""

    @staticmethod
    def shared_settings(cfg) -> tuple:
        """What every run of one stack must share beyond the networks' shapes (part of pool.pool_key): the
        reconstruction term and its sigma (fixed by the data's spread unless set; no live control) and Adam's betas."""
        return (cfg.vae.recon, cfg.vae.recon_sigma, cfg.train.beta1, cfg.train.beta2)

    def __init__(self, families: list):
        self.families = families
        encoders, decoders, opts = [f.encoder for f in families], [f.decoder for f in families], [f.opt for f in families]
        self.encoder = _StackedNet(encoders, grad=True)
        self.decoder = _StackedNet(decoders, grad=True)
        self.adam_encoder = _StackedAdam(self.encoder, opts, encoders)
        self.adam_decoder = _StackedAdam(self.decoder, opts, decoders)
        self.recon_sigma = families[0].cfg.vae.recon_sigma
        self.device = families[0].ctx.device

    def release(self) -> None:
        """The families own their weights and Adam state again (before the stack is dropped)."""
        opts = [f.opt for f in self.families]
        for name in ("encoder", "decoder"):
            modules = [getattr(f, name) for f in self.families]
            _StackedNet.release(modules)
            _StackedAdam.release(opts, modules)

    def draw(self, family) -> dict:
        """One run's draws for a step, in its solo step's order: the batch, then the noise."""
        ctx = family.ctx
        x, _ = ctx.draw(ctx.batch_size)  # an unconditional VAE ignores the labels
        return {"x": x, "noise": ctx.noise(x.shape[0])}

    def train_step(self, draws: list[dict]) -> torch.Tensor:
        """One ELBO step of every run; returns (R, len(SERIES)) on the device."""
        from gan_demo.families.vae import reparameterize

        fams = self.families
        x = torch.stack([d["x"] for d in draws])  # (R, B, data_dim)
        runs, batch = x.shape[:2]
        mu, logvar = self.encoder(x)  # (R, B, z_dim) each
        mu, logvar = mu.float(), logvar.float()
        noise = torch.stack([d["noise"] for d in draws]).to(mu.dtype)
        out = self.decoder(reparameterize(mu, logvar, noise))  # (R, B, data_dim): the mean of p(x|z) for 2D points
        recon = gaussian_nll(out.float().flatten(0, 1), x.flatten(0, 1), self.recon_sigma).view(runs, batch)
        kl = gaussian_kl(mu.flatten(0, 1), logvar.flatten(0, 1)).view(runs, batch)
        weight = self._per_run([kl_weight(f.cfg.vae.beta, f.step, f.cfg.vae.kl_warmup) for f in fams])
        loss = (recon + weight.unsqueeze(1) * kl).mean(dim=1)  # (R,)
        self.encoder.zero_grad()
        self.decoder.zero_grad()
        loss.sum().backward()  # runs are independent: each run's weights get its own loss's gradient
        gnorm = _grad_norms(self.encoder.grads() + self.decoder.grads())
        lrs = [f.opt.param_groups[0]["lr"] for f in fams]  # lr_vae as the run's optimizer holds it (live changes, rollback)
        self.adam_encoder.step(lrs)
        self.adam_decoder.step(lrs)
        for f in fams:
            f.step += 1
        recon, kl = recon.detach().mean(dim=1), kl.detach().mean(dim=1)
        values = {"loss": loss.detach(), "recon": recon, "kl": kl, "elbo": -(recon + kl), "kl_weight": weight,
                  "grad_norm": gnorm}
        return torch.stack([values[n].float() for n in fams[0].series], dim=1)

    def _per_run(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device)


STACKED = {"gan": StackedGAN, "vae": StackedVAE}  # family name -> its stacked step (pool.RunPool builds it)
