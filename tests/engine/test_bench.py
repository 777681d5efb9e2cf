"""`python -m gan_demo bench`, the canonical DCGAN loop and the polling-overhead measure: tiny models, CPU."""
import json

import pytest
import torch

from gan_demo.__main__ import main
from gan_demo.evaluation.bench import load_canonical, peak_for_name, poll_overhead
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer

TINY = ["--img-size", "16", "--ngf", "8", "--ndf", "8", "--z-dim", "16", "--batch-size", "16", "--device", "cpu"]


def tiny_cfg(**train):
    return RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8, z_dim=16),
                     train=TrainConfig(batch_size=16, device="cpu", **train))


def test_bench_cli_prints_json_with_the_canonical_ratio(capsys):
    assert main(["bench", *TINY, "--steps", "2", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"steps_per_s", "images_per_s", "params_G", "params_D", "device", "flops_per_step", "gflop_per_s",
            "ratio", "canonical", "machine"} <= set(result)
    assert result["device"] == "cpu" and result["steps"] == 2 and result["dataset"] == "digits"
    assert result["images_per_s"] > 0 and result["canonical"]["images_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["images_per_s"] / result["canonical"]["images_per_s"], rel=0.01)
    assert result["params_G"] > 0 and result["params_D"] > 0
    assert result["precision"] == Trainer(tiny_cfg()).precision


def test_flops_are_counted_through_gradient_penalties(capsys):
    """R1 and WGAN-GP take a gradient with torch.autograd.grad, which FlopCounterMode's module hooks cannot
    follow; bench.step_flops counts with the same formulas and gives FlopCounterMode's total where both run."""
    from torch.utils.flop_counter import FlopCounterMode

    from gan_demo.evaluation.bench import step_flops

    plain = Trainer(tiny_cfg(amp=False))
    with FlopCounterMode(display=False) as counter:
        plain.step_once()
    assert step_flops(plain.step_once) == counter.get_total_flops() > 0
    r1 = Trainer(tiny_cfg(amp=False, r1_gamma=1.0))
    assert step_flops(r1.step_once) > step_flops(plain.step_once)  # R1's double backward is counted too
    assert main(["bench", *TINY, "--r1-gamma", "1", "--steps", "1", "--warmup", "0", "--no-canonical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flops_per_step"] > 0
    assert main(["bench", *TINY, "--loss", "wgan-gp", "--steps", "1", "--warmup", "0", "--no-canonical", "--json"]) == 0


def test_bench_no_amp_times_the_fp32_step(capsys):
    assert main(["bench", *TINY, "--steps", "1", "--warmup", "0", "--no-canonical", "--no-amp", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == "fp32" and result["amp_bf16"] is False and "canonical" not in result


def test_bench_steps_flag_replaces_bench_steps():
    with pytest.raises(SystemExit):
        main(["bench", *TINY, "--bench-steps", "2"])


def test_canonical_loop_trains_the_same_models():
    canonical = load_canonical()
    assert canonical is not None
    trainer = Trainer(tiny_cfg())
    cfg = trainer.cfg
    netG, netD = canonical.build(cfg, torch.device("cpu"))
    for (name, a), b in zip(trainer.family.G.state_dict().items(), netG.state_dict().values()):
        assert torch.equal(a, b), name  # identical models and initial weights
    loop = canonical.training_loop(netG, netD, torch.utils.data.DataLoader(canonical.make_dataset(cfg), batch_size=16,
                                                                           shuffle=True, num_workers=0),
                                   cfg.model.z_dim, torch.device("cpu"))
    before = [p.detach().clone() for p in netG.parameters()]
    batch, log = next(loop)
    assert batch == 16 and log.startswith("[0][0/") and "Loss_D" in log
    assert any(not torch.equal(a, p) for a, p in zip(before, netG.parameters()))
    images, _ = next(iter(torch.utils.data.DataLoader(canonical.make_dataset(cfg), batch_size=8)))
    assert images.shape == (8, 1, 16, 16) and images.min() >= -1 and images.max() <= 1
    result = canonical.time_loop(canonical.make_loop(cfg, "cpu", workers=0), 2)
    assert result["images"] == 32 and result["images_per_s"] > 0


def test_poll_overhead_reports_a_slowdown():
    result = poll_overhead(tiny_cfg(), steps=3, interval=0.01, rounds=1, warmup=1)
    assert {"steps_per_s_without", "steps_per_s_with", "slowdown_percent", "cpu_estimate_percent", "process_cpu_percent",
            "paired_slowdown_percent", "polls",
            "poll_cpu_ms", "poll_wall_ms"} <= set(result)
    assert result["steps_per_s_without"] > 0 and result["steps_per_s_with"] > 0


def test_peak_table():
    assert peak_for_name("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_for_name("NVIDIA H100 PCIe") == 756.0
    assert peak_for_name("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_for_name("Some Future GPU") is None


def test_fast_path_changes_nothing_but_speed(monkeypatch):
    import contextlib

    from gan_demo.families import gan as gan_module

    fast = Trainer(tiny_cfg(amp=False))  # fp32 on both sides: bf16 autocast changes the numbers, by design
    assert fast.family.G.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast.step_once()
    assert all(p.requires_grad for p in fast.family.D.parameters())  # D trains again after the G step
    monkeypatch.setattr(gan_module, "frozen", lambda module: contextlib.nullcontext())
    slow = Trainer(tiny_cfg(amp=False))
    slow.family.G.to(memory_format=torch.contiguous_format)
    slow.family.D.to(memory_format=torch.contiguous_format)
    slow.step_once()
    for (name, a), b in zip(fast.family.G.state_dict().items(), slow.family.G.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    for (name, a), b in zip(fast.family.D.state_dict().items(), slow.family.D.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_ablation_runs():
    from gan_demo.evaluation.bench import ablation, format_ablation

    result = ablation(tiny_cfg(), steps=1, rounds=1, warmup=0, canonical=False)
    precision = Trainer(tiny_cfg()).precision
    assert {f"project ({precision})", "bf16 autocast (forced)", "fp32 (autocast off)", "fp32 without channels_last",
            "fp32 with D grads in G step", "fp32 before (neither)"} == set(result["variants"])
    assert all(row["cpu_s_per_step"] > 0 for row in result["variants"].values())
    assert f"project ({precision})" in format_ablation(result)
