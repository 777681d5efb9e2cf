"""Generators to explore: pretrained runs, each session's live run, uploaded run folders (zip)."""
from __future__ import annotations

import secrets
import threading
import zipfile
from pathlib import Path

from ..checkpoint import CheckpointError, check_checkpoint, is_checkpoint, list_checkpoints
from ..config import ConfigError
from ..sampler import Sampler
from .limits import check_model_limits
from .sessions import Session, SessionRegistry
from .tempdirs import temp_dir

CURRENT_RUN = "current run"
MAX_UPLOAD_BYTES = 200 * 2**20  # uncompressed size of an uploaded run folder
RUN_FILES = ("config.json", "model.safetensors")  # all that a run needs to be explored


class Catalog:
    """Looks up a Sampler by name: a pretrained folder, 'current run', a run id or an upload."""

    def __init__(self, pretrained_root: str | Path, registry: SessionRegistry, device, upload_root: str | Path | None = None):
        self.pretrained_root = Path(pretrained_root)
        self.registry = registry
        self.device = device
        self.upload_root = Path(upload_root or temp_dir("gan_demo_uploads_"))
        self._cache: dict[str, Sampler] = {}
        self._live: dict[int, Sampler] = {}  # id(trainer) -> sampler over its live weights
        self._lock = threading.Lock()

    # ------------------------------------------------------------ listing
    def pretrained(self) -> list[str]:
        return [p.name for p in list_checkpoints(self.pretrained_root)]

    def uploads(self) -> list[str]:
        return [p.name for p in list_checkpoints(self.upload_root)]

    def choices(self, session: Session | None = None) -> list[str]:
        names = self.pretrained()
        if session is not None and session.trainer is not None:
            names.append(CURRENT_RUN)
        return names + self.uploads()

    # ------------------------------------------------------------ lookup
    def sampler(self, name: str, session: Session | None = None) -> Sampler:
        """The Sampler for a checkpoint name; raises KeyError with a readable message."""
        name = (name or "").strip()
        if name == CURRENT_RUN or name.startswith("run-"):
            owner = session if name == CURRENT_RUN else self.registry.by_run_id(name)
            if owner is None or owner.trainer is None:
                raise KeyError(f"no run named {name!r}: start a training run first")
            return self._live_sampler(owner)
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        for root in (self.pretrained_root, self.upload_root):
            folder = root / name
            if name and "/" not in name and ".." not in name and is_checkpoint(folder):
                sampler = Sampler.from_checkpoint(folder, self.device)
                with self._lock:
                    self._cache[name] = sampler
                return sampler
        known = ", ".join(self.pretrained() + self.uploads()) or "none"
        raise KeyError(f"no checkpoint named {name!r} (known: {known}, or a run id)")

    def _live_sampler(self, session: Session) -> Sampler:
        trainer = session.trainer
        with self._lock:
            sampler = self._live.get(id(trainer))
            if sampler is None or sampler.G is not trainer.G_ema:
                sampler = Sampler.from_trainer(trainer, name=session.run_id or CURRENT_RUN)
                self._live = {id(trainer): sampler, **{k: v for k, v in self._live.items() if k != id(trainer)}}
                while len(self._live) > 16:
                    self._live.pop(next(iter(self._live)))
            return sampler

    # ------------------------------------------------------------ uploads
    def add_upload(self, zip_path: str | Path) -> str:
        """Take a zipped run folder; only config.json and model.safetensors are read, in memory.

        Nothing is extracted by its stored name. The config is checked against the web limits and
        the weights' header against the config before any network is built; then the files are
        validated by loading them (which never unpickles anything). Returns the new checkpoint's name.
        """
        try:
            zf = zipfile.ZipFile(zip_path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(f"not a zip file: {exc}") from None
        with zf:
            members = {}
            for info in zf.infolist():
                base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if base in RUN_FILES and not info.is_dir():
                    if info.file_size > MAX_UPLOAD_BYTES:
                        raise CheckpointError(f"{base} is too large ({info.file_size // 2**20} MiB)")
                    members[base] = info
            missing = [f for f in RUN_FILES if f not in members]
            if missing:
                raise CheckpointError(f"the zip holds no {' or '.join(missing)}: zip a run folder made by gan_demo")
            name = "upload-" + secrets.token_hex(3)
            folder = self.upload_root / name
            folder.mkdir(parents=True)
            for base, info in members.items():
                with zf.open(info) as src:
                    data = src.read(MAX_UPLOAD_BYTES + 1)
                if len(data) > MAX_UPLOAD_BYTES:
                    raise CheckpointError(f"{base} is too large")
                (folder / base).write_bytes(data)
        try:
            try:
                check_checkpoint(folder, check_config=check_model_limits)
            except ConfigError as exc:
                raise CheckpointError(f"this run is bigger than the web app explores: {exc}") from None
            sampler = Sampler.from_checkpoint(folder, self.device)
        except CheckpointError:
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
            raise
        with self._lock:
            self._cache[name] = sampler
        return name
