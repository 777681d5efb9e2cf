"""Checkpoints: model.safetensors + config.json (+ state.pt with optimizer state), saved atomically, loaded without pickle."""
from __future__ import annotations

import json
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as safetensors_bytes
from torch import nn

from gan_demo.core.config import FORMAT_VERSION, ConfigError, RunConfig
from gan_demo.core.files import write_atomic
from gan_demo.core.step_utils import copied_state

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or loaded; the message is one line for users."""

    def __init__(self, message: str):
        super().__init__(_one_line(message))


@dataclass
class Checkpoint:
    cfg: RunConfig  # the run's resolved config (rebuilds the models without the data); cfg.family names the family
    networks: dict[str, nn.Module]  # the family's networks by name (a GAN: G, G_ema, D; a VAE: encoder, decoder), eval mode
    step: int  # steps taken when saved
    opt_state: dict | None  # optimizer name -> state dict on CPU (a GAN: opt_G, opt_D; a VAE: opt), or None
    dataset_info: dict  # n_classes, class_names, modes ([[x, y], ...] or None), sigma, kind
    path: Path  # the run folder

    def sampling_nets(self) -> tuple[nn.Module, nn.Module | None]:
        """(decoder, critic or None): what gan_demo.explore.sampler.Sampler draws and scores with."""
        from gan_demo.families import FAMILIES

        return FAMILIES[self.cfg.family].sampling_nets(self.cfg, self.networks)


# ------------------------------------------------------------------ saving
def save_networks(
    run_dir: str | Path,
    cfg: RunConfig,
    networks: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer | None] | None = None,
    step: int | None = None,
    dataset_info: dict | None = None,
) -> Path:
    """Write run_dir/{model.safetensors, config.json, state.pt} for any family; returns run_dir.

    networks: name -> module, saved under "<name>." keys; optimizers: name -> optimizer (None ones
    are left out). cfg must be resolved (RunConfig.resolved) so load_checkpoint can rebuild the models alone.
    step defaults to cfg.step. state.pt is written only when an optimizer is given; a stale
    one from an earlier save into the same folder is removed so it can never be mistaken
    for this run's state. Each file goes to a temp file in run_dir and is renamed into place.
    """
    run_dir = Path(run_dir)
    if cfg.model.arch == "auto" or cfg.model.z_dim is None:
        raise CheckpointError("save_networks needs a resolved config (call cfg.resolved() first)")
    step = int(cfg.step if step is None else step)
    run_dir.mkdir(parents=True, exist_ok=True)

    tensors = {}
    for prefix, module in networks.items():
        tensors.update(_state_tensors(prefix, module))
    config = cfg.to_dict()
    config["step"] = step
    config["format_version"] = FORMAT_VERSION
    config["dataset_info"] = _normalise_dataset_info(dataset_info, cfg)
    config_text = json.dumps(config, indent=2) + "\n"  # fails here, before any file is touched

    # Optimizer state first and config.json last: a folder only looks like a checkpoint
    # (is_checkpoint) once its config is there.
    state_path = run_dir / STATE_FILE
    optimizers = {name: opt for name, opt in (optimizers or {}).items() if opt is not None}
    if optimizers:
        state = {"step": step, **{name: copied_state(opt.state_dict()) for name, opt in optimizers.items()}}
        write_atomic(state_path, lambda f: torch.save(state, f))
    elif state_path.exists():
        state_path.unlink()
    weights = safetensors_bytes(tensors, metadata={"format": "pt"})
    write_atomic(run_dir / WEIGHTS_FILE, lambda f: f.write(weights))
    write_atomic(run_dir / CONFIG_FILE, lambda f: f.write(config_text.encode("utf-8")))
    _fsync_dir(run_dir)
    return run_dir


def dataset_info_of(dataset) -> dict:
    """The dataset_info dict for save_networks from a gan_demo.data.datasets.Dataset (or anything with its fields)."""
    modes = getattr(dataset, "modes", None)
    return {
        "n_classes": int(getattr(dataset, "n_classes", 0) or 0),
        "class_names": list(getattr(dataset, "class_names", None) or []),
        "modes": None if modes is None else torch.as_tensor(modes).tolist(),
        "sigma": getattr(dataset, "sigma", None),
        "kind": getattr(dataset, "kind", None),
    }


def _state_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """"<prefix>.<name>" -> contiguous CPU copy, for every parameter and buffer.

    torch.compile wraps a module in one whose state_dict keys start with "_orig_mod.";
    save the unwrapped module (nanoGPT's bug to avoid). Every tensor is cloned, so tied
    weights (or G_ema being G itself when EMA is off) do not share storage, which
    safetensors refuses.
    """
    module = getattr(module, "_orig_mod", module)
    out = {}
    for name, tensor in module.state_dict().items():
        name = _strip_orig_mod(name)
        out[f"{prefix}.{name}"] = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    return out


def _strip_orig_mod(name: str) -> str:
    """Drop "_orig_mod" segments a compiled submodule adds to a key."""
    return ".".join(part for part in name.split(".") if part != "_orig_mod")


def _normalise_dataset_info(info: dict | None, cfg: RunConfig) -> dict:
    """Fill the fields a loader relies on; modes become [[x, y], ...] lists for JSON."""
    info = dict(info or {})
    modes = info.get("modes")
    if modes is not None:
        modes = torch.as_tensor(modes, dtype=torch.float32).reshape(-1, 2).tolist()
    sigma = info.get("sigma")
    info.update(
        n_classes=int(info.get("n_classes", cfg.model.n_classes) or 0),
        class_names=[str(c) for c in (info.get("class_names") or [])],
        modes=modes,
        sigma=None if sigma is None else float(sigma),
        kind=info.get("kind") or cfg.kind,
    )
    return info


def _fsync_dir(path: Path) -> None:
    """Make the renames durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------- loading
def load_checkpoint(run_dir: str | Path, device: str | torch.device = "cpu",
                    with_optimizer_state: bool = True) -> Checkpoint:
    """Rebuild a run's networks (its family's: a GAN's G, G_ema and D, a VAE's encoder and decoder) from a
    run folder; configs without a family are GANs. Nothing but plain tensors is ever unpickled."""
    run_dir = Path(run_dir)
    device = torch.device(device)
    if not run_dir.is_dir():
        raise CheckpointError(f"not a gan_demo checkpoint: {run_dir} is not a folder")
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"not a gan_demo checkpoint: {run_dir} has no {name}")

    config, cfg = check_checkpoint(run_dir)  # nothing is allocated before the shapes agree
    from gan_demo.families import FAMILIES

    family = FAMILIES[cfg.family]
    weights = _read_weights(run_dir / WEIGHTS_FILE)
    nets = family.empty_networks(cfg)  # weights initialised under a forked RNG: the caller's stays as it was
    for prefix, net in nets.items():
        part = {name[len(prefix) + 1:]: t for name, t in weights.items() if name.split(".", 1)[0] == prefix}
        try:
            net.load_state_dict(part, strict=True)
        except RuntimeError as e:  # whatever the key/shape check above did not foresee
            detail = [line.strip() for line in str(e).splitlines() if line.strip()]
            raise CheckpointError(f"checkpoint does not match its config: {prefix}: {detail[-1] if detail else e}") from None
        net.to(device).eval()

    opt_state = None
    if with_optimizer_state and (run_dir / STATE_FILE).is_file():
        opt_state = _read_state(run_dir / STATE_FILE, cfg.step, family.optimizer_names)

    info = config.get("dataset_info")
    dataset_info = _normalise_dataset_info(info if isinstance(info, dict) else None, cfg)
    return Checkpoint(cfg=cfg, networks=nets, step=cfg.step, opt_state=opt_state, dataset_info=dataset_info,
                      path=run_dir)


def check_checkpoint(run_dir: str | Path, check_config=None) -> tuple[dict, RunConfig]:
    """(config.json as a dict, its RunConfig) once the weights file's header agrees with the config.

    Reads config.json and only the safetensors header (names and shapes); the expected shapes come
    from models built on the meta device. So a small upload whose config asks for a huge model is
    refused in milliseconds, before a single weight is allocated. check_config(cfg), when given, runs
    first (a web server's size limits, say) and raises to refuse.
    """
    run_dir = Path(run_dir)
    config, cfg = _read_config(run_dir / CONFIG_FILE)
    if check_config is not None:
        check_config(cfg)
    from gan_demo.families import FAMILIES

    prefixes = tuple(FAMILIES[cfg.family].network_names)
    _check_weights_match(expected_shapes(cfg), _header_shapes(run_dir / WEIGHTS_FILE, prefixes))
    return config, cfg


def expected_shapes(cfg: RunConfig) -> dict[str, tuple[int, ...]]:
    """"<prefix>.<name>" -> shape of every tensor the config's family saves (GAN: G, G_ema, D; VAE: its nets).

    The networks are built on the meta device: shapes without storage, whatever their size.
    """
    from gan_demo.families import FAMILIES

    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        nets = FAMILIES[cfg.family].empty_networks(cfg)
    return {f"{prefix}.{name}": tuple(t.shape) for prefix, net in nets.items() for name, t in net.state_dict().items()}


def _header_shapes(path: Path, prefixes: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """"<prefix>.<name>" -> shape from the safetensors header alone (no tensor data is read)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            shapes = {_strip_orig_mod(name): tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as e:  # safetensors raises its own error type for bad headers and truncation
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({type(e).__name__}: {e})") from None
    for name in shapes:
        if name.split(".", 1)[0] not in prefixes or "." not in name:
            raise CheckpointError(f"checkpoint does not match its config: unexpected key {name} "
                                  f"(keys start with {', '.join(p + '.' for p in prefixes)})")
    return shapes


def _read_config(path: Path) -> tuple[dict, RunConfig]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{_shown(path)} is not valid JSON: {_reason(e)}") from None
    try:
        cfg = RunConfig.from_dict(config)
        m = cfg.model  # a saved config is resolved already (no change); a hand-written one gets what it left out
        cfg = cfg.resolved(channels=m.channels, n_classes=m.n_classes, data_dim=m.data_dim)
        cfg.validate()
    except (ConfigError, TypeError, ValueError) as e:  # TypeError: a field of the wrong JSON type
        raise CheckpointError(f"{_shown(path)} is not a valid gan_demo config: {e}") from None
    return config, cfg


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of model.safetensors on the CPU (call check_checkpoint first: it bounds their sizes)."""
    try:
        weights = load_safetensors(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error type for bad headers and truncation
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({type(e).__name__}: {e})") from None
    return {_strip_orig_mod(name): t for name, t in weights.items()}  # keys checked by _header_shapes


def _check_weights_match(expected: dict[str, tuple], found: dict[str, tuple]) -> None:
    """Raise on the first missing, unexpected or wrongly shaped tensor (the common case: another architecture)."""
    problems = []
    for key, shape in expected.items():
        if key not in found:
            problems.append(f"{key} is missing")
        elif tuple(found[key]) != shape:
            problems.append(f"size mismatch for {key}: the checkpoint has {list(found[key])}, "
                            f"the config builds {list(shape)}")
    problems += [f"unexpected key {key}" for key in found if key not in expected]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(f"checkpoint does not match its config: {problems[0]}{more}")


def _read_state(path: Path, step: int, names: tuple[str, ...] = ("opt_G", "opt_D")) -> dict | None:
    """Optimizer state from state.pt, loaded with weights_only=True: a pickled object is refused, never run."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"not a gan_demo checkpoint: {_shown(path)} holds a pickled object (refused; only plain tensors are loaded)") from None
    except Exception as e:  # truncated or not a torch file at all
        raise CheckpointError(f"{_shown(path)} is not a readable optimizer state ({type(e).__name__}: {_reason(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(state.get(k, {}), dict) for k in names):
        raise CheckpointError(f"{_shown(path)} is not a gan_demo optimizer state (expected {', '.join(names)} and step)")
    saved_step = state.get("step", step)
    if saved_step != step:
        # An interrupted save wrote state.pt but not config.json: this state belongs to other weights.
        warnings.warn(f"{path} is from step {saved_step} but config.json from step {step}; optimizer state ignored",
                      stacklevel=3)
        return None
    return {k: state[k] for k in names if k in state}


# ----------------------------------------------------------------- finding
def is_checkpoint(path: str | Path) -> bool:
    """True for a folder holding config.json and model.safetensors."""
    path = Path(path)
    try:
        return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()
    except OSError:
        return False


def list_checkpoints(root: str | Path) -> list[Path]:
    """Run folders directly under root, sorted by name ([] when root does not exist)."""
    root = Path(root)
    try:
        children = list(root.iterdir())
    except OSError:
        return []
    return sorted((p for p in children if is_checkpoint(p)), key=lambda p: p.name)


def _shown(path: Path) -> str:
    """A file as messages name it: run folder and file name, never the path above (an upload's is a server temp folder)."""
    return f"{path.parent.name}/{path.name}"


def _reason(e: BaseException) -> str:
    """What went wrong, without the file name an OSError carries (the message names the file itself)."""
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def _one_line(text: str, limit: int = 400) -> str:
    """Collapse a message to one short line (errors from torch and safetensors can span many)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
