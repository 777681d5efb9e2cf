"""torch.distributed on CPU (gloo, 2 processes of 1 thread): 2 ranks x B equal 1 process x 2B, a torchrun
checkpoint that `sample` and the app load, NaN and stop agreed by all ranks, --resume on 2 ranks.
Every multi-process run has a hard timeout."""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_demo.core import distributed
from gan_demo.training import trainer as trainer_module
from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer

pytestmark = pytest.mark.slow  # real clusters / several processes: seconds each

ROOT = Path(__file__).resolve().parents[2]
RANKS = 2
SPAWN_TIMEOUT_S = 60  # a run of the spawned ranks that takes longer has hung
TORCHRUN_TIMEOUT_S = 90


# ------------------------------------------------------------------ configs and the shared-order hook
def mlp_cfg(batch: int) -> RunConfig:
    """ring8 MLP GAN: no BatchNorm; R1 on (the 2D default, 0.1), so the double backward goes through the all-reduce."""
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=32, depth=2),
                     train=TrainConfig(batch_size=batch, steps=6, seed=3, device="cpu"))


def dcgan_cfg(batch: int, sync_bn: bool = False, steps: int = 4, r1_gamma: float = 0.0) -> RunConfig:
    """Tiny digits DCGAN with BatchNorm in G and D, fp32 (bf16 would hide differences at the tolerance)."""
    return RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8, z_dim=16, d_norm="batch"),
                     train=TrainConfig(batch_size=batch, steps=steps, seed=5, device="cpu", amp=False, sync_bn=sync_bn,
                                       r1_gamma=r1_gamma))


# 2 ranks x B against 1 process x 2B (config, absolute tolerance on the weights): an MLP without BatchNorm;
# with --sync-bn a DCGAN with BatchNorm in G and D, and the same with R1 on its BatchNorm D (a double backward
# through the global statistics' all-reduce). Measured: the first two agree within 2e-7, the R1 case within
# 2e-7 but for one element of G's first layer at 6e-6 (Adam divides float noise by a near-zero gradient);
# per-rank BatchNorm instead of --sync-bn differs by 1e-3 there.
EQUIVALENT = {"mlp": (mlp_cfg(64), 2e-6), "dcgan_sync_bn": (dcgan_cfg(32, sync_bn=True), 2e-6),
              "dcgan_sync_bn_r1": (dcgan_cfg(32, sync_bn=True, steps=3, r1_gamma=1.0), 3e-5)}


class SharedOrderTrainer(Trainer):
    """Test hook: every rank draws the whole global batch (data and noise) from one stream seeded alike
    and keeps its own slice, so 2 ranks x B train on exactly the samples 1 process x 2B trains on.
    (The real Trainer draws each rank's share from seed + rank.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared = torch.Generator().manual_seed(1234)

    def _slice(self, t: torch.Tensor | None, n: int) -> torch.Tensor | None:
        r = self.dist.rank
        return None if t is None else t[r * n:(r + 1) * n]

    def _real_batch(self, n):
        x, y = self.dataset.sample(n * self.dist.world_size, self.shared)
        return self._slice(x, n), self._slice(y, n)

    def _noise(self, n):
        return self._slice(torch.randn(n * self.dist.world_size, self.cfg.model.z_dim, generator=self.shared), n)


def _weights(tr: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for prefix, module in (("G", tr.family.G), ("D", tr.family.D), ("G_ema", tr.family.G_ema)):
        out.update({f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()})
    return out


# ------------------------------------------------------------------ running ranks with a timeout
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_entry(rank: int, fn, world: int, port: int, out_dir: str) -> None:
    """One spawned rank: torchrun's environment by hand, one thread, the group, fn, then its result to a file."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    dist = distributed.from_environ()
    distributed.init(dist, torch.device("cpu"))
    try:
        result = fn(dist, Path(out_dir))
    except BaseException:
        distributed.shutdown(dist, wait=False)
        raise
    distributed.shutdown(dist)
    torch.save(result, Path(out_dir) / f"rank{rank}.pt")


def run_ranks(fn, tmp_path: Path, world: int = RANKS, timeout: float = SPAWN_TIMEOUT_S) -> list:
    """fn(dist, tmp_path) on `world` spawned gloo ranks; their results in rank order. A hang fails the test."""
    context = torch.multiprocessing.start_processes(_rank_entry, args=(fn, world, _free_port(), str(tmp_path)),
                                                    nprocs=world, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=max(0.1, deadline - time.monotonic())):  # raises if a rank failed
        if time.monotonic() >= deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the {world} ranks were still running after {timeout} s: a hang")
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(world)]


# ------------------------------------------------------------------ (a) 2 ranks x B == 1 process x 2B
def _equivalence_ranks(dist, out_dir):
    trainer_module.READBACK_STEPS = 2  # several agreed read-backs within the few steps
    trainer_module.READBACK_S = 0.0  # would read back after every step in one process; never used under torchrun
    results = {}
    for name, (cfg, _) in EQUIVALENT.items():
        tr = SharedOrderTrainer(cfg, dist=dist)
        initial = _weights(tr)
        read_at = []
        tr.add_callback(lambda t, rec: read_at.append(t.step))
        state = tr.run()
        results[name] = {"state": state, "initial": initial, "final": _weights(tr), "read_at": read_at,
                         "loss_d": tr.history.columns()["loss_d"], "local_batch": tr.batch_size,
                         "global_bn": sum(isinstance(m, distributed.GlobalBatchNorm) for m in (*tr.family.G.modules(), *tr.family.D.modules()))}
    return results


def test_two_ranks_of_batch_b_train_like_one_process_of_batch_2b(tmp_path):
    ranks = run_ranks(_equivalence_ranks, tmp_path)
    for name, (cfg, atol) in EQUIVALENT.items():
        one = SharedOrderTrainer(cfg)  # one process, the whole global batch, plain BatchNorm
        one_initial = _weights(one)
        assert one.run() == "finished"
        r0, r1 = ranks[0][name], ranks[1][name]
        assert r0["state"] == r1["state"] == "finished" and r0["local_batch"] == cfg.train.batch_size // 2
        for key, value in one_initial.items():  # weights from the seed alone: the same on every rank
            assert torch.equal(r0["initial"][key], value) and torch.equal(r1["initial"][key], value), key
        for key, value in _weights(one).items():
            assert torch.equal(r0["final"][key], r1["final"][key]), key  # every rank holds the same model, G_ema too
            assert torch.allclose(r0["final"][key].float(), value.float(), rtol=1e-4, atol=atol), \
                (name, key, float((r0["final"][key].float() - value.float()).abs().max()))
        # read back at step counts only (READBACK_S = 0 would have read after every step), figures averaged
        assert r0["read_at"] == r1["read_at"] == [min(s + s % 2, cfg.train.steps) for s in range(1, cfg.train.steps + 1)]
        assert r0["loss_d"] == r1["loss_d"] == pytest.approx(one.history.columns()["loss_d"], rel=1e-4)
        first = next(k for k in one_initial if k.startswith("G."))
        assert not torch.equal(r0["final"][first], one_initial[first])  # training moved the weights
    assert ranks[0]["mlp"]["global_bn"] == 0 and ranks[0]["dcgan_sync_bn"]["global_bn"] > 0  # --sync-bn converted


# ------------------------------------------------------------------ (c) NaN on one rank, stop on one rank
class HookedTrainer(Trainer):
    """Test hook: at a given step on one rank, report a NaN (its numbers only), poison a weight, or ask to stop."""

    hook: tuple[str, int, int] | None = None  # (what, rank, step)

    def _step_tensors(self):
        what, rank, step = self.hook or ("", -1, -1)
        here = self.dist.rank == rank and self.step == step
        if here and what == "poison_weight":
            with torch.no_grad():
                next(self.family.D.parameters()).fill_(float("nan"))
        out, seconds = super()._step_tensors()
        if here and what == "nan_reading":  # a NaN in this rank's numbers alone: the weights never see it
            out["loss_g"] = out["loss_g"] * float("nan")
        if here and what == "stop":
            self.stop()  # as Ctrl-C or SIGTERM on this rank alone
        return out, seconds


def _control_flow_ranks(dist, out_dir):
    trainer_module.READBACK_STEPS = 4
    tr = HookedTrainer(mlp_cfg(64), dist=dist)
    first_draw = (tr._real_batch(8)[0], tr._noise(4))  # this rank's data and noise stream (seed + rank)
    runs = [first_draw]
    for hook in (("nan_reading", 1, 5), ("stop", 1, 2), ("poison_weight", 1, 9)):
        tr.hook = hook
        state = tr.run(40)
        runs.append({"state": state, "step": tr.step, "message": tr.message, "weights": _weights(tr),
                     "history_steps": tr.history.columns()["step"]})
    # `train --resume` on the same two ranks: rank 0 saved the run; rank 0 alone reads it and sends it on.
    from gan_demo.__main__ import main

    if dist.master:
        tr.save(out_dir / "resume")
    runs.append(main(["train", "--resume", "--out", str(out_dir / "resume"), "--steps", "8", "--save-every", "0",
                      "--quiet", "--device", "cpu"]))  # ends with the process group's shutdown
    return runs


def test_nan_or_stop_on_one_rank_acts_on_all_without_hanging(tmp_path):
    ranks = run_ranks(_control_flow_ranks, tmp_path)
    draws, nan_reading, stop, poison, resumed = (list(runs) for runs in zip(*ranks))  # each: [rank 0's, rank 1's]
    # Data and noise come from seed + rank: rank r draws what one process seeded with seed + r draws.
    for rank, (real, z) in enumerate(draws):
        cfg = mlp_cfg(64)
        cfg.train.seed += rank
        alone = Trainer(cfg)
        assert torch.equal(real, alone._real_batch(8)[0]) and torch.equal(z, alone._noise(4))
    assert not torch.equal(draws[0][0], draws[1][0])
    # A NaN only rank 1 read (step 6's numbers): both ranks roll back to the good state of step 0 together.
    for r in nan_reading:
        assert r["state"] == "diverged" and r["step"] == 0
        assert r["message"].startswith("diverged at step 6;") and "restored to step 0" in r["message"]
        assert r["history_steps"] == []  # the history ends at the restored step on both
    # Stop asked on rank 1 alone (after its 3rd step): both stop at the next agreed read-back.
    assert [r["state"] for r in stop] == ["stopped", "stopped"] and [r["step"] for r in stop] == [4, 4]
    # A poisoned weight on rank 1 at step 9 (step 10's numbers): rolled back on both, finite and equal again.
    for r in poison:
        assert r["state"] == "diverged" and r["message"].startswith("diverged at step 10;") and r["step"] == 4
        assert r["history_steps"] == [1, 2, 3, 4]  # the stopped run's steps; none of the diverged run's
    for key, value in poison[0]["weights"].items():
        assert torch.isfinite(value.float()).all() and torch.equal(value, poison[1]["weights"][key]), key
    # --resume from step 4 to 8 through the CLI on both ranks, one checkpoint written.
    config = json.loads((tmp_path / "resume" / "config.json").read_text())
    assert resumed == [0, 0] and config["step"] == 8 and config["train"]["world_size"] == 2


# ------------------------------------------------------------------ (b) torchrun CLI: checkpoint, sample, app
def _torchrun(*args, timeout=TORCHRUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=2 -m gan_demo ...` (as torch.distributed.run of this Python);
    the whole process group is killed if it outlives the timeout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={RANKS}",
           "-m", "gan_demo", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"torchrun still running after {timeout} s: a hang")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


TINY_DCGAN = ["--dataset", "digits", "--img-size", "16", "--ngf", "8", "--ndf", "8", "--z-dim", "16",
              "--batch-size", "16", "--save-every", "0", "--quiet", "--device", "cpu"]


def test_torchrun_run_makes_one_checkpoint_that_sample_and_the_app_load(tmp_path):
    from gan_demo.__main__ import main
    from gan_demo.explore.sampler import Sampler

    out = tmp_path / "ddp"
    proc = _torchrun("train", *TINY_DCGAN, "--steps", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # rank 0 alone prints the summary
    assert json.loads(lines[0])["state"] == "finished" and json.loads(lines[0])["step"] == 3
    assert proc.stderr.count("training digits") == 1 and "in 2 processes (gloo, batch 16 = 2 x 8)" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "samples.png", "state.pt",
                                                    "timeline.png"]
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["world_size"] == 2 and config["train"]["batch_size"] == 16 and config["step"] == 3
    assert RunConfig.from_dict({k: config[k] for k in ("data", "model", "train", "step")}).to_cli().startswith(
        "torchrun --standalone --nproc_per_node=2 -m gan_demo train --dataset digits")

    npy = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", str(out), "--n", "6", "--out", str(npy), "--device", "cpu"]) == 0
    a = np.load(npy)
    assert a.shape == (6, 1, 16, 16) and 0 <= a.min() and a.max() <= 1
    sampler = Sampler.from_checkpoint(out)
    image, score = sampler.from_seed(3)
    assert image.shape == (1, 16, 16) and math.isfinite(score) and sampler.step == 3



# ------------------------------------------------------------------ one process: environment, config, help
def test_environment_is_read_from_torchrun_variables():
    assert distributed.from_environ({}) is distributed.SINGLE and not distributed.SINGLE.active
    d = distributed.from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (d.rank, d.local_rank, d.world_size, d.active, d.master) == (3, 1, 4, True, False)
    assert distributed.seed_for(10, d) == 13 and distributed.local_batch(64, d) == 16
    with pytest.raises(ValueError, match="out of range"):
        distributed.from_environ({"RANK": "4", "LOCAL_RANK": "0", "WORLD_SIZE": "4"})
    assert distributed.device_for(d, "cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="mps"):
        distributed.device_for(d, "mps")


def test_a_batch_that_does_not_split_evenly_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"^batch_size: the global batch \(65\) must split evenly across the 2"):
        RunConfig(train=TrainConfig(batch_size=65, world_size=2)).validate()
    three = distributed.Dist(rank=0, world_size=3, active=True)  # fails before any collective is needed
    with pytest.raises(ConfigError, match=r"batch_size: the global batch \(16\)"):
        Trainer(dcgan_cfg(16), dist=three)
    with pytest.raises(ConfigError, match=r"batch_size: the global batch \(64\)"):  # the default batch too
        Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16), train=TrainConfig(device="cpu")), dist=three)


def test_help_says_the_batch_is_global_and_world_size_is_no_flag():
    from gan_demo.__main__ import build_parser

    text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert "the global batch: under torchrun each of N processes takes batch_size / N" in text
    assert "--sync-bn" in text and "--world-size" not in text
    assert RunConfig(train=TrainConfig(world_size=1, sync_bn=True)).to_cli().startswith("python -m gan_demo train")


def test_global_batchnorm_is_plain_batchnorm_in_one_process():
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4))
    synced = distributed.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4)))
    synced.load_state_dict(plain.state_dict())  # same keys as plain BatchNorm: checkpoints load either way
    assert isinstance(synced[1], distributed.GlobalBatchNorm)
    x = torch.randn(5, 2, 6, 6)
    assert torch.equal(plain(x), synced(x))


def test_a_plain_run_starts_no_process_group(tmp_path, capsys):
    from gan_demo.__main__ import main

    assert "RANK" not in os.environ
    assert main(["train", "--dataset", "ring8", "--n-points", "1000", "--width", "16", "--depth", "1", "--batch-size", "32",
                 "--steps", "2", "--quiet", "--device", "cpu", "--out", str(tmp_path / "r")]) == 0
    assert not torch.distributed.is_initialized()
    assert "processes" not in capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["world_size"] == 1
