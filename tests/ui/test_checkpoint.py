"""Checkpoint save/load: exact round trips, atomic writes, and refusal of unsafe or mismatched files."""
from __future__ import annotations

import copy
import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from gan_demo.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_checkpoint,
    is_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_networks,
)
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig
from gan_demo.families.nets import build_models

FILES = {"config.json", "model.safetensors", "state.pt"}


# ---------------------------------------------------------------- helpers
def save_checkpoint(run_dir, cfg: RunConfig, G, G_ema, D, opt_G=None, opt_D=None, step=None, dataset_info=None):
    """A GAN's nets and optimizers saved under its names (families.GAN.network_names, optimizer_names)."""
    return save_networks(run_dir, cfg, {"G": G, "G_ema": G_ema, "D": D}, {"opt_G": opt_G, "opt_D": opt_D},
                         step=step, dataset_info=dataset_info)


def mlp_cfg(width: int = 16, depth: int = 2) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8"), model=ModelConfig(width=width, depth=depth)).resolved()


def dcgan_cfg() -> RunConfig:
    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=16),
                    model=ModelConfig(ngf=8, ndf=8, conditional=True))
    return cfg.resolved(channels=1, n_classes=10)


def make_z(cfg: RunConfig, n: int = 4, seed: int = 123) -> torch.Tensor:
    try:
        from gan_demo.explore.latent import z_from_seed
    except ImportError:
        return torch.randn(n, cfg.model.z_dim, generator=torch.Generator().manual_seed(seed))
    return z_from_seed(seed, cfg.model.z_dim, n)


def make_y(cfg: RunConfig, n: int = 4) -> torch.Tensor | None:
    return torch.arange(n) % cfg.model.n_classes if cfg.model.n_classes else None


def make_nets(cfg: RunConfig):
    """G, G_ema, D with G_ema different from G and BatchNorm running stats off their defaults."""
    torch.manual_seed(0)
    G, D = build_models(cfg.model)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.add_(0.01)
        # A train-mode forward moves BatchNorm buffers (when the model has any).
        D(G(make_z(cfg, 8), make_y(cfg, 8)), make_y(cfg, 8))
    return G, G_ema, D


def make_optimizers(cfg: RunConfig, G: nn.Module, D: nn.Module):
    """Adam for G and D after one step on a dummy loss, so they hold real moment tensors."""
    t = cfg.train
    opt_G = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
    z, y = make_z(cfg), make_y(cfg)
    opt_G.zero_grad()
    G(z, y).square().mean().backward()
    opt_G.step()
    opt_D.zero_grad()
    D(G(z, y).detach(), y).mean().backward()
    opt_D.step()
    return opt_G, opt_D


def assert_one_line_error(fn, match: str) -> str:
    with pytest.raises(CheckpointError, match=match) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message and len(message) <= 400, message
    return message


def assert_same(a, b):
    """Recursive equality for optimizer state dicts (tensors compared exactly)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


class CompiledLike(nn.Module):
    """Stands in for torch.compile's OptimizedModule: the real module lives in _orig_mod."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self._orig_mod = module

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)


class Exploit:
    """Unpickling this calls open(marker, "w"): any callable would do, e.g. os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize("make_cfg", [mlp_cfg, dcgan_cfg], ids=["mlp", "dcgan"])
def test_round_trip_is_exact(tmp_path, make_cfg):
    cfg = make_cfg()
    G, G_ema, D = make_nets(cfg)
    info = {"n_classes": cfg.model.n_classes, "class_names": [str(i) for i in range(cfg.model.n_classes)],
            "modes": torch.tensor([[1.0, 0.0], [0.0, 1.0]]) if cfg.kind == "2d" else None,
            "sigma": 0.01 if cfg.kind == "2d" else None, "kind": cfg.kind}
    out = save_checkpoint(tmp_path / "run", cfg, G, G_ema, D, step=42, dataset_info=info)
    assert out == tmp_path / "run"
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors"}

    ckpt = load_checkpoint(out, "cpu")
    assert isinstance(ckpt, Checkpoint) and ckpt.path == out
    assert ckpt.step == 42 and ckpt.cfg.step == 42 and ckpt.opt_state is None
    assert ckpt.cfg.model == cfg.model and ckpt.cfg.train == cfg.train and ckpt.cfg.data == cfg.data
    for original, loaded in ((G, ckpt.networks["G"]), (G_ema, ckpt.networks["G_ema"]), (D, ckpt.networks["D"])):
        want, got = original.state_dict(), loaded.state_dict()
        assert set(want) == set(got)
        for k in want:
            assert want[k].dtype == got[k].dtype and torch.equal(want[k], got[k]), k
        assert not loaded.training
    z, y = make_z(cfg), make_y(cfg)
    with torch.no_grad():
        assert torch.equal(G_ema.eval()(z, y), ckpt.networks["G_ema"](z, y))
        assert not torch.equal(ckpt.networks["G"](z, y), ckpt.networks["G_ema"](z, y))  # G and G_ema kept apart

    assert ckpt.dataset_info["n_classes"] == cfg.model.n_classes
    assert ckpt.dataset_info["class_names"] == info["class_names"]
    assert ckpt.dataset_info["kind"] == cfg.kind
    if cfg.kind == "2d":
        assert ckpt.dataset_info["modes"] == [[1.0, 0.0], [0.0, 1.0]]
        assert ckpt.dataset_info["sigma"] == pytest.approx(0.01)
    else:
        assert ckpt.dataset_info["modes"] is None and ckpt.dataset_info["sigma"] is None

    config = json.loads((out / "config.json").read_text())
    assert config["step"] == 42 and config["format_version"] == cfg.format_version
    assert set(config["dataset_info"]) >= {"n_classes", "class_names", "modes", "sigma", "kind"}


def test_weights_file_layout(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    save_checkpoint(tmp_path, cfg, G, G_ema, D)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    expected = {f"{prefix}.{k}" for prefix, net in (("G", G), ("G_ema", G_ema), ("D", D))
                for k in net.state_dict()}
    assert set(tensors) == expected


def test_optimizer_state_round_trip(tmp_path):
    cfg = dcgan_cfg()
    G, G_ema, D = make_nets(cfg)
    opt_G, opt_D = make_optimizers(cfg, G, D)
    save_checkpoint(tmp_path, cfg, G, G_ema, D, opt_G, opt_D, step=7)
    assert {p.name for p in tmp_path.iterdir()} == FILES

    ckpt = load_checkpoint(tmp_path, "cpu")
    assert ckpt.step == 7
    assert_same(opt_G.state_dict(), ckpt.opt_state["opt_G"])
    assert_same(opt_D.state_dict(), ckpt.opt_state["opt_D"])
    # The state loads into fresh optimizers over the rebuilt models.
    t = cfg.train
    new_G = torch.optim.Adam(ckpt.networks["G"].parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
    new_G.load_state_dict(ckpt.opt_state["opt_G"])
    assert_same(opt_G.state_dict(), new_G.state_dict())

    assert load_checkpoint(tmp_path, "cpu", with_optimizer_state=False).opt_state is None


def test_step_defaults_to_cfg_step_and_str_paths(tmp_path):
    cfg = mlp_cfg()
    cfg.step = 99
    G, G_ema, D = make_nets(cfg)
    save_checkpoint(str(tmp_path / "run"), cfg, G, G_ema, D)
    assert load_checkpoint(str(tmp_path / "run"), torch.device("cpu")).step == 99


def test_saving_without_optimizers_removes_stale_state(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    opt_G, opt_D = make_optimizers(cfg, G, D)
    save_checkpoint(tmp_path, cfg, G, G_ema, D, opt_G, opt_D, step=1)
    assert (tmp_path / "state.pt").exists()
    save_checkpoint(tmp_path, cfg, G, G_ema, D, step=2)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    assert load_checkpoint(tmp_path, "cpu").opt_state is None


def test_compiled_modules_are_saved_unwrapped(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    save_checkpoint(tmp_path, cfg, CompiledLike(G), CompiledLike(G_ema), CompiledLike(D))
    keys = load_file(str(tmp_path / "model.safetensors")).keys()
    assert keys and not any("_orig_mod" in k for k in keys)
    ckpt = load_checkpoint(tmp_path, "cpu")
    z = make_z(cfg)
    with torch.no_grad():
        assert torch.equal(G_ema(z), ckpt.networks["G_ema"](z))


def test_shared_tensors_are_saved(tmp_path):
    # With EMA off a trainer may pass G itself as G_ema: the same storage twice, which safetensors refuses.
    cfg = mlp_cfg()
    G, _, D = make_nets(cfg)
    save_checkpoint(tmp_path, cfg, G, G, D)
    ckpt = load_checkpoint(tmp_path, "cpu")
    for k, v in G.state_dict().items():
        assert torch.equal(v, ckpt.networks["G"].state_dict()[k]) and torch.equal(v, ckpt.networks["G_ema"].state_dict()[k])


def test_unresolved_config_is_refused(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    assert_one_line_error(lambda: save_checkpoint(tmp_path, RunConfig(), G, G_ema, D), "resolved")


# ----------------------------------------------------------- atomic writes
def test_failed_save_leaves_old_checkpoint_and_no_temp_files(tmp_path, monkeypatch):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    opt_G, opt_D = make_optimizers(cfg, G, D)
    save_checkpoint(tmp_path, cfg, G, G_ema, D, opt_G, opt_D, step=1)
    assert {p.name for p in tmp_path.iterdir()} == FILES  # no temp files left behind
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, cfg, G, G_ema, D, opt_G, opt_D, step=2)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert load_checkpoint(tmp_path, "cpu").step == 1


# ------------------------------------------------------------ unsafe files
def test_pickled_object_in_state_pt_is_refused_without_running(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    opt_G, opt_D = make_optimizers(cfg, G, D)
    save_checkpoint(tmp_path, cfg, G, G_ema, D, opt_G, opt_D, step=3)
    marker = tmp_path.parent / f"{tmp_path.name}-pwned"
    payload = {"opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "step": 3, "x": Exploit(marker)}
    torch.save(payload, tmp_path / "state.pt")

    # The payload is real: a plain torch.load would run it.
    sanity = tmp_path.parent / f"{tmp_path.name}-sanity"
    torch.save({"x": Exploit(sanity)}, tmp_path.parent / "sanity.pt")
    torch.load(tmp_path.parent / "sanity.pt", weights_only=False)["x"].close()
    assert sanity.exists()

    message = assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "pickled object")
    assert "state.pt" in message
    assert not marker.exists()


def test_raw_pickle_state_pt_is_refused_without_running(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    save_checkpoint(tmp_path, cfg, G, G_ema, D)
    marker = tmp_path.parent / f"{tmp_path.name}-pwned"
    with open(tmp_path / "state.pt", "wb") as f:
        pickle.dump({"step": 0, "x": Exploit(marker)}, f, protocol=2)
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "state.pt")
    assert not marker.exists()


def test_truncated_state_pt(tmp_path):
    cfg = mlp_cfg()
    G, G_ema, D = make_nets(cfg)
    save_checkpoint(tmp_path, cfg, G, G_ema, D, *make_optimizers(cfg, G, D))
    data = (tmp_path / "state.pt").read_bytes()
    (tmp_path / "state.pt").write_bytes(data[: len(data) // 2])
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "state.pt")


# ------------------------------------------------------- mismatched files
def test_weights_from_another_architecture(tmp_path):
    small, wide, deep = mlp_cfg(width=16), mlp_cfg(width=32), mlp_cfg(width=16, depth=3)
    save_checkpoint(tmp_path / "small", small, *make_nets(small))
    save_checkpoint(tmp_path / "wide", wide, *make_nets(wide))
    save_checkpoint(tmp_path / "deep", deep, *make_nets(deep))

    (tmp_path / "small" / "model.safetensors").write_bytes((tmp_path / "wide" / "model.safetensors").read_bytes())
    message = assert_one_line_error(lambda: load_checkpoint(tmp_path / "small", "cpu"),
                                    "does not match its config: size mismatch for G")
    assert "[32" in message or "32]" in message

    (tmp_path / "small" / "model.safetensors").write_bytes((tmp_path / "deep" / "model.safetensors").read_bytes())
    assert_one_line_error(lambda: load_checkpoint(tmp_path / "small", "cpu"), "does not match its config")

    (tmp_path / "deep" / "config.json").write_bytes((tmp_path / "wide" / "config.json").read_bytes())
    assert_one_line_error(lambda: load_checkpoint(tmp_path / "deep", "cpu"), "does not match its config")


def test_weights_with_foreign_keys(tmp_path):
    from safetensors.torch import save_file

    cfg = mlp_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    tensors = load_file(str(tmp_path / "model.safetensors"))
    tensors["model.extra"] = torch.zeros(2)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "unexpected key model.extra")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_safetensors(tmp_path, damage):
    cfg = mlp_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) - 100], "garbage": os.urandom(64), "empty": b""}[damage])
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "model.safetensors")


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a valid gan_demo config"),
    ('{"model": {"width": -3}}', "width"),
    ('{"model": {"colour": "red"}}', "colour"),
    ('{"model": {"width": "wide"}}', "not a valid gan_demo config"),
    ('{"format_version": 99}', "format_version"),
])
def test_corrupt_config(tmp_path, text, match):
    cfg = mlp_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    (tmp_path / "config.json").write_text(text)
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), match)


@pytest.mark.parametrize("make_cfg, field", [(mlp_cfg, "width"), (dcgan_cfg, "ngf"), (dcgan_cfg, "ndf")])
def test_an_auto_field_left_null_is_filled_and_checked_not_a_crash(tmp_path, make_cfg, field):
    """A saved config is resolved; an edited one may leave an auto field null (width, ngf, ndf): it gets its
    default, so a mismatch with the weights is a one-line refusal (before: TypeError in the limits or the build)."""
    from gan_demo.ui.limits import check_model_limits

    cfg = make_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    assert check_checkpoint(tmp_path)[1] == cfg  # a saved config comes back as it was
    config = json.loads((tmp_path / "config.json").read_text())
    config["model"][field] = None
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert_one_line_error(lambda: check_checkpoint(tmp_path, check_config=check_model_limits), "does not match")
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "does not match")


def test_config_messages_name_the_run_folder_not_the_server_path(tmp_path):
    from gan_demo.training.checkpoint import _read_config

    run = tmp_path / "gan_demo_uploads_x1y2" / "upload-abc123"  # an upload's folder on the server
    cfg = mlp_cfg()
    save_checkpoint(run, cfg, *make_nets(cfg))
    (run / "config.json").write_text("{not json")
    message = assert_one_line_error(lambda: load_checkpoint(run, "cpu"), "^upload-abc123/config.json is not valid JSON")
    (run / "config.json").unlink()
    (run / "config.json").mkdir()  # unreadable: its OSError carries the full path
    message += assert_one_line_error(lambda: _read_config(run / "config.json"),
                                     "^upload-abc123/config.json is not valid JSON: Is a directory$")
    assert str(tmp_path) not in message


def test_binary_config(tmp_path):
    cfg = mlp_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    (tmp_path / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "config.json")


def test_missing_files(tmp_path):
    cfg = mlp_cfg()
    save_checkpoint(tmp_path / "run", cfg, *make_nets(cfg))
    (tmp_path / "run" / "model.safetensors").unlink()
    assert_one_line_error(lambda: load_checkpoint(tmp_path / "run", "cpu"),
                          "not a gan_demo checkpoint: .* has no model.safetensors")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.safetensors").write_bytes(b"")
    assert_one_line_error(lambda: load_checkpoint(tmp_path / "other", "cpu"), "has no config.json")
    assert_one_line_error(lambda: load_checkpoint(tmp_path / "nowhere", "cpu"), "not a gan_demo checkpoint")


# ---------------------------------------------------------------- finding
def test_is_and_list_checkpoints(tmp_path):
    cfg = mlp_cfg()
    nets = make_nets(cfg)
    for name in ("b-run", "a-run"):
        save_checkpoint(tmp_path / name, cfg, *nets)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    assert is_checkpoint(tmp_path / "a-run") and is_checkpoint(str(tmp_path / "b-run"))
    assert not is_checkpoint(tmp_path / "empty") and not is_checkpoint(tmp_path / "notes.txt")
    assert not is_checkpoint(tmp_path / "nowhere")
    assert list_checkpoints(tmp_path) == [tmp_path / "a-run", tmp_path / "b-run"]
    assert list_checkpoints(str(tmp_path)) == [tmp_path / "a-run", tmp_path / "b-run"]
    assert list_checkpoints(tmp_path / "nowhere") == []


def test_huge_config_is_refused_before_any_model_is_built(tmp_path, monkeypatch):
    """A config asking for ngf = ndf = 1024 at 64 px (~2 G parameters, 9 GB) beside small weights:
    refused from config.json and the safetensors header, with models built only on the meta device."""
    import gan_demo.families.nets

    cfg = dcgan_cfg()
    save_checkpoint(tmp_path, cfg, *make_nets(cfg))
    config = json.loads((tmp_path / "config.json").read_text())
    config["data"]["img_size"] = config["model"]["img_size"] = 64
    config["model"]["ngf"] = config["model"]["ndf"] = 1024
    (tmp_path / "config.json").write_text(json.dumps(config))

    built_on = []
    real_build = gan_demo.families.nets.build_models

    def build_on_meta_only(m):
        built_on.append(torch.get_default_device().type)
        if built_on[-1] != "meta":  # refuse before allocating: the real thing would take 9 GB
            raise AssertionError(f"models built on {built_on[-1]} before the weights were checked")
        return real_build(m)

    import gan_demo.families.gan

    monkeypatch.setattr(gan_demo.families.nets, "build_models", build_on_meta_only)
    monkeypatch.setattr(gan_demo.families.gan, "build_models", build_on_meta_only)  # the GAN family's own name for it
    assert_one_line_error(lambda: load_checkpoint(tmp_path, "cpu"), "size mismatch for G.net.0.weight")
    assert built_on == ["meta"]
