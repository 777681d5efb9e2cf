"""Dataset registry: 2D mixtures, CSV points, digits, torchvision sets, CelebA, image folders and zips, as device tensors."""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import socket
import sys
import time
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn.functional as F

from gan_demo.data import image_decode as imagefiles
from gan_demo.core.config import CLI_DATASETS, IMAGE_DATASETS, STACKED_DIGITS, TOY_DATASETS, DataConfig, data_dir
from gan_demo.data.image_decode import IMAGE_EXTENSIONS, IMAGE_FORMATS, JUNK_NAMES  # noqa: F401  (part of this module's interface)
from gan_demo.data.image_cache import HostBatches, cache_file, cached_pixels, place, to_float

SPLITS = ("train", "test")
KNOWN_DATASETS = TOY_DATASETS + IMAGE_DATASETS + CLI_DATASETS
MIN_POINTS = 16  # fewest points a CSV / array may hold
MIN_IMAGES = 16  # fewest usable images a folder / zip may hold
MAX_CSV_BYTES = 256 * 2**20  # ~10 million x,y lines
MAX_CSV_VALUE = 1e6  # larger coordinates are refused: rescale the data (float32 keeps ~7 digits)
MAX_OUTLIER_RATIO = 100  # a point farther from the median than this many typical distances is refused

# 2D mixtures: a fixed seed per split, so a "test" draw is fresh but repeatable.
TOY_SEEDS = {"train": 0, "test": 1}
RING8_SIGMA = 0.01
GRID25_SIGMA = 0.05
SPIRAL_TURNS = 2.0  # turns of the spiral arm r = theta, scaled to radius 1
SPIRAL_NOISE = 0.02
MOONS_NOISE = 0.05

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0

# Torchvision downloads: a short probe before downloading, a socket timeout while downloading.
DOWNLOAD_PROBE_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 10.0
MAX_GUNZIP_BYTES = 512 * 2**20  # an unpacked MNIST-style file is at most ~47 MB

# Image folders and zips. The limits below are the web app's (uploads: load_dataset(trusted=False));
# paths named on the command line (trusted=True) get the LOCAL_ ones.
MAX_FOLDER_FILES = 100_000  # files looked at in a folder before refusing it
MAX_IMAGE_PIXELS = 64_000_000  # larger images are skipped (decompression-bomb guard)
MAX_IMAGE_FILE_BYTES = 100 * 2**20  # larger files are skipped
NOTE_MAX_NAMES = 5  # skipped files named in Dataset.note

# Zip-bomb limits: checked from the zip's directory before anything is decompressed.
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_TOTAL_BYTES = 2**30  # sum of the uncompressed sizes of the images read
MAX_ZIP_MEMBER_BYTES = MAX_IMAGE_FILE_BYTES
MAX_ZIP_RATIO = 200  # uncompressed / compressed size of one member ...
ZIP_RATIO_MIN_BYTES = 2**20  # ... once it is larger than this
# Uploads to the web app (untrusted): the pixels decoded from one folder or zip, each image counted from its
# header (at its JPEG draft scale) before it is decoded. PNG decodes at ~30 M pixels/s: ~9 s for the budget.
MAX_UPLOAD_PIXELS = 250_000_000
LOCAL_MAX_FILES = 10_000_000  # trusted: files in a folder, members in a zip (CelebA has 202,599)
LOCAL_MAX_ZIP_BYTES = 2**40  # trusted: uncompressed bytes of a zip's images

# CelebA (Liu et al. 2015): the 202,599 aligned and cropped 178 x 218 JPEGs, used whole (no split).
CELEBA_FOLDER = "img_align_celeba"
CELEBA_ZIP = "img_align_celeba.zip"
CELEBA_IMAGES = 202_599
CELEBA_PROBE_URL = "https://drive.google.com/"  # torchvision downloads CelebA from Google Drive

_CHUNK = 4096  # images resized at a time
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights, as PIL's convert("L")


class DataError(ValueError):
    """A dataset that cannot be loaded; the message is one sentence for the user."""


@dataclass
class Dataset:
    name: str  # "ring8", "digits", "my_images.zip", ...
    kind: str  # "2d" or "image"
    # 2d: (N, 2) float32 in data coordinates. image: (N, C, H, W) uint8 pixels 0..255 (folders, zips, celeba:
    # decoded to that size by PIL) or float32 in [-1, 1] (digits and torchvision sets, resampled in float);
    # sample() and images() give floats in [-1, 1] either way. On `device`, or in host memory when `home` is set.
    x: torch.Tensor
    y: torch.Tensor | None  # (N,) int64 labels on device, or None
    n_classes: int  # 0 when unlabelled
    class_names: list[str]  # [] when unlabelled
    modes: torch.Tensor | None  # (K, 2) CPU float32 mixture centres (ring8, grid25) else None
    sigma: float | None  # std of each mixture component (ring8 0.01, grid25 0.05)
    note: str = ""  # e.g. "skipped 10 of 34 files: a.txt (not an image), ..."
    home: torch.device | None = None  # set when x stays in pinned host memory (too big for the GPU): where batches go
    from_cache: bool = False  # the pixels came from the decoded-image cache in data_dir, not from the files
    _host: HostBatches | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        """Where batches are: x's device, or `home` for a set kept in host memory."""
        return self.home if self.home is not None else self.x.device

    @property
    def channels(self) -> int:
        """Image channels (1 or 3); 0 for 2D points."""
        return self.x.shape[1] if self.kind == "image" else 0

    @property
    def img_size(self) -> int:
        """Image side in pixels; 0 for 2D points."""
        return self.x.shape[-1] if self.kind == "image" else 0

    @property
    def data_dim(self) -> int:
        """Numbers per sample: 2 for points, C * H * W for images."""
        return self.x[0].numel()

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A batch drawn with replacement by random index: (x[idx] as float, y[idx] or None), on self.device.

        Images come back as float32 in [-1, 1], bit-identical to a float32 store. A set in host
        memory draws its indices from its own CPU generator (seeded from this one) and copies ahead.
        """
        if batch_size < 1:
            raise DataError(f"batch_size must be at least 1 (got {batch_size})")
        if self.home is not None:
            if self._host is None:
                self._host = HostBatches(self.x, self.y, self.home)
            return self._host.sample(batch_size, generator)
        idx = torch.randint(0, self.x.shape[0], (batch_size,), generator=generator, device=generator.device)
        idx = idx.to(self.x.device)
        return to_float(self.x[idx]), (self.y[idx] if self.y is not None else None)

    def images(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """x, or its rows idx, as float32 in [-1, 1] on x's device (points: as they are); a copy for uint8 sets."""
        return to_float(self.x if idx is None else self.x[idx.to(self.x.device)])


# ===================================================================== entry points
def load_dataset(cfg: DataConfig, device: torch.device | str, split: str = "train", *,
                 trusted: bool = False) -> Dataset:
    """The dataset cfg.dataset names (registry name or path), as one tensor on device.

    split "test" is held-out data for evaluation: digits keep a fixed 20% aside, torchvision sets
    use their test set, 2D mixtures are a fresh draw with another seed, folders/zips/celeba are the same images.

    trusted: the caller names files on its own machine (the command line). Folders and zips may
    hold up to LOCAL_MAX_FILES images, are decoded by worker processes with a progress bar, and
    are cached decoded in cfg.data_dir (the next load memory-maps them); `celeba` needs it.
    False (the web app's uploads, and the default): MAX_FOLDER_FILES and the zip-bomb limits,
    decoded in this process, nothing written to disk.
    """
    device = _as_device(device)
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    if not isinstance(cfg.dataset, str) or not cfg.dataset.strip():
        raise DataError(f"dataset must name one of {', '.join(KNOWN_DATASETS)} or a path")
    name = cfg.dataset.strip()
    key = name.lower()
    if key in TOY_DATASETS:
        return _toy_dataset(key, cfg.n_points, device, split)
    if key == "digits":
        return _digits(cfg, device, split)
    if key == STACKED_DIGITS:
        from gan_demo.data.stacked import load_stacked_digits  # x is a StackView: three digits per image, stacked per batch
        return load_stacked_digits(cfg, device, split)
    if key in IMAGE_DATASETS:
        return _torchvision_dataset(key, cfg, device, split)
    if key == "celeba":
        return _celeba(cfg, device, trusted)
    return _path_dataset(name, cfg, device, trusted)


def dataset_from_points(points: np.ndarray | torch.Tensor, device: torch.device | str, name: str = "custom") -> Dataset:
    """A 2D dataset from an (N, 2) array of points in data coordinates."""
    device = _as_device(device)
    try:
        x = torch.as_tensor(np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise DataError(f"{name}: points must be numbers in an (N, 2) array ({_one_line(e)})") from e
    if x.ndim != 2 or x.shape[1] != 2:
        raise DataError(f"{name}: points must be an (N, 2) array of x, y (got shape {tuple(x.shape)})")
    if x.shape[0] < MIN_POINTS:
        raise DataError(f"{name}: needs at least {MIN_POINTS} points (got {x.shape[0]})")
    if not torch.isfinite(x).all():
        raise DataError(f"{name}: points must be finite numbers (found NaN or infinity)")
    return Dataset(name=name, kind="2d", x=x.to(device), y=None, n_classes=0, class_names=[], modes=None, sigma=None)


def toy_modes(name: str) -> tuple[torch.Tensor, float]:
    """(modes (K, 2) CPU float32, sigma) of the Gaussian mixtures ring8 and grid25."""
    if name == "ring8":
        angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
        return torch.stack([angles.cos(), angles.sin()], 1).float(), RING8_SIGMA
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1), GRID25_SIGMA
    raise DataError(f"{name!r} is not a Gaussian mixture; mixtures with modes are ring8 and grid25")


# ===================================================================== 2D sets
def _toy_points(name: str, n: int, seed: int) -> np.ndarray:
    """(n, 2) float32 points of a 2D toy set, the same for the same seed on every machine."""
    rng = np.random.default_rng(seed)
    if name in ("ring8", "grid25"):
        modes, sigma = toy_modes(name)
        which = rng.integers(len(modes), size=n)
        points = modes.numpy().astype(np.float64)[which] + sigma * rng.standard_normal((n, 2))
    elif name == "spiral":
        # r = theta; sqrt spreads points evenly along the arm (arc length grows as theta^2)
        theta_max = 2 * math.pi * SPIRAL_TURNS
        theta = np.sqrt(rng.random(n)) * theta_max
        r = theta / theta_max
        points = np.stack([r * np.cos(theta), r * np.sin(theta)], 1) + SPIRAL_NOISE * rng.standard_normal((n, 2))
    elif name == "moons":
        # sklearn's make_moons geometry (upper arc centred at (0, 0), lower at (1, 0.5)), centred on the origin
        upper = rng.random(n) < 0.5
        t = rng.uniform(0.0, math.pi, n)
        points = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                          np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1))
        points = points - np.array([0.5, 0.25]) + MOONS_NOISE * rng.standard_normal((n, 2))
    else:
        raise DataError(f"unknown 2D dataset {name!r}; known: {', '.join(TOY_DATASETS)}")
    return points.astype(np.float32)


def _toy_dataset(name: str, n_points: int, device: torch.device, split: str) -> Dataset:
    if n_points < MIN_POINTS:
        raise DataError(f"n_points must be at least {MIN_POINTS} (got {n_points})")
    x = torch.from_numpy(_toy_points(name, n_points, TOY_SEEDS[split])).to(device)
    modes, sigma = toy_modes(name) if name in ("ring8", "grid25") else (None, None)
    return Dataset(name=name, kind="2d", x=x, y=None, n_classes=0, class_names=[], modes=modes, sigma=sigma)


def _read_csv_points(path: Path) -> np.ndarray:
    """(N, 2) points from a text file of "x,y" lines; a header line, blank lines and # comments are allowed."""
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            raise DataError(f"{path.name} is larger than {_size(MAX_CSV_BYTES)}; use fewer points")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path.name}: {_one_line(e)}") from e
    points, lines = [], []
    seen_content = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "," if "," in line else (";" if ";" in line else None)
        fields = [f.strip().strip("\"'") for f in line.split(sep)]
        try:
            if len(fields) != 2:
                raise ValueError
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            if not seen_content:  # a header such as "x,y"
                seen_content = True
                continue
            raise DataError(f"{path.name} line {lineno}: expected two numbers 'x,y', got {line[:60]!r}") from None
        seen_content = True
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DataError(f"{path.name} line {lineno}: x and y must be finite numbers, got {line[:60]!r}")
        if max(abs(x), abs(y)) > MAX_CSV_VALUE:
            raise DataError(f"{path.name} line {lineno}: x and y must lie within +-{MAX_CSV_VALUE:,.0f}, "
                            f"got {line[:60]!r}; rescale the data")
        points.append((x, y))
        lines.append(lineno)
    if len(points) < MIN_POINTS:
        raise DataError(f"{path.name} holds {len(points)} points; a 2D dataset needs at least {MIN_POINTS} lines of x,y")
    points = np.asarray(points, dtype=np.float32)
    far, ratio = _farthest_outlier(points)
    if far is not None:
        raise DataError(f"{path.name} line {lines[far]}: the point ({points[far, 0]:g}, {points[far, 1]:g}) lies "
                        f"{ratio:,.0f} times farther from the middle than a typical point; remove it "
                        "(the GAN sizes itself to the spread of all the points)")
    return points


def _farthest_outlier(points: np.ndarray) -> tuple[int | None, float]:
    """(index, ratio) of the point farthest from the median, if it lies more than MAX_OUTLIER_RATIO typical
    distances (the median distance) away; else (None, ratio). Robust: the outlier cannot hide itself
    by inflating the scale it is measured against, as it would with the standard deviation."""
    distance = np.linalg.norm(points.astype(np.float64) - np.median(points, axis=0), axis=1)  # (N,)
    typical = np.median(distance)
    if typical == 0:  # over half the points coincide: compare with the mean distance instead
        typical = distance.mean()
    if typical == 0:
        return None, 0.0
    far = int(distance.argmax())
    ratio = float(distance[far] / typical)
    return (far if ratio > MAX_OUTLIER_RATIO else None), ratio


# ===================================================================== image helpers
def _to_image_tensor(raw: torch.Tensor, value_max: float, img_size: int, channels: int,
                     device: torch.device) -> torch.Tensor:
    """(N, C, H, W) pixels in [0, value_max] (C 1 or 3) -> (N, channels, img_size, img_size) float32 in [-1, 1] on device.

    Works in chunks so the float copy of a large set never exists twice.
    """
    n, c = raw.shape[:2]
    out = torch.empty((n, channels, img_size, img_size), dtype=torch.float32, device=device)
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    for start in range(0, n, _CHUNK):
        chunk = raw[start:start + _CHUNK].to(torch.float32) * (2.0 / value_max) - 1.0
        if c == 3 and channels == 1:
            chunk = (chunk * luma).sum(1, keepdim=True)  # RGB -> gray by luminance
        if tuple(chunk.shape[-2:]) != (img_size, img_size):
            chunk = F.interpolate(chunk, size=(img_size, img_size), mode="bilinear", align_corners=False, antialias=True)
        chunk = chunk.clamp_(-1.0, 1.0)
        if chunk.shape[1] == 1 and channels == 3:
            chunk = chunk.expand(-1, 3, -1, -1)  # gray -> RGB by repeating
        out[start:start + chunk.shape[0]].copy_(chunk)
    return out


def _channels(cfg: DataConfig, default: int) -> int:
    return cfg.channels if cfg.channels in (1, 3) else default


def _digits_split(n: int, split: str) -> np.ndarray:
    """Sorted indices of the digits split: a fixed seeded permutation, 80% train, 20% test."""
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
    n_train = n - int(round(n * DIGITS_TEST_FRACTION))
    return np.sort(perm[:n_train] if split == "train" else perm[n_train:])


def _digits(cfg: DataConfig, device: torch.device, split: str) -> Dataset:
    from sklearn.datasets import load_digits

    try:
        bunch = load_digits()
    except Exception as e:  # bundled with scikit-learn, so this means a broken install
        raise DataError(f"cannot load the digits dataset from scikit-learn: {_one_line(e)}") from e
    idx = _digits_split(len(bunch.images), split)
    raw = torch.from_numpy(bunch.images[idx].astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8), values 0..16
    x = _to_image_tensor(raw, 16.0, cfg.img_size, _channels(cfg, 1), device)
    y = torch.from_numpy(bunch.target[idx].astype(np.int64)).to(device)
    return Dataset(name="digits", kind="image", x=x, y=y, n_classes=10, class_names=[str(i) for i in range(10)],
                   modes=None, sigma=None)


# ===================================================================== torchvision sets
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                "batches.meta")
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


def _torchvision_class(name: str):
    try:
        import torchvision.datasets as tvd
    except Exception as e:
        raise DataError(f"{name} needs torchvision, which cannot be imported ({_one_line(e)}); "
                        "use the dataset 'digits'") from e
    return {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]


def _local_files(name: str, root: Path) -> tuple[Path, list[Path], list[Path]]:
    """(folder, files torchvision reads, archives it would download) for a torchvision set under root."""
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        return folder, [folder / f for f in _CIFAR_FILES], [root / _CIFAR_ARCHIVE]
    folder = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    return folder, [folder / f for f in _IDX_FILES], [folder / (f + ".gz") for f in _IDX_FILES]


def _where_to_put(name: str, root: Path) -> str:
    folder, files, archives = _local_files(name, root)
    if name == "cifar10":
        what = f"put {_CIFAR_ARCHIVE} in {root} (or its extracted folder {folder.name} there)"
    else:
        what = f"put {', '.join(a.name for a in archives)} (or the same files unzipped) in {folder}"
    return f"{what}, or use the dataset 'digits', which needs no download"


def _gunzip_local(name: str, root: Path) -> None:
    """Unpack MNIST-style .gz files someone copied into the raw folder, so torchvision finds them offline."""
    if name == "cifar10":
        return
    _, files, archives = _local_files(name, root)
    for target, archive in zip(files, archives):
        if target.exists() or not archive.is_file():
            continue
        tmp = target.with_name(target.name + ".part")
        try:
            with gzip.open(archive, "rb") as src, open(tmp, "wb") as dst:
                written = 0
                while block := src.read(2**20):
                    written += len(block)
                    if written > MAX_GUNZIP_BYTES:
                        raise DataError(f"{archive} unpacks to more than {_size(MAX_GUNZIP_BYTES)}; "
                                        f"it is not a {name} file")
                    dst.write(block)
            os.replace(tmp, target)
        except DataError:
            tmp.unlink(missing_ok=True)
            raise
        except (OSError, EOFError, zlib.error) as e:
            tmp.unlink(missing_ok=True)
            raise DataError(f"cannot unpack {archive.name}: {_one_line(e)}") from e


def _can_reach(url: str, timeout: float = DOWNLOAD_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the url's host opens quickly (always True behind a proxy, which urllib uses)."""
    if urllib.request.getproxies():
        return True
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Give every socket opened inside a timeout (urllib's default is none: a dead network would hang forever)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _open_torchvision(name: str, root: Path, train: bool):
    """The torchvision dataset object: from local files when they are there, else downloaded into root."""
    cls = _torchvision_class(name)
    folder, files, archives = _local_files(name, root)
    try:
        _gunzip_local(name, root)
        return cls(root, train=train, download=False)
    except DataError:
        raise
    except Exception as e:  # files missing (RuntimeError) or unreadable (anything from the parsers)
        if all(f.is_file() for f in files):
            raise DataError(f"cannot read {name} from {folder} ({_one_line(e)}); "
                            "delete the files there to download them again") from e
    where = _where_to_put(name, root)
    urls = list(getattr(cls, "mirrors", None) or [cls.url])
    if not any(a.is_file() for a in archives) and not any(_can_reach(u) for u in urls):
        raise DataError(f"could not download {name} (no network?): {where}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(root, train=train, download=True)
    except Exception as e:  # URLError, OSError, RuntimeError("Error downloading ..."), md5 mismatch, disk full, ...
        raise DataError(f"could not download {name} ({_one_line(e)}; no network?): {where}") from e


def _torchvision_dataset(name: str, cfg: DataConfig, device: torch.device, split: str) -> Dataset:
    root = data_dir(cfg)
    ds = _open_torchvision(name, root, train=(split == "train"))
    try:
        if name == "cifar10":
            raw = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # (N, 32, 32, 3) -> (N, 3, 32, 32)
        else:
            raw = torch.as_tensor(ds.data).unsqueeze(1)  # (N, 28, 28) uint8 -> (N, 1, 28, 28)
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64).reshape(-1)
        class_names = [str(c) for c in ds.classes]
    except Exception as e:
        raise DataError(f"cannot read {name} from {root}: {_one_line(e)}") from e
    if raw.ndim != 4 or raw.shape[1] not in (1, 3) or raw.shape[0] != y.shape[0] or raw.shape[0] == 0:
        raise DataError(f"cannot read {name} from {root}: {raw.shape[0]} images of shape {tuple(raw.shape[1:])} "
                        f"but {y.shape[0]} labels")
    if y.min() < 0 or y.max() >= len(class_names):
        raise DataError(f"cannot read {name} from {root}: labels must be 0..{len(class_names) - 1}")
    x = _to_image_tensor(raw, 255.0, cfg.img_size, _channels(cfg, 3 if name == "cifar10" else 1), device)
    return Dataset(name=name, kind="image", x=x, y=y.to(device), n_classes=len(class_names), class_names=class_names,
                   modes=None, sigma=None)


# ===================================================================== CelebA
def _celeba(cfg: DataConfig, device: torch.device, trusted: bool) -> Dataset:
    """CelebA's img_align_celeba as an unlabelled image set: the user's folder or zip, else torchvision's download."""
    if not trusted:
        raise DataError("celeba loads from the command line only (python -m gan_demo train --dataset celeba); "
                        "it is too large to decode inside the web app")
    root = data_dir(cfg)
    source = _celeba_local(root) or _download_celeba(root)
    return _image_dataset(source, cfg, device, trusted, name="celeba")


def _celeba_local(root: Path) -> Path | None:
    """img_align_celeba (folder, else zip) in data_dir/celeba/ (torchvision's layout) or data_dir/, or data_dir itself."""
    folders = [root / "celeba" / CELEBA_FOLDER, root / CELEBA_FOLDER]
    if root.name == CELEBA_FOLDER:
        folders.insert(0, root)
    for candidate in folders + [root / "celeba" / CELEBA_ZIP, root / CELEBA_ZIP]:
        if candidate.is_dir() or (candidate.suffix == ".zip" and candidate.is_file()):
            return candidate
    return None


def _celeba_where(root: Path) -> str:
    return (f"put {CELEBA_FOLDER} (CelebA's folder of {CELEBA_IMAGES:,} aligned JPEGs) or {CELEBA_ZIP} in "
            f"{root / 'celeba'}, or give the folder's path as the dataset")


def _download_celeba(root: Path) -> Path:
    """img_align_celeba.zip downloaded as torchvision's CelebA does (Google Drive, md5-checked) into root/celeba/.

    Read as a zip afterwards (never extracted: it is decoded once into the image cache).
    """
    where = _celeba_where(root)
    if not _can_reach(CELEBA_PROBE_URL):
        raise DataError(f"could not download celeba (no network?): {where}")
    try:
        import gdown  # noqa: F401  (torchvision's Google Drive download needs it)
        from torchvision.datasets import CelebA
        from torchvision.datasets.utils import download_file_from_google_drive
    except Exception as e:
        raise DataError(f"downloading celeba needs torchvision and gdown (pip install gdown) ({_one_line(e)}): "
                        f"{where}") from e
    file_id, md5, filename = next(f for f in CelebA.file_list if f[2] == CELEBA_ZIP)
    folder = root / "celeba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            download_file_from_google_drive(file_id, folder, filename, md5)
    except Exception as e:  # quota exceeded, md5 mismatch, disk full, no network, ...
        (folder / filename).unlink(missing_ok=True)  # never leave a half file that looks like the user's zip
        raise DataError(f"could not download celeba ({_one_line(e)}): {where}") from e
    return folder / filename


# ===================================================================== folders, zips, CSV paths
def _path_dataset(name: str, cfg: DataConfig, device: torch.device, trusted: bool) -> Dataset:
    path = Path(name).expanduser()
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise DataError(f"CSV file not found: {path.name}")
        return dataset_from_points(_read_csv_points(path), device, name=path.name)
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return _image_dataset(path, cfg, device, trusted, name=path.name)
    if path.exists():
        raise DataError(f"{path.name} is not an image folder, a .zip of images or a .csv of x,y points")
    if os.sep in name or "/" in name or path.suffix:
        raise DataError(f"no such file or folder: {path.name}")
    raise DataError(f"unknown dataset {name!r}: use one of {', '.join(KNOWN_DATASETS)}, "
                    "or the path of an image folder, a .zip of images or a .csv of x,y points")


@dataclass
class _Source:
    """A folder or zip, listed and checked, ready to decode."""

    key: dict  # everything the decoded set depends on (the cache key)
    total: int  # files / members looked at (the note's "of N files")
    names: list[str]  # every file in order: relative paths / member names
    keys: list[int]  # folder: sizes in bytes (-1: cannot be stat'ed); zip: indices into infolist()
    max_file_bytes: int  # folder: larger files are skipped; zip: the read cap per member


def _image_dataset(path: Path, cfg: DataConfig, device: torch.device, trusted: bool, name: str) -> Dataset:
    """A folder or zip of images as uint8 (N, C, H, W) on device (or pinned host memory for a set too big for it)."""
    channels = _channels(cfg, 3)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if path.is_dir():
            zf, source = None, _folder_source(path, cfg.img_size, channels, trusted)
        else:
            zf = stack.enter_context(_open_zip(path))
            source = _zip_source(path, zf, cfg.img_size, channels, trusted)

        def build() -> tuple[np.ndarray, dict]:
            pixels, skipped = _decode(path, source, zf, cfg.img_size, channels, trusted)
            note = _skip_note(skipped, source.total)
            if len(pixels) < MIN_IMAGES:
                raise DataError(f"{path.name} has {len(pixels)} usable images; at least {MIN_IMAGES} are needed"
                                + (f" ({note})" if note else ""))
            return pixels, {"note": note, "files": source.total}

        if trusted:
            where = cache_file(data_dir(cfg), source.key)
            pixels, info, hit = cached_pixels(where, source.key, build)
            print(f"gan_demo: {name}: {len(pixels):,} images of {cfg.img_size} px "
                  f"{'read from' if hit else 'decoded and cached in'} {where} "
                  f"({_size(pixels.nbytes)}) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        else:
            (pixels, info), hit = build(), False
    x, home = place(torch.from_numpy(pixels), device)
    return Dataset(name=name, kind="image", x=x, y=None, n_classes=0, class_names=[], modes=None, sigma=None,
                   note=info["note"], home=home, from_cache=hit)


def _decode_key(img_size: int, channels: int, max_file_bytes: int) -> dict:
    """What else the decoded pixels depend on: the size, the channels, the skip limits and PIL's decoders."""
    return {"img_size": img_size, "channels": channels, "max_pixels": MAX_IMAGE_PIXELS,
            "max_file_bytes": max_file_bytes, "pil": PIL.__version__}


def _digest(lines) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def _folder_source(folder: Path, img_size: int, channels: int, trusted: bool) -> _Source:
    """Every file under folder (sorted), keyed by the folder's path and each file's name, size and mtime."""
    max_files = LOCAL_MAX_FILES if trusted else MAX_FOLDER_FILES
    try:
        entries = imagefiles.scan_folder(folder, max_files)
    except imagefiles.TooManyFiles:
        raise DataError(f"{folder} holds more than {max_files:,} files; pick a smaller folder") from None
    except OSError as e:
        raise DataError(f"cannot read the folder {folder}: {_one_line(e)}") from e
    key = {"kind": "folder", "path": str(folder.resolve()), "files": len(entries),
           "bytes": sum(max(size, 0) for _, size, _ in entries),
           "mtime_ns": max((mtime for _, _, mtime in entries), default=0),
           "listing": _digest(f"{rel}\t{size}\t{mtime}" for rel, size, mtime in entries),
           **_decode_key(img_size, channels, MAX_IMAGE_FILE_BYTES)}
    return _Source(key=key, total=len(entries), names=[e[0] for e in entries], keys=[e[1] for e in entries],
                   max_file_bytes=MAX_IMAGE_FILE_BYTES)


@contextlib.contextmanager
def _open_zip(path: Path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable zip file ({_one_line(e)})") from e
    with zf:
        yield zf


def _zip_source(path: Path, zf: zipfile.ZipFile, img_size: int, channels: int, trusted: bool) -> _Source:
    """The zip's members (sorted), checked against the bomb limits from its own directory before anything is read."""
    max_members = LOCAL_MAX_FILES if trusted else MAX_ZIP_MEMBERS
    max_total = LOCAL_MAX_ZIP_BYTES if trusted else MAX_ZIP_TOTAL_BYTES
    infos = zf.infolist()
    if len(infos) > max_members:
        raise _refuse_zip(path, f"holds {len(infos):,} entries (the limit is {max_members:,})")
    index = {id(info): i for i, info in enumerate(infos)}
    members = sorted((i for i in infos if not i.is_dir() and not imagefiles.is_junk(i.filename)),
                     key=lambda i: i.filename)
    to_read = [i for i in members if imagefiles.is_image_name(i.filename)]
    total = sum(i.file_size for i in to_read)
    if total > max_total:
        raise _refuse_zip(path, f"unpacks to {_size(total)} of images (the limit is {_size(max_total)})")
    for i in to_read:
        if i.file_size > MAX_ZIP_MEMBER_BYTES:
            raise _refuse_zip(path, f"member {i.filename} unpacks to {_size(i.file_size)} "
                                    f"(the limit is {_size(MAX_ZIP_MEMBER_BYTES)})")
        if i.file_size > ZIP_RATIO_MIN_BYTES and i.file_size > MAX_ZIP_RATIO * max(i.compress_size, 1):
            raise _refuse_zip(path, f"member {i.filename} is compressed {i.file_size // max(i.compress_size, 1):,}:1 "
                                    f"(the limit is {MAX_ZIP_RATIO}:1): a zip bomb?")
    st = path.stat()
    key = {"kind": "zip", "path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
           "members": _digest(f"{i.filename}\t{i.CRC}\t{i.file_size}" for i in members),
           **_decode_key(img_size, channels, MAX_ZIP_MEMBER_BYTES)}
    # Each read is capped at its header's file_size, so the bytes read never exceed the total checked above.
    return _Source(key=key, total=len(members), names=[i.filename for i in members],
                   keys=[index[id(i)] for i in members], max_file_bytes=MAX_ZIP_MEMBER_BYTES)


def _decode(path: Path, source: _Source, zf: zipfile.ZipFile | None, img_size: int, channels: int,
            trusted: bool) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """(pixels (N, C, H, W) uint8, skipped) in file order: worker processes for a large trusted set, else this one."""
    big = trusted and source.total >= imagefiles.PARALLEL_MIN_FILES
    workers = imagefiles.default_workers() if big else 1
    jobs = imagefiles.make_jobs(str(path), zf is not None, source.names, source.keys, img_size, channels,
                                MAX_IMAGE_PIXELS, source.max_file_bytes, workers)
    capacity = sum(imagefiles.is_image_name(n) for n in source.names)
    budget = None if trusted else imagefiles.PixelBudget(MAX_UPLOAD_PIXELS)  # an upload: header-counted pixels
    pixels, skipped, refused = imagefiles.decode_all(jobs, capacity, zf, workers, label=f"decoding {path.name}",
                                                     progress=trusted, budget=budget)
    if refused:
        raise _refuse_zip(path, refused)
    return pixels, skipped


def _skip_note(skipped: list[tuple[str, str]], total: int) -> str:
    """ "skipped 2 of 34 files: a.txt (not an image), b.png (cannot be decoded)" or ""."""
    if not skipped:
        return ""
    named = ", ".join(f"{name} ({why})" for name, why in skipped[:NOTE_MAX_NAMES])
    more = ", ..." if len(skipped) > NOTE_MAX_NAMES else ""
    return f"skipped {len(skipped)} of {total} files: {named}{more}"


def _refuse_zip(path: Path, why: str) -> DataError:
    return DataError(f"zip refused: {path.name} {why}")


# ===================================================================== small helpers
def _as_device(device: torch.device | str) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise DataError(f"unknown device {device!r}: use cpu, cuda or mps") from e


def _size(n_bytes: float) -> str:
    """A byte count for people: "512 bytes", "3.2 MiB"."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def _one_line(e: BaseException, limit: int = 160) -> str:
    """An exception as one short line (torchvision's download errors span several).

    An OSError gives only its reason: its file name is a path on the server, and the message names the file.
    """
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    text = " ".join(text.split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
