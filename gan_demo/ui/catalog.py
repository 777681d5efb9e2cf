"""Generators to explore: pretrained runs, each session's live runs, uploaded run folders and comparisons (zip)."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import shutil
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from gan_demo.training.checkpoint import CheckpointError, check_checkpoint, list_checkpoints
from gan_demo.training.compare import COMPARISON_FILE, FORMAT_VERSION, LABELS
from gan_demo.core.config import MAX_SCHEDULE, ConfigError, section_of
from gan_demo.families import FAMILIES
from gan_demo.explore.sampler import Sampler
from gan_demo.training.trainer import STATES, QualityRecord
from gan_demo.ui.limits import check_model_limits
from gan_demo.ui.sessions import Session, SessionRegistry, release_memory
from gan_demo.ui.tempdirs import temp_dir

CURRENT_RUN = "current run"
PAIR_RUNS = {"A": "comparison A", "B": "comparison B"}  # a live comparison's runs in the checkpoint lists
MAX_UPLOAD_BYTES = 200 * 2**20  # uncompressed size of an uploaded run folder (a comparison's two runs together)
RUN_FILES = ("config.json", "model.safetensors")  # all that a run needs to be explored
MAX_SUMMARY_BYTES = 8 * 2**20  # a comparison.json (two runs' curves of at most MAX_CURVE_POINTS points)
MAX_CURVE_POINTS = 5_000  # points per curve of a reopened comparison (a run's History keeps 2,000)
MAX_TEXT = 200  # characters of a setting's value in a reopened comparison's differences
# Uploaded runs live on disk and, once loaded, in memory (their weights): bounded per session and in total.
# A session past its bounds loses its oldest upload (with a message); the server past its own refuses.
MAX_SESSION_RUNS = 4  # uploaded runs a session keeps (a comparison's A and B count two)
MAX_SESSION_BYTES = 256 * 2**20  # their files together (at least MAX_UPLOAD_BYTES: one largest upload fits)
MAX_TOTAL_RUNS = 32  # uploaded runs held for all sessions together
MAX_TOTAL_BYTES = 1024 * 2**20  # their files together

log = logging.getLogger(__name__)


@dataclass
class Upload:
    """One upload a session holds: a run, or a comparison's two runs, kept (and evicted) together."""

    names: tuple[str, ...]  # its checkpoint names (server-made)
    nbytes: int  # its files' bytes on disk (about what its weights take in memory once loaded)
    digest: str  # sha256 of the zip as sent: the same file sent again is this upload
    summary: dict | None = None  # a comparison's checked comparison.json


def is_live(name) -> bool:
    """Whether a checkpoint name is one of a session's live runs: its run, a comparison's A or B, or a run id."""
    name = str(name or "").strip()
    return name == CURRENT_RUN or name in PAIR_RUNS.values() or name.startswith("run-")


class Catalog:
    """Looks up a Sampler by name: a pretrained folder, a live run ('current run', 'comparison A', a run id)
    or an upload."""

    def __init__(self, pretrained_root: str | Path, registry: SessionRegistry, device, upload_root: str | Path | None = None):
        self.pretrained_root = Path(pretrained_root)
        self.registry = registry
        self.device = device
        self.upload_root = Path(upload_root or temp_dir("gan_demo_uploads_"))
        self._cache: dict[str, Sampler] = {}
        self._live: dict[int, Sampler] = {}  # id(trainer) -> sampler over its live weights
        self._lock = threading.Lock()
        self._pretrained: tuple[int, list[str]] | None = None  # (folder mtime, names)
        self._held: dict[str, OrderedDict[str, Upload]] = {}  # session token -> its uploads by digest, oldest first
        self._adding = threading.Lock()  # one upload is read and loaded at a time: its bytes pass through memory

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

    @staticmethod
    def live_runs(session: Session | None) -> dict:
        """This session's live runs by their listed name: {name: (run id, Trainer)} ("current run",
        "comparison A", "comparison B"), only those that exist."""
        if session is None:
            return {}
        out = {}
        trainer, run_id = session.trainer, session.run_id
        if trainer is not None:
            out[CURRENT_RUN] = (run_id, trainer)
        pair, pair_ids = session.pair, dict(session.pair_ids)
        if pair is not None:
            for label, name in PAIR_RUNS.items():
                out[name] = (pair_ids.get(label), pair.runs[label])
        return out

    def choices(self, session: Session | None = None) -> list[str]:
        return self.pretrained() + list(self.live_runs(session)) + self.uploads(session)

    # ------------------------------------------------------------ lookup
    def sampler(self, name: str, session: Session | None = None) -> Sampler:
        """The Sampler for a checkpoint name; raises KeyError with a readable message.

        A name is looked up among the names listed (a folder is never built from it): a pretrained
        run, this session's uploads, or one of this session's own live runs ("current run",
        "comparison A" or "comparison B", or its run id).
        """
        name = (name or "").strip()
        if is_live(name):
            found = next(((run_id, trainer) for listed, (run_id, trainer) in self.live_runs(session).items()
                          if name in (listed, run_id)), None)
            if found is None:
                raise KeyError(f"no run named {name!r} in this session: start a training run first")
            run_id, trainer = found
            return self._live_sampler(trainer, run_id or name)
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
        """A session ended: drop its uploads (files and cached samplers) and its live runs' samplers."""
        with self._lock:
            self._held.pop(session.token, None)
            for key in [k for k in self._cache if k.startswith(session.token + "/")]:
                del self._cache[key]
            for _, trainer in self.live_runs(session).values():
                self._live.pop(id(trainer), None)
        shutil.rmtree(self._upload_dir(session), ignore_errors=True)

    def _live_sampler(self, trainer, name: str) -> Sampler:
        """A sampler over a live trainer's weights (made again when its networks were rebuilt)."""
        with self._lock:
            sampler = self._live.get(id(trainer))
            if sampler is None or sampler.decoder is not trainer.family.decoder_net():
                sampler = Sampler.from_trainer(trainer, name=name)
                self._live = {id(trainer): sampler, **{k: v for k, v in self._live.items() if k != id(trainer)}}
                while len(self._live) > 16:
                    self._live.pop(next(iter(self._live)))
            return sampler

    # ------------------------------------------------------------ uploads
    def add_upload(self, zip_path: str | Path, session: Session, notes: list | None = None) -> str:
        """Take a zipped run folder; only config.json and model.safetensors are read, in memory.

        Nothing is extracted by its stored name. The config is checked against the web limits and
        the weights' header against the config before any network is built; then the files are
        validated by loading them (which never unpickles anything). Returns the new checkpoint's name.
        The same zip sent again returns the name it got the first time; notes (a list) gets a sentence
        for that and for each older upload evicted to keep the session within its bounds.
        """
        notes = [] if notes is None else notes
        digest = _sha256(zip_path)
        with self._adding:
            kept = self._same_upload(session, digest, notes)
            if kept is not None:
                return kept.names[0]
            files = self._read_run(zip_path)
            name = "upload-" + secrets.token_hex(8)
            self._install(session, {name: files}, upload=Upload((name,), _size(files), digest), notes=notes)
        return name

    def _read_run(self, zip_path) -> dict[str, bytes]:
        with _open_zip(zip_path) as zf:
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
            return {base: _read_member(zf, info, MAX_UPLOAD_BYTES) for base, info in members.items()}

    def add_comparison(self, zip_path: str | Path, session: Session, notes: list | None = None) -> dict:
        """Take a zipped saved comparison (Comparison.save's folder: A/, B/ and comparison.json, with or
        without the folder around them): {"A": checkpoint name, "B": checkpoint name, "summary": ...}.

        As add_upload: only A's and B's config.json and model.safetensors and the comparison.json are
        read, in memory, never extracted by their stored names; each run is checked against the web
        limits and its weights' header before any network is built. comparison.json is size-limited,
        parsed as JSON and rebuilt from its checked parts only (checked_summary). The two runs are saved
        under server-made names in words ("saved comparison A", "saved comparison B", then "saved comparison 2
        A", ...) and listed as this session's uploads; the two count as two of the session's uploaded runs. The
        same zip sent again is not loaded twice.
        """
        notes = [] if notes is None else notes
        digest = _sha256(zip_path)
        with self._adding:
            kept = self._same_upload(session, digest, notes)
            if kept is not None:
                return {**dict(zip(LABELS, kept.names)), "summary": kept.summary}
            summary, files = self._read_comparison(zip_path)
            names = self._comparison_names(session)
            upload = Upload(tuple(names.values()), sum(_size(f) for f in files.values()), digest, summary)
            self._install(session, {names[label]: files[label] for label in LABELS},
                          families={names[label]: summary["runs"][label]["family"] for label in LABELS},
                          upload=upload, notes=notes)
        return {**names, "summary": summary}

    def _read_comparison(self, zip_path) -> tuple[dict, dict[str, dict[str, bytes]]]:
        with _open_zip(zip_path) as zf:
            members = _comparison_members(zf)
            summary_info = members.pop(COMPARISON_FILE)
            if summary_info.file_size > MAX_SUMMARY_BYTES:
                raise CheckpointError(f"{COMPARISON_FILE} is too large ({summary_info.file_size:,} bytes; "
                                      f"at most {MAX_SUMMARY_BYTES:,})")
            declared = sum(info.file_size for info in members.values())
            if declared > MAX_UPLOAD_BYTES:
                raise CheckpointError(f"the two runs are too large ({declared // 2**20} MiB; "
                                      f"at most {MAX_UPLOAD_BYTES // 2**20} MiB)")
            summary = checked_summary(_parse_json(_read_member(zf, summary_info, MAX_SUMMARY_BYTES)))
            budget, files = MAX_UPLOAD_BYTES, {label: {} for label in LABELS}
            for key, info in members.items():  # sizes as read, not as the zip declares them
                label, base = key.split("/")
                files[label][base] = data = _read_member(zf, info, budget, "the two runs' files", MAX_UPLOAD_BYTES)
                budget -= len(data)
        return summary, files

    def _comparison_names(self, session: Session) -> dict[str, str]:
        """Words for a reopened comparison's runs: "saved comparison A" and "... B", then "saved comparison 2 A",
        ... (made by the server; a session's uploads are its own, so the names need not be unguessable)."""
        taken = set(self.uploads(session))
        for n in range(1, 1000):
            base = "saved comparison" if n == 1 else f"saved comparison {n}"
            names = {label: f"{base} {label}" for label in LABELS}
            if not taken & set(names.values()):
                return names
        raise CheckpointError("this session has opened too many comparisons: reload the page to start afresh")

    # ------------------------------------------------------------ upload bounds
    def _same_upload(self, session: Session, digest: str, notes: list) -> Upload | None:
        """This session's upload of the same zip, if it still holds it (then it becomes the newest)."""
        with self._lock:
            held = self._held.get(session.token, OrderedDict())
            kept = held.get(digest)
            if kept is None or not all((self._upload_dir(session) / n).is_dir() for n in kept.names):
                return None
            held.move_to_end(digest)
        notes.append(f"You uploaded this file before: it is {' and '.join(kept.names)}, loaded once.")
        return kept

    def _make_room(self, session: Session, upload: Upload, notes: list) -> None:
        """Evict this session's oldest uploads until the new one fits its bounds, or raise CheckpointError
        (saying the limit) when the server's bounds for all sessions would not hold it."""
        mib = 2**20
        with self._lock:
            held = self._held.setdefault(session.token, OrderedDict())
            runs, nbytes = sum(len(u.names) for u in held.values()), sum(u.nbytes for u in held.values())
            victims = []
            for old in held.values():
                if runs + len(upload.names) <= MAX_SESSION_RUNS and nbytes + upload.nbytes <= MAX_SESSION_BYTES:
                    break
                victims.append(old)
                runs, nbytes = runs - len(old.names), nbytes - old.nbytes
            if runs + len(upload.names) > MAX_SESSION_RUNS or nbytes + upload.nbytes > MAX_SESSION_BYTES:
                raise CheckpointError(f"this upload is too large for one visitor: {upload.nbytes / mib:,.0f} MiB "
                                      f"in {len(upload.names)} runs (at most {MAX_SESSION_RUNS} runs and "
                                      f"{MAX_SESSION_BYTES // mib:,} MiB)")
            all_runs = sum(len(u.names) for h in self._held.values() for u in h.values())
            all_bytes = sum(u.nbytes for h in self._held.values() for u in h.values())
            freed_runs, freed_bytes = sum(len(v.names) for v in victims), sum(v.nbytes for v in victims)
            if (all_runs - freed_runs + len(upload.names) > MAX_TOTAL_RUNS
                    or all_bytes - freed_bytes + upload.nbytes > MAX_TOTAL_BYTES):
                raise CheckpointError(f"the server holds as many uploaded runs as it can for all visitors "
                                      f"({all_runs} runs, {all_bytes / mib:,.0f} MiB; at most {MAX_TOTAL_RUNS} "
                                      f"runs and {MAX_TOTAL_BYTES // mib:,} MiB): try again when other "
                                      "visitors' sessions have ended")
            for old in victims:
                del held[old.digest]
            held[upload.digest] = upload  # reserved before its files are written: racing uploads see it
        for old in victims:
            self._remove(session, old.names)
            notes.append(f"Removed your oldest upload ({', '.join(old.names)}) to make room: a visitor keeps at "
                         f"most {MAX_SESSION_RUNS} uploaded runs and {MAX_SESSION_BYTES // mib:,} MiB.")
            log.info("evicted upload %s of session %s", ", ".join(old.names), session.token)
        if victims:
            release_memory()  # their weights go back to the system before the new ones load

    def _install(self, session: Session, runs: dict[str, dict[str, bytes]], families: dict | None = None,
                 upload: Upload | None = None, notes: list | None = None) -> None:
        """Write each run's files to a new folder named by the server, check them (and, when given, that
        each run is of the family a comparison.json says), then load them. If any run is refused, none is kept.
        upload: its place in the session's bounds, made first (older uploads may be evicted)."""
        if upload is not None:
            self._make_room(session, upload, [] if notes is None else notes)
        try:
            for name, files in runs.items():
                folder = self._upload_dir(session) / name
                folder.mkdir(parents=True)
                for base in RUN_FILES:
                    (folder / base).write_bytes(files[base])
            for name in runs:
                try:
                    _, cfg = check_checkpoint(self._upload_dir(session) / name, check_config=check_model_limits)
                except ConfigError as exc:
                    which = f"run {name.rsplit(' ', 1)[-1]} " if families else "this run "
                    raise CheckpointError(f"{which}is bigger than the web app explores: {exc}") from None
                except RecursionError:  # a config.json nested too deeply for the JSON parser
                    raise CheckpointError("config.json is nested too deeply: not a gan_demo config") from None
                if families and families[name] != cfg.family:
                    label = name.rsplit(" ", 1)[-1]  # "saved comparison B" -> B
                    raise CheckpointError(f"{COMPARISON_FILE} says run {label} is a {families[name]}, but its "
                                          f"config.json says {cfg.family}")
            samplers = {name: Sampler.from_checkpoint(self._upload_dir(session) / name, self.device) for name in runs}
        except BaseException:
            self._remove(session, runs)
            if upload is not None:
                with self._lock:
                    self._held.get(session.token, {}).pop(upload.digest, None)
            raise
        with self._lock:
            for name, sampler in samplers.items():
                self._cache[f"{session.token}/{name}"] = sampler

    def _remove(self, session: Session, names) -> None:
        with self._lock:
            for name in names:
                self._cache.pop(f"{session.token}/{name}", None)
        for name in names:
            shutil.rmtree(self._upload_dir(session) / name, ignore_errors=True)


def _sha256(path) -> str:
    """The file's sha256 (read in chunks; gradio caps an upload at 50 MB), or CheckpointError if unreadable."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise CheckpointError(f"cannot read the upload: {exc.strerror or 'unreadable'}") from None
    return digest.hexdigest()


def _size(files: dict[str, bytes]) -> int:
    return sum(len(data) for data in files.values())


# ---------------------------------------------------------------------- zip members
def _open_zip(zip_path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"not a zip file: {exc}") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str | None = None,
                 cap: int | None = None) -> bytes:
    """A member's bytes, at most `limit` of them whatever its header declares (a zip bomb stops there).
    what: the file as the error names it; cap: the limit it states (default `limit`)."""
    name = what or info.filename.replace("\\", "/").rsplit("/", 1)[-1]
    try:
        with zf.open(info) as src:
            data = src.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        # corrupt, encrypted, or compressed in a way zipfile cannot read
        raise CheckpointError(f"cannot read {name} from the zip: {exc}") from None
    if len(data) > limit:
        raise CheckpointError(f"{name}: too large (more than {(cap or limit) / 2**20:g} MiB unpacked)")
    return data


def holds_comparison(zip_path) -> bool:
    """Whether a zip holds a comparison.json (a saved comparison, not a single run); False if not a zip."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            return any(i.filename.replace("\\", "/").rsplit("/", 1)[-1] == COMPARISON_FILE for i in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return False


def _comparison_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """{"A/config.json": its ZipInfo, ..., "comparison.json": ...}: where Comparison.save puts them, either at
    the top of the zip or in one folder (shutil.make_archive's base_dir). Anything else is never read; a
    wanted file anywhere else (a "../A/config.json"), twice, or missing refuses the zip."""
    wanted = {f"{label}/{base}" for label in LABELS for base in RUN_FILES} | {COMPARISON_FILE}
    found, folders = {}, set()
    for info in zf.infolist():
        if info.is_dir():
            continue
        parts = info.filename.replace("\\", "/").split("/")
        key = next((k for k in ("/".join(parts[-2:]), parts[-1]) if k in wanted), None)
        if key is None:
            continue
        top = parts[:len(parts) - key.count("/") - 1]
        if len(top) > 1 or (top and top[0] in ("", ".", "..")) or ":" in "".join(top):
            raise CheckpointError(f"the zip has {info.filename[:100]!r} where a saved comparison keeps "
                                  f"{key} (at the top, or in one folder)")
        if key in found:
            raise CheckpointError(f"the zip holds {key} twice: zip one comparison saved by gan_demo")
        found[key] = info
        folders.add(tuple(top))
    missing = sorted(wanted - set(found))
    if missing:
        raise CheckpointError(f"the zip holds no {', '.join(missing)}: zip a comparison saved by gan_demo "
                              "(its folder with A/, B/ and comparison.json)")
    if len(folders) > 1:
        raise CheckpointError("the zip's files are in different folders: zip one comparison saved by gan_demo")
    return found


def _parse_json(data: bytes):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError; so are huge integers
        raise CheckpointError(f"{COMPARISON_FILE} is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise CheckpointError(f"{COMPARISON_FILE} is nested too deeply: not a saved comparison") from None


# ------------------------------------------------------------------- comparison.json
def _bad(what: str):
    raise CheckpointError(f"{COMPARISON_FILE}: {what}")


def _scalar(value, where: str):
    """A setting's value as shown: None, a bool, a finite number, or a short string."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and abs(value) < 1e300 and math.isfinite(value):  # abs() first: a
        return value  # 400-digit integer makes isfinite raise OverflowError
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    _bad(f"{where} must be a number, true/false, null or a text of at most {MAX_TEXT} characters")


def _checked_differences(diff) -> dict:
    """{setting: [A's value, B's value]} for known settings only."""
    if not isinstance(diff, dict):
        _bad("differences must be an object")
    known = set(section_of()) | {"schedule"}
    out = {}
    for name, pair in diff.items():
        if name not in known:
            _bad(f"differences: unknown setting {str(name)[:40]!r}")
        if not isinstance(pair, list) or len(pair) != 2:
            _bad(f"differences: {name} must be [A's value, B's value]")
        if name == "schedule":
            out[name] = [_checked_schedule(v, f"differences.schedule[{i}]") for i, v in enumerate(pair)]
        else:
            out[name] = [_scalar(v, f"differences.{name}[{i}]") for i, v in enumerate(pair)]
    return out


def _checked_schedule(schedule, where: str) -> list:
    known = set(section_of()) | {"step"}
    if not isinstance(schedule, list) or len(schedule) > MAX_SCHEDULE:
        _bad(f"{where} must be a list of at most {MAX_SCHEDULE} changes")
    out = []
    for entry in schedule:
        if not isinstance(entry, dict) or not set(entry) <= known:
            _bad(f"{where}: each change is an object of known settings")
        out.append({k: _scalar(v, f"{where}.{k}") for k, v in entry.items()})
    return out


def _checked_columns(columns, names: tuple[str, ...], where: str) -> dict:
    """{name: list of numbers (None where missing or not finite)} for the known names; all one length."""
    if not isinstance(columns, dict):
        _bad(f"{where} must be an object of lists")
    out = {}
    for name in names:
        if name not in columns:
            continue
        values = columns[name]
        if not isinstance(values, list) or len(values) > MAX_CURVE_POINTS:
            _bad(f"{where}.{name} must be a list of at most {MAX_CURVE_POINTS:,} numbers")
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            _bad(f"{where}.{name} must hold numbers only")
        if any(isinstance(v, int) and abs(v) >= 1e300 for v in values):  # float() of it would overflow
            _bad(f"{where}.{name} holds a number too large to plot")
        out[name] = [v if v is None or math.isfinite(v) else None for v in values]  # JSON has no NaN
    if "step" not in out:
        _bad(f"{where} has no step column")
    if len({len(v) for v in out.values()}) > 1:
        _bad(f"{where}'s columns differ in length")
    return out


def _checked_run(label: str, run) -> dict:
    where = f"runs.{label}"
    if not isinstance(run, dict):
        _bad(f"{where} must be an object")
    family = run.get("family", "gan")
    if family not in FAMILIES:
        _bad(f"{where}.family must be one of {', '.join(FAMILIES)}")
    series = run.get("series", list(FAMILIES[family].series))
    if (not isinstance(series, list) or not all(isinstance(s, str) and s in FAMILIES[family].series for s in series)
            or len(set(series)) != len(series)):
        _bad(f"{where}.series must name the {family} family's series ({', '.join(FAMILIES[family].series)})")
    step = run.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= 10**9:
        _bad(f"{where}.step must be a whole number of steps")
    state = run.get("state", "stopped")
    if state not in (*STATES, "stopping"):
        _bad(f"{where}.state must be one of {', '.join(STATES)}")
    quality_names = tuple(QualityRecord.__dataclass_fields__)
    return {"step": step, "state": state, "family": family, "series": series,
            "history": _checked_columns(run.get("history", {"step": []}), ("step", *series, "seconds"),
                                        f"{where}.history"),
            "quality_history": _checked_columns(run.get("quality_history", {"step": []}), quality_names,
                                                f"{where}.quality_history")}


def checked_summary(obj) -> dict:
    """A comparison.json's content rebuilt from its checked parts only: {"format_version", "differences":
    {setting: [A's, B's]}, "runs": {"A": {"step", "state", "family", "series", "history", "quality_history"},
    "B": ...}} with exactly runs A and B, curves of at most MAX_CURVE_POINTS numbers (None where a value
    was missing or not finite), known settings and series only; CheckpointError says what is wrong."""
    if not isinstance(obj, dict):
        _bad("not a JSON object")
    version = obj.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        _bad(f"format_version {str(version)[:20]} is not one this app reads (1 to {FORMAT_VERSION})")
    runs = obj.get("runs")
    if not isinstance(runs, dict) or sorted(runs) != sorted(LABELS):
        _bad("runs must be exactly A and B")
    return {"format_version": version, "differences": _checked_differences(obj.get("differences", {})),
            "runs": {label: _checked_run(label, runs[label]) for label in LABELS}}
