"""Image files to uint8 arrays: folder listings, one image's decode, and chunks of files decoded by worker processes.

No torch here: worker processes import this module alone (numpy and PIL), so they start in a fraction of a second.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import sys
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # PIL decoders allowed (JPEG also opens camera MPO files)
JUNK_NAMES = ("thumbs.db", "desktop.ini")  # ignored silently, like dot-files and __MACOSX/

PARALLEL_MIN_FILES = 2000  # fewer files are decoded in this process: starting workers would cost more than it saves
CHUNK_MIN, CHUNK_MAX = 64, 512  # files per task sent to a worker (about 16 tasks per worker, within these bounds)
PROGRESS_MIN_FILES = 1000  # smaller sets load without a progress bar


class Skip(Exception):
    """An input file left out of a folder / zip dataset; the message says why."""


class TooBig(Exception):
    """A zip member holds more bytes than its header promised."""


class TooManyFiles(Exception):
    """A folder holds more files than the caller allows."""


class PixelBudget:
    """Pixels a source may still decode (untrusted uploads, decoded in this process): spend() raises
    OverBudget before an image that would pass them, from its header alone."""

    def __init__(self, pixels: int):
        self.total = self.left = pixels

    def spend(self, pixels: int) -> None:
        if pixels > self.left:
            raise OverBudget
        self.left -= pixels


class OverBudget(Exception):
    """The images of a source hold more pixels than its PixelBudget."""


@dataclass(frozen=True)
class DecodeJob:
    """One chunk of a folder or zip for one worker; the limits travel with it (workers see no monkeypatching)."""

    source: str  # the folder, or the zip file
    is_zip: bool
    names: tuple[str, ...]  # folder: paths relative to source (posix); zip: member names (for the skip note)
    keys: tuple[int, ...]  # folder: file sizes in bytes (-1: stat failed); zip: indices into ZipFile.infolist()
    img_size: int
    channels: int  # 1 or 3
    max_pixels: int  # larger images are skipped as "too large"
    max_file_bytes: int  # folder: larger files are skipped; zip: a member reads at most this many bytes


@dataclass
class ChunkResult:
    pixels: np.ndarray  # (n_ok, channels, img_size, img_size) uint8, in file order
    skipped: list[tuple[str, str]]  # (name, why) in file order
    refused: str | None = None  # zip: why the whole zip must be refused (a member larger than its header says)


# ============================================================================ names and listings
def is_junk(relative: str) -> bool:
    """OS clutter skipped without a mention: dot-files, __MACOSX/ folders, Thumbs.db, desktop.ini."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return (not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts)
            or parts[-1].lower() in JUNK_NAMES)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def scan_folder(folder: str | os.PathLike, max_files: int) -> list[tuple[str, int, int]]:
    """(relative posix path, size in bytes, mtime in ns) of every file under folder, sorted as pathlib.Paths sort.

    Junk is left out; symlinked folders are not entered (no loops), as os.walk does; size and
    mtime are -1 when a file cannot be stat'ed (a dangling link). More than max_files raises TooManyFiles.
    Each folder's entries are sorted by name and subfolders expanded in place: the order of
    sorted(Path(...) for every file), part by part, without comparing 200,000 split paths.
    """
    out: list[tuple[str, int, int]] = []
    stack = [("", _sorted_entries(os.fspath(folder)))]  # (folder relative to the root, its entries left)
    while stack:
        rel_dir, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.is_symlink():
                stack.append((rel, _sorted_entries(entry.path)))
            continue
        try:
            st = entry.stat()
            out.append((rel, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((rel, -1, -1))
        if len(out) > max_files:
            raise TooManyFiles(max_files)
    return out


def _sorted_entries(path: str):
    with os.scandir(path) as it:
        entries = [e for e in it if not _is_junk_name(e.name)]
    entries.sort(key=lambda e: e.name)
    return iter(entries)


def _is_junk_name(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX" or name.lower() in JUNK_NAMES


# ============================================================================ one image
def decode_image(source, img_size: int, channels: int, max_pixels: int, budget: PixelBudget | None = None) -> np.ndarray:
    """(img_size, img_size, channels) uint8 from a path or file object: centre square crop, resized.

    Raises Skip with the reason when the image is too large or cannot be decoded, and OverBudget when
    its pixels (read from the header, at its JPEG draft scale) would pass the budget.
    """
    try:
        with Image.open(source, formats=IMAGE_FORMATS) as im:
            if im.width * im.height > max_pixels:
                raise Skip(f"too large: {im.width}x{im.height}")
            im.draft(None, (2 * img_size, 2 * img_size))  # JPEG: decode at a reduced scale (1/2 .. 1/8), much faster
            if budget is not None:
                budget.spend(im.width * im.height)  # still only the header has been read
            ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of the (usual) upright image
            im = flatten(im, channels)
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.resize((img_size, img_size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side),
                           reducing_gap=3.0)
            arr = np.asarray(im, dtype=np.uint8)
    except (Skip, OverBudget):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # PIL's own pixel limit
        raise Skip("too large") from None
    except Exception:  # PIL raises many kinds: OSError, SyntaxError, ValueError, struct.error, ...
        raise Skip("cannot be decoded") from None
    return arr.reshape(img_size, img_size, channels)


def flatten(im: Image.Image, channels: int) -> Image.Image:
    """The image in mode "L" or "RGB": high-bit-depth scaled to 8 bits, transparency over white."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            hi = max(float(arr.max()), 1e-12)
        else:
            hi = 65535.0 if (im.mode.startswith("I;16") or arr.max() > 255) else 255.0
        im = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im.alpha_composite(rgba)
    mode = "L" if channels == 1 else "RGB"
    return im if im.mode == mode else im.convert(mode)  # convert() copies even when the mode is right


def read_capped(f, limit: int) -> bytes:
    """Read a file object to the end, but never more than limit bytes (a zip header can lie about sizes)."""
    buf = io.BytesIO()
    while block := f.read(min(2**20, limit + 1 - buf.tell())):
        buf.write(block)
        if buf.tell() > limit:
            raise TooBig
    return buf.getvalue()


# ============================================================================ chunks
_WORKER_ZIP: zipfile.ZipFile | None = None  # a worker's own handle on the zip it decodes (opened once)


def decode_chunk(job: DecodeJob, zf: zipfile.ZipFile | None = None, budget: PixelBudget | None = None) -> ChunkResult:
    """Every file of one job, checked and decoded in order, as the serial loader always did.

    zf: the open zip when called in this process; workers use the one their initializer opened.
    budget: the pixels the whole source may still decode (in this process only).
    """
    zf = zf if zf is not None else _WORKER_ZIP
    infos = zf.infolist() if job.is_zip else None
    images, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # PIL's bomb warning counts as too large
        for name, key in zip(job.names, job.keys):
            try:
                if not is_image_name(name):
                    raise Skip("not an image")
                if job.is_zip:
                    source = _zip_member(zf, infos[key], job.max_file_bytes)
                else:
                    if key < 0:
                        raise Skip("cannot be read")
                    if key > job.max_file_bytes:
                        raise Skip("too large")
                    source = os.path.join(job.source, name)
                images.append(decode_image(source, job.img_size, job.channels, job.max_pixels, budget))
            except Skip as why:
                skipped.append((name, str(why)))
            except OverBudget:
                return ChunkResult(_stack(images, job), skipped, refused=(
                    f"holds more than {budget.total / 1e6:,.0f} million pixels of images; make them smaller "
                    f"(training uses {job.img_size} x {job.img_size})"))
            except TooBig:
                refused = f"member {name} holds more data than its header says"
                return ChunkResult(_stack(images, job), skipped, refused=refused)
            except OSError:
                skipped.append((name, "cannot be read"))
    return ChunkResult(_stack(images, job), skipped)


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int) -> io.BytesIO:
    """The member's bytes in memory (never extracted to disk), read with a cap; Skip or TooBig when not to be used."""
    if info.flag_bits & 0x1:
        raise Skip("encrypted")
    try:
        with zf.open(info) as f:
            return io.BytesIO(read_capped(f, min(info.file_size, max_member_bytes)))
    except TooBig:
        raise
    except Exception:  # bad CRC, unsupported compression, truncated archive, ...
        raise Skip("cannot be read") from None


def _stack(images: list[np.ndarray], job: DecodeJob) -> np.ndarray:
    """[(H, W, C)] -> (N, C, H, W) uint8, contiguous (the layout training batches are read in)."""
    if not images:
        return np.empty((0, job.channels, job.img_size, job.img_size), np.uint8)
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))


def _init_worker(zip_path: str | None) -> None:
    global _WORKER_ZIP
    if zip_path is not None:
        _WORKER_ZIP = zipfile.ZipFile(zip_path)  # the central directory is parsed once per worker, not per chunk


# ============================================================================ whole sources
def default_workers() -> int:
    """Worker processes for decoding: one per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def decode_all(jobs: list[DecodeJob], capacity: int, zf: zipfile.ZipFile | None = None, workers: int = 1,
               label: str = "", progress: bool = False,
               budget: PixelBudget | None = None) -> tuple[np.ndarray, list[tuple[str, str]], str | None]:
    """(pixels (N, C, H, W) uint8, skipped, refused) for jobs that cover a source in order.

    capacity: at least the number of images that can come out (the image-named files). workers > 1
    decodes in that many processes (forkserver: a clean child, never a fork of a threaded parent);
    the result is the same as in this process, chunk for chunk. progress: a tqdm bar with ETA on stderr.
    """
    first = jobs[0] if jobs else None
    n_files = sum(len(j.names) for j in jobs)
    shape = (first.channels, first.img_size, first.img_size) if first else (0, 0, 0)
    out = np.empty((capacity, *shape), np.uint8)
    skipped: list[tuple[str, str]] = []
    pos = 0
    bar = _bar(n_files, label, progress)
    pool = None
    try:
        if budget is not None and workers > 1:
            raise ValueError("a pixel budget is spent in this process: decode with workers=1")
        if workers > 1 and len(jobs) > 1:
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
            pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                                       initializer=_init_worker, initargs=(first.source if first.is_zip else None,))
            results = pool.map(decode_chunk, jobs)  # in order, so the set is the same as a serial decode
        else:
            results = (decode_chunk(job, zf, budget) for job in jobs)
        for job, result in zip(jobs, results):
            if result.refused:
                return out[:pos], skipped, result.refused
            n = len(result.pixels)
            out[pos:pos + n] = result.pixels
            pos += n
            skipped.extend(result.skipped)
            if bar is not None:
                bar.update(len(job.names))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    return out[:pos], skipped, None


def make_jobs(source: str, is_zip: bool, names: list[str], keys: list[int], img_size: int, channels: int,
              max_pixels: int, max_file_bytes: int, workers: int) -> list[DecodeJob]:
    """The source's files split into consecutive chunks (in this process too, so a progress bar moves)."""
    n = len(names)
    size = CHUNK_MAX if workers <= 1 else min(CHUNK_MAX, max(CHUNK_MIN, -(-n // (16 * workers))))
    return [DecodeJob(source, is_zip, tuple(names[a:a + size]), tuple(keys[a:a + size]), img_size, channels,
                      max_pixels, max_file_bytes) for a in range(0, n, size)]


def _bar(total: int, label: str, show: bool):
    if not show or total < PROGRESS_MIN_FILES:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a bar is not worth failing for
        return None
    return tqdm(total=total, desc=label or "decoding", unit="img", file=sys.stderr, mininterval=0.5, smoothing=0.05,
                dynamic_ncols=True)
