"""uint8 image sets: the decoded-image cache in the data folder, device placement, float batches from uint8 pixels, and [-1, 1] -> [0, 1]."""
from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

CACHE_FORMAT = 1  # bump when the decoded pixels of the same files would change
CACHE_FOLDER = "image-cache"  # under DataConfig.data_dir
DEVICE_DATA_FRACTION = 0.5  # a set goes onto the GPU when it takes at most this share of the free memory
COPY_ROWS = 4096  # images copied at a time from disk or host memory to the device
_CRC_BLOCK = 64 * 2**20  # bytes checksummed at a time


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1] (the loaders' own formula, so values are bit-identical); float as is."""
    if pixels.dtype != torch.uint8:
        return pixels
    return (pixels.to(torch.float32) * (2.0 / 255.0) - 1.0).clamp_(-1.0, 1.0)


def to_unit(x):
    """Map generator output in [-1, 1] to [0, 1], clamped (tensor or numpy array)."""
    if isinstance(x, torch.Tensor):
        return ((x + 1) / 2).clamp(0, 1)
    return np.clip((np.asarray(x) + 1) / 2, 0, 1)


# ============================================================================ the cache
def cache_file(data_dir: Path, key: dict) -> Path:
    """data_dir/image-cache/<hash>.npy: the name is a hash of the whole key, so no path or name reaches the file system."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return Path(data_dir).expanduser() / CACHE_FOLDER / f"{digest}.npy"


def _record_file(path: Path) -> Path:
    return path.with_suffix(".json")


def _crc32(pixels: np.ndarray) -> int:
    flat = pixels.reshape(-1)
    crc = 0
    for start in range(0, flat.size, _CRC_BLOCK):
        crc = zlib.crc32(memoryview(flat[start:start + _CRC_BLOCK]), crc)
    return crc


def read_cache(path: Path, key: dict) -> tuple[np.ndarray, dict] | None:
    """(pixels memory-mapped copy-on-write, record) when path holds the set for key; None when missing, stale or corrupt.

    Never trusted: the record must name this key, the file must have the recorded size, the
    .npy header the recorded shape, and the pixels the recorded CRC-32 (reads every byte once:
    about a second for 2.5 GB in the page cache).
    """
    try:
        record = json.loads(_record_file(path).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("key") != key or record.get("format") != CACHE_FORMAT:
            return None
        if path.stat().st_size != record["file_bytes"]:
            return None
        pixels = np.load(path, mmap_mode="c", allow_pickle=False)  # "c": writes stay in memory, never reach the file
        if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 4
                or list(pixels.shape) != record["shape"] or _crc32(pixels) != record["crc32"]):
            return None
    except (OSError, ValueError, KeyError, TypeError, EOFError):  # unreadable, bad JSON, bad .npy header, short file
        return None
    return pixels, record


def write_cache(path: Path, key: dict, pixels: np.ndarray, info: dict) -> None:
    """Write the pixels (N, C, H, W) uint8 and their record, each to a temp file renamed into place.

    The record goes last and holds the pixels' size and checksum: a crash in between leaves a
    pair that read_cache refuses, never one it trusts.
    """
    from gan_demo.core.files import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": CACHE_FORMAT, "key": key, "shape": list(pixels.shape), "dtype": "uint8",
              "crc32": _crc32(pixels), **info}
    _record_file(path).unlink(missing_ok=True)  # the old record first: never a new .npy beside an old record
    write_atomic(path, lambda f: np.lib.format.write_array(f, np.ascontiguousarray(pixels), allow_pickle=False))
    record["file_bytes"] = path.stat().st_size
    write_atomic(_record_file(path), lambda f: f.write(json.dumps(record).encode()))


def cached_pixels(path: Path, key: dict, build: Callable[[], tuple[np.ndarray, dict]]) -> tuple[np.ndarray, dict, bool]:
    """(pixels, info, from_cache): the cached set for key, or build() -> (pixels, info) written to the cache.

    info is a small JSON-able dict stored beside the pixels (the skip note, the file count). A
    cache that cannot be written (read-only data folder, disk full) costs a warning, not the load.
    """
    hit = read_cache(path, key)
    if hit is not None:
        pixels, record = hit
        return pixels, {k: v for k, v in record.items() if k not in ("format", "key", "shape", "dtype", "crc32",
                                                                      "file_bytes")}, True
    pixels, info = build()
    try:
        write_cache(path, key, pixels, info)
    except OSError as e:
        print(f"gan_demo: could not write the image cache {path} ({e}); the next load decodes again", file=sys.stderr)
    return pixels, info, False


# ============================================================================ placement
def place(pixels: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.device | None]:
    """(x, home) for uint8 pixels (N, C, H, W) on the CPU (possibly memory-mapped).

    CPU: the pixels themselves, home None. CUDA: a copy on the GPU when it fits (at most
    DEVICE_DATA_FRACTION of the free memory), else a copy in pinned host memory and home = the
    GPU (batches are then copied there ahead of use, see HostBatches). Other devices: a copy there.
    """
    if device.type == "cpu":
        return pixels, None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if pixels.numel() > DEVICE_DATA_FRACTION * free:
            host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
            for start in range(0, len(pixels), COPY_ROWS):
                host[start:start + COPY_ROWS].copy_(pixels[start:start + COPY_ROWS])
            return host, device
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=device)
    for start in range(0, len(pixels), COPY_ROWS):  # chunks: a memory-mapped set is never read whole into RAM
        out[start:start + COPY_ROWS].copy_(pixels[start:start + COPY_ROWS])
    return out, None


class HostBatches:
    """Float batches on `device` from uint8 images in (pinned) host memory, the next one copied while this one is used.

    Indices come from a CPU generator seeded once from the caller's generator, so drawing them
    never waits for the GPU; each call returns the batch prepared by the call before and starts
    the gather and the asynchronous copy (a side CUDA stream) of the next one.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, device: torch.device):
        self.x = x  # (N, C, H, W) uint8 on the CPU, pinned when device is CUDA
        self.y = y  # (N,) labels on device, or None
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self._source: torch.Generator | None = None
        self._gen: torch.Generator | None = None
        self._next: tuple[int, torch.Tensor, torch.Tensor] | None = None  # (batch size, x on device, idx on device)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        if generator is not self._source:  # a new run: a new index stream, seeded from its generator
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            self._source, self._gen = generator, torch.Generator().manual_seed(seed)
            self._next = None
        if self._next is None or self._next[0] != batch_size:
            self._next = self._launch(batch_size)
        _, x, idx = self._next
        self._next = self._launch(batch_size)
        if self.stream is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self.stream)  # the copy of this batch is done before anything reads it
            x.record_stream(current)  # ... and its memory is not reused while the step uses it
            idx.record_stream(current)
        return to_float(x), (self.y[idx] if self.y is not None else None)

    def _launch(self, batch_size: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Gather a batch in host memory and start its copy to the device (returns at once on CUDA)."""
        idx = torch.randint(0, len(self.x), (batch_size,), generator=self._gen)
        pin = self.device.type == "cuda"
        buf = torch.empty((batch_size, *self.x.shape[1:]), dtype=torch.uint8, pin_memory=pin)
        torch.index_select(self.x, 0, idx, out=buf)
        if self.stream is None:
            return batch_size, buf.to(self.device), idx.to(self.device)
        with torch.cuda.stream(self.stream):  # pinned buffers are kept by the caching host allocator until copied
            return (batch_size, buf.to(self.device, non_blocking=True),
                    idx.pin_memory().to(self.device, non_blocking=True))
