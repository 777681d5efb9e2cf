"""Generators to explore: pretrained runs, each session's live run, uploaded run folders (zip)."""
from __future__ import annotations

import secrets
import shutil
import threading
import zipfile
from pathlib import Path

from ..checkpoint import CheckpointError, check_checkpoint, list_checkpoints
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
        self._pretrained: tuple[int, list[str]] | None = None  # (folder mtime, names)

    # ------------------------------------------------------------ listing
    def pretrained(self) -> list[str]:
        """The pretrained runs, listed again only when the folder changes (one stat per call: sliders ask often)."""
        try:
            stamp = self.pretrained_root.stat().st_mtime_ns
        except OSError:
            return []
        if self._pretrained is None or self._pretrained[0] != stamp:
            self._pretrained = (stamp, [p.name for p in list_checkpoints(self.pretrained_root)])
        return list(self._pretrained[1])

    def _upload_dir(self, session: Session) -> Path:
        """This session's uploads: named by the server's token for the session, never by the client's hash."""
        return self.upload_root / session.token

    def uploads(self, session: Session | None) -> list[str]:
        """The run zips this session uploaded (uploads are private to the session that sent them)."""
        if session is None:
            return []
        return [p.name for p in list_checkpoints(self._upload_dir(session))]

    def choices(self, session: Session | None = None) -> list[str]:
        names = self.pretrained()
        if session is not None and session.trainer is not None:
            names.append(CURRENT_RUN)
        return names + self.uploads(session)

    # ------------------------------------------------------------ lookup
    def sampler(self, name: str, session: Session | None = None) -> Sampler:
        """The Sampler for a checkpoint name; raises KeyError with a readable message.

        A name is looked up among the names listed (a folder is never built from it): a pretrained
        run, this session's uploads, or this session's own run ("current run" or its run id).
        """
        name = (name or "").strip()
        if name == CURRENT_RUN or name.startswith("run-"):
            own = session is not None and session.trainer is not None and name in (CURRENT_RUN, session.run_id)
            if not own:
                raise KeyError(f"no run named {name!r} in this session: start a training run first")
            return self._live_sampler(session)
        if name in self.pretrained():
            key, folder = name, self.pretrained_root / name
        elif name in self.uploads(session):
            key, folder = f"{session.token}/{name}", self._upload_dir(session) / name
        else:
            known = ", ".join(self.pretrained() + self.uploads(session)) or "none"
            raise KeyError(f"no checkpoint named {name!r} (known: {known}, or a run id)")
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        sampler = Sampler.from_checkpoint(folder, self.device)
        with self._lock:
            self._cache[key] = sampler
        return sampler

    def forget(self, session: Session) -> None:
        """A session ended: drop its uploads (files and cached samplers) and its live run's sampler."""
        with self._lock:
            for key in [k for k in self._cache if k.startswith(session.token + "/")]:
                del self._cache[key]
            trainer = session.trainer
            if trainer is not None:
                self._live.pop(id(trainer), None)
        shutil.rmtree(self._upload_dir(session), ignore_errors=True)

    def _live_sampler(self, session: Session) -> Sampler:
        trainer = session.trainer
        with self._lock:
            sampler = self._live.get(id(trainer))
            if sampler is None or sampler.decoder is not trainer.family.decoder_net():
                sampler = Sampler.from_trainer(trainer, name=session.run_id or CURRENT_RUN)
                self._live = {id(trainer): sampler, **{k: v for k, v in self._live.items() if k != id(trainer)}}
                while len(self._live) > 16:
                    self._live.pop(next(iter(self._live)))
            return sampler

    # ------------------------------------------------------------ uploads
    def add_upload(self, zip_path: str | Path, session: Session) -> str:
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
            name = "upload-" + secrets.token_hex(8)
            folder = self._upload_dir(session) / name
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
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._cache[f"{session.token}/{name}"] = sampler
        return name
