"""Dataset registry: 2D mixtures, CSV points, digits, torchvision sets from local files, image folders and zips."""
import gzip
import io
import pickle
import socket
import struct
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_demo.data import datasets as data
from gan_demo.data import image_decode as imagefiles
from gan_demo.core.config import DataConfig
from gan_demo.data.datasets import DataError, Dataset, dataset_from_points, load_dataset, toy_modes


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(data, "_can_reach", refuse)


def png_bytes(seed: int, size=(12, 9), mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(arr.squeeze(-1) if channels == 1 else arr)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_idx(raw_dir, prefix: str, images: np.ndarray, labels: np.ndarray, compress=False):
    """MNIST's IDX files: big-endian magic 0x0803 (uint8, 3 dims) for images, 0x0801 (1 dim) for labels."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    img = struct.pack(">IIII", 0x00000803, *images.shape) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes()
    for name, payload in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
        if compress:
            (raw_dir / (name + ".gz")).write_bytes(gzip.compress(payload))
        else:
            (raw_dir / name).write_bytes(payload)


def write_mnist(root, folder="MNIST", n_train=20, n_test=10, compress=False):
    rng = np.random.default_rng(0)
    sets = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        write_idx(root / folder / "raw", prefix, images, labels, compress=compress)
        sets[prefix] = (images, labels)
    return sets


# --------------------------------------------------------------------------- 2D sets
@pytest.mark.parametrize("name,k,sigma", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixtures_have_modes_and_points_near_them(name, k, sigma):
    ds = load_dataset(DataConfig(dataset=name, n_points=2000), torch.device("cpu"))
    assert ds.kind == "2d" and ds.x.shape == (2000, 2) and ds.x.dtype == torch.float32
    assert ds.y is None and ds.n_classes == 0 and ds.class_names == []
    assert ds.modes.shape == (k, 2) and ds.modes.device.type == "cpu" and ds.sigma == sigma
    dist = torch.cdist(ds.x, ds.modes)
    assert dist.min(1).values.max() < 6 * sigma  # every point within a few sigma of a mode
    assert set(dist.argmin(1).tolist()) == set(range(k))  # every mode is populated
    assert ds.channels == 0 and ds.img_size == 0 and ds.data_dim == 2 and len(ds) == 2000


def test_toy_modes_coordinates():
    ring, sigma = toy_modes("ring8")
    assert sigma == 0.01
    assert torch.allclose(ring[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(ring[2], torch.tensor([0.0, 1.0]), atol=1e-6)
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid, sigma = toy_modes("grid25")
    assert sigma == 0.05 and grid.shape == (25, 2)
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(p) for p in grid.tolist()}) == 25
    with pytest.raises(DataError):
        toy_modes("moons")


@pytest.mark.parametrize("name", ["spiral", "moons"])
def test_spiral_and_moons(name):
    ds = load_dataset(DataConfig(dataset=name, n_points=500), "cpu")
    again = load_dataset(DataConfig(dataset=name, n_points=500), "cpu")
    test = load_dataset(DataConfig(dataset=name, n_points=500), "cpu", split="test")
    assert ds.x.shape == (500, 2) and ds.modes is None and ds.sigma is None
    assert torch.isfinite(ds.x).all() and ds.x.abs().max() < 3
    assert torch.equal(ds.x, again.x)  # fixed seed
    assert not torch.equal(ds.x, test.x)  # the test split is a fresh draw


# --------------------------------------------------------------------------- CSV and arrays
def test_csv_points_with_header_and_blank_lines(tmp_path):
    rows = "\n".join(f"{i * 0.1},{-i}" for i in range(20))
    path = tmp_path / "pts.csv"
    path.write_text("x,y\n\n" + rows + "\n\n")
    ds = load_dataset(DataConfig(dataset=str(path)), "cpu")
    assert ds.name == "pts.csv" and ds.kind == "2d" and ds.x.shape == (20, 2)
    assert ds.x[3].tolist() == pytest.approx([0.3, -3.0])
    plain = tmp_path / "plain.csv"
    plain.write_text(rows)
    assert torch.equal(load_dataset(DataConfig(dataset=str(plain)), "cpu").x, ds.x)


def test_csv_malformed_line_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    lines = ["x,y"] + [f"{i},{i}" for i in range(20)]
    lines[6] = "3,oops"
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match="line 7"):
        load_dataset(DataConfig(dataset=str(path)), "cpu")


def test_csv_too_few_points_and_missing_file(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("1,2\n3,4\n")
    with pytest.raises(DataError, match="at least 16"):
        load_dataset(DataConfig(dataset=str(path)), "cpu")
    with pytest.raises(DataError, match="not found"):
        load_dataset(DataConfig(dataset=str(tmp_path / "none.csv")), "cpu")


def ring_csv(path, extra: str = "", at: int = 10):
    """A CSV of 40 points on the unit circle with `extra` inserted as line `at` + 2 (after the header)."""
    rows = [f"{np.cos(t):.4f},{np.sin(t):.4f}" for t in np.linspace(0, 6, 40)]
    if extra:
        rows.insert(at, extra)
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("extra", ["1e308,0", "0,-3e38", "2e6,1"])
def test_csv_absurd_coordinates_are_refused_by_line(tmp_path, extra):
    with pytest.raises(DataError, match=r"ring.csv line 12: x and y must lie within \+-1,000,000, got '[-0-9e,]+'; "
                                        "rescale the data"):
        load_dataset(DataConfig(dataset=ring_csv(tmp_path / "ring.csv", extra)), "cpu")


def test_csv_outlier_is_refused_robustly(tmp_path):
    # One point 5,000 radii out: the standard deviation would grow ~800 times and set the GAN's scale.
    with pytest.raises(DataError, match=r"ring.csv line 32: the point \(5000, 0\) lies 4,9[0-9][0-9] times farther "
                                        "from the middle than a typical point; remove it"):
        load_dataset(DataConfig(dataset=ring_csv(tmp_path / "ring.csv", "5000,0", at=30)), "cpu")
    assert len(load_dataset(DataConfig(dataset=ring_csv(tmp_path / "ok.csv", "50,0")), "cpu")) == 41  # 50 radii: kept
    for name in ("ring8", "grid25", "spiral", "moons"):  # the built-in sets are far inside the limit
        assert data._farthest_outlier(data._toy_points(name, 20_000, 0))[1] < 3
    heavy = np.random.default_rng(0).laplace(size=(100_000, 2))  # heavy-tailed, yet no outlier
    assert data._farthest_outlier(heavy)[0] is None


def test_messages_name_files_by_base_name_only(tmp_path):
    """Uploads live in server temp folders: a message shown to a visitor names the file, not where it is."""
    upload = tmp_path / "gradio" / "0123abcd"
    upload.mkdir(parents=True)
    (upload / "doc.txt").write_text("x")
    (upload / "folder.csv").mkdir()
    cases = [(lambda: load_dataset(DataConfig(dataset=str(upload / "none.csv")), "cpu"), "CSV file not found: none.csv"),
             (lambda: load_dataset(DataConfig(dataset=str(upload / "none.zip")), "cpu"), "no such file or folder: none.zip"),
             (lambda: load_dataset(DataConfig(dataset=str(upload / "doc.txt")), "cpu"), "doc.txt is not an image folder"),
             (lambda: data._read_csv_points(upload / "folder.csv"), "cannot read folder.csv: Is a directory")]
    for load, message in cases:
        with pytest.raises(DataError) as info:
            load()
        assert str(info.value).startswith(message) and str(tmp_path) not in str(info.value)


def test_dataset_from_points():
    pts = np.random.default_rng(0).normal(size=(32, 2))
    ds = dataset_from_points(pts, "cpu", name="mine")
    assert ds.name == "mine" and ds.x.dtype == torch.float32 and ds.x.shape == (32, 2)
    assert torch.equal(dataset_from_points(torch.from_numpy(pts), torch.device("cpu")).x, ds.x)
    for bad in (np.zeros((32, 3)), np.zeros((4, 2)), np.full((32, 2), np.nan)):
        with pytest.raises(DataError):
            dataset_from_points(bad, "cpu")


# --------------------------------------------------------------------------- digits and sampling
def test_digits_shapes_labels_and_split():
    train = load_dataset(DataConfig(dataset="digits"), "cpu")
    test = load_dataset(DataConfig(dataset="digits"), "cpu", split="test")
    assert train.kind == "image" and train.x.shape == (1438, 1, 32, 32) and test.x.shape == (359, 1, 32, 32)
    assert train.x.dtype == torch.float32 and train.x.min() >= -1 and train.x.max() <= 1
    assert train.x.min() == -1 and train.x.max() > 0.9  # the full range is used
    assert train.y.dtype == torch.int64 and set(train.y.tolist()) == set(range(10))
    assert train.n_classes == 10 and train.class_names == [str(i) for i in range(10)]
    assert train.channels == 1 and train.img_size == 32 and train.data_dim == 1024
    a, b = data._digits_split(1797, "train"), data._digits_split(1797, "test")
    assert len(a) == 1438 and len(b) == 359 and not set(a) & set(b) and set(a) | set(b) == set(range(1797))
    rgb = load_dataset(DataConfig(dataset="digits", img_size=16, channels=3), "cpu", split="test")
    assert rgb.x.shape == (359, 3, 16, 16) and torch.equal(rgb.x[:, 0], rgb.x[:, 2])


def test_sample_is_seeded_and_matches_labels():
    ds = load_dataset(DataConfig(dataset="digits", img_size=16), "cpu", split="test")
    x1, y1 = ds.sample(12, torch.Generator().manual_seed(3))
    x2, y2 = ds.sample(12, torch.Generator().manual_seed(3))
    assert x1.shape == (12, 1, 16, 16) and y1.shape == (12,) and x1.device == ds.x.device
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    idx = torch.randint(0, len(ds), (12,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(x1, ds.x[idx]) and torch.equal(y1, ds.y[idx])
    points = load_dataset(DataConfig(dataset="ring8", n_points=200), "cpu")
    px, py = points.sample(7, torch.Generator().manual_seed(0))
    assert px.shape == (7, 2) and py is None


# --------------------------------------------------------------------------- torchvision sets from local files
def test_mnist_from_idx_files(tmp_path, no_network):
    sets = write_mnist(tmp_path)
    ds = load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path), img_size=16), "cpu")
    assert ds.name == "mnist" and ds.x.shape == (20, 1, 16, 16) and ds.x.min() >= -1 and ds.x.max() <= 1
    assert ds.y.tolist() == sets["train"][1].tolist() and ds.n_classes == 10 and ds.class_names[0] == "0 - zero"
    native = load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path), img_size=32, channels=3), "cpu",
                          split="test")
    assert native.x.shape == (10, 3, 32, 32) and torch.equal(native.x[:, 0], native.x[:, 1])
    flat = load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path), img_size=64), "cpu", split="test")
    assert flat.x.shape == (10, 1, 64, 64)


def test_fashion_mnist_from_gzipped_idx_files(tmp_path, no_network):
    sets = write_mnist(tmp_path, folder="FashionMNIST", compress=True)
    ds = load_dataset(DataConfig(dataset="fashion-mnist", data_dir=str(tmp_path), img_size=16), "cpu", split="test")
    assert ds.x.shape == (10, 1, 16, 16) and ds.y.tolist() == sets["t10k"][1].tolist()
    assert ds.class_names[0] == "T-shirt/top" and ds.n_classes == 10


def test_cifar10_from_local_batches(tmp_path, monkeypatch, no_network):
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: (tmp_path / path).is_file())  # no md5 of fakes
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    red = np.zeros((2, 3, 32, 32), np.uint8)
    red[:, 0] = 255
    for name in data._CIFAR_FILES[:-1]:
        (folder / name).write_bytes(pickle.dumps({"data": red.reshape(2, -1), "labels": [1, 2]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    ds = load_dataset(DataConfig(dataset="cifar10", data_dir=str(tmp_path), img_size=16), "cpu")
    assert ds.x.shape == (10, 3, 16, 16) and ds.class_names[1] == "c1" and ds.y.tolist() == [1, 2] * 5
    assert torch.allclose(ds.x[:, 0], torch.ones(1)) and torch.allclose(ds.x[:, 1], -torch.ones(1))
    gray = load_dataset(DataConfig(dataset="cifar10", data_dir=str(tmp_path), img_size=32, channels=1), "cpu", "test")
    assert gray.x.shape == (2, 1, 32, 32)
    assert torch.allclose(gray.x, torch.tensor(0.299 * 2 - 1), atol=1e-5)  # luminance of pure red


def test_corrupt_local_files_are_reported_without_downloading(tmp_path, no_network):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="cannot read mnist"):
        load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path)), "cpu")


def offline_urlopen(fetched: list):
    """urllib.request.urlopen without a network: each call is kept in `fetched` (its arguments), then fails as
    a lookup does offline."""
    def urlopen(*args, **kwargs):
        fetched.append(args)
        raise urllib.error.URLError("Temporary failure in name resolution")

    return urlopen


def test_no_network_gives_one_quick_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_can_reach", lambda url, timeout=0: False)
    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", offline_urlopen(fetched))
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path / "cache")), "cpu")
    assert fetched == []  # quick: the probe found no network, so no download was tried (none waits for a timeout)
    msg = str(err.value)
    assert "could not download mnist" in msg and str(tmp_path / "cache" / "MNIST" / "raw") in msg
    assert "train-images-idx3-ubyte" in msg and "digits" in msg and "\n" not in msg
    with pytest.raises(DataError, match=r"could not download cifar10 .*cifar-10-python\.tar\.gz"):
        load_dataset(DataConfig(dataset="cifar10", data_dir=str(tmp_path / "cache")), "cpu")


def test_failed_download_is_wrapped_and_timeout_restored(tmp_path, monkeypatch):
    fetched = []
    monkeypatch.setattr(data, "_can_reach", lambda url, timeout=0: True)  # the probe passes, the download fails
    monkeypatch.setattr(urllib.request, "urlopen", offline_urlopen(fetched))
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset="fashion-mnist", data_dir=str(tmp_path)), "cpu")
    mirrors = data._torchvision_class("fashion-mnist").mirrors
    assert 0 < len(fetched) <= 2 * len(mirrors)  # quick: each mirror tried once (a HEAD, then the file), no retries
    assert str(err.value).startswith("could not download fashion-mnist") and "\n" not in str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in str(err.value)
    assert socket.getdefaulttimeout() == before


def test_can_reach_probe(monkeypatch):
    calls = []

    def connect(address, timeout=None):
        calls.append((address, timeout))
        raise OSError("unreachable")

    monkeypatch.setattr(urllib.request, "getproxies", lambda: {})
    monkeypatch.setattr(socket, "create_connection", connect)
    assert data._can_reach("https://example.org/x.gz") is False
    assert calls[0][0] == ("example.org", 443) and calls[0][1] == data.DOWNLOAD_PROBE_TIMEOUT_S


# --------------------------------------------------------------------------- folders and zips
def make_folder(root, n_good=20):
    (root / "sub" / "deeper").mkdir(parents=True)
    modes = ("RGB", "RGBA", "L")
    for i in range(n_good):
        where = root if i % 3 == 0 else (root / "sub" if i % 3 == 1 else root / "sub" / "deeper")
        (where / f"img{i:02d}.png").write_bytes(png_bytes(i, mode=modes[i % 3]))
    Image.new("RGB", (30, 10), (200, 10, 10)).save(root / "wide.jpg")
    Image.new("P", (10, 10)).save(root / "anim.gif")
    (root / "notes.txt").write_text("hello")
    (root / "bad.png").write_bytes(b"this is not a png")
    (root / "cut.png").write_bytes(png_bytes(99)[:40])
    (root / ".DS_Store").write_bytes(b"\0\1junk")  # OS clutter: ignored without a mention
    return n_good + 2  # usable images


def test_image_folder_skips_bad_files_with_one_note(tmp_path):
    usable = make_folder(tmp_path / "pics")
    ds = load_dataset(DataConfig(dataset=str(tmp_path / "pics"), img_size=16), "cpu")
    assert ds.name == "pics" and ds.kind == "image" and ds.x.shape == (usable, 3, 16, 16)
    assert ds.y is None and ds.n_classes == 0 and ds.x.dtype == torch.uint8  # pixels; floats per batch
    assert ds.images().min() >= -1 and ds.images().max() <= 1
    assert ds.note.startswith(f"skipped 3 of {usable + 3} files: ")
    assert "notes.txt (not an image)" in ds.note and "bad.png (cannot be decoded)" in ds.note
    assert "cut.png (cannot be decoded)" in ds.note and ".DS_Store" not in ds.note
    gray = load_dataset(DataConfig(dataset=str(tmp_path / "pics"), img_size=16, channels=1), "cpu", split="test")
    assert gray.x.shape == (usable, 1, 16, 16)


def test_note_lists_at_most_five_names(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(16):
        (folder / f"ok{i}.png").write_bytes(png_bytes(i))
    for i in range(8):
        (folder / f"junk{i}.txt").write_text("x")
    note = load_dataset(DataConfig(dataset=str(folder), img_size=16), "cpu").note
    assert note.startswith("skipped 8 of 24 files:") and note.endswith(", ...") and note.count("(not an image)") == 5


def test_huge_images_count_as_skipped(tmp_path, monkeypatch):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(16):
        (folder / f"ok{i}.png").write_bytes(png_bytes(i))
    Image.new("L", (40, 40)).save(folder / "huge.png")
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 500)
    ds = load_dataset(DataConfig(dataset=str(folder), img_size=16), "cpu")
    assert len(ds) == 16 and "huge.png (too large" in ds.note
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 10**9)
    for pil_limit in (1000, 300):  # PIL's own guard: a warning above its limit, an error above twice it
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pil_limit)
        ds = load_dataset(DataConfig(dataset=str(folder), img_size=16), "cpu")
        assert len(ds) == 16 and ds.note == "skipped 1 of 17 files: huge.png (too large)"


def test_too_few_images_and_bad_paths(tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.png").write_bytes(png_bytes(i))
    (folder / "a.txt").write_text("x")
    with pytest.raises(DataError, match="5 usable images; at least 16"):
        load_dataset(DataConfig(dataset=str(folder)), "cpu")
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(DataConfig(dataset=str(tmp_path / "nowhere")), "cpu")
    (tmp_path / "doc.txt").write_text("x")
    with pytest.raises(DataError, match="not an image folder"):
        load_dataset(DataConfig(dataset=str(tmp_path / "doc.txt")), "cpu")
    with pytest.raises(DataError, match="ring8, grid25"):
        load_dataset(DataConfig(dataset="imagenet"), "cpu")
    with pytest.raises(DataError, match="split"):
        load_dataset(DataConfig(dataset="ring8"), "cpu", split="val")


def write_zip(path, members: dict, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, payload in members.items():
            if name.endswith("/"):
                zf.mkdir(name.rstrip("/")) if hasattr(zf, "mkdir") else zf.writestr(name, b"")
            else:
                zf.writestr(name, payload)


def test_zip_of_images(tmp_path):
    members = {f"photos/{i}.png": png_bytes(i) for i in range(18)}
    members.update({"photos/": b"", "__MACOSX/photos/._0.png": b"junk", "photos/readme.md": b"hi"})
    write_zip(tmp_path / "set.zip", members)
    ds = load_dataset(DataConfig(dataset=str(tmp_path / "set.zip"), img_size=16), "cpu")
    assert ds.name == "set.zip" and ds.x.shape == (18, 3, 16, 16)
    assert ds.note == "skipped 1 of 19 files: photos/readme.md (not an image)"
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        load_dataset(DataConfig(dataset=str(tmp_path / "fake.zip")), "cpu")


def test_zip_member_with_traversal_name_is_never_written(tmp_path, monkeypatch):
    def no_extract(*args, **kwargs):
        raise AssertionError("zip members must not be extracted")

    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extract)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extract)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    members = {f"{i}.png": png_bytes(i) for i in range(16)}
    members["../../evil.png"] = png_bytes(100)
    write_zip(work / "evil.zip", members)
    with zipfile.ZipFile(work / "evil.zip") as zf:
        assert "../../evil.png" in zf.namelist()
    monkeypatch.chdir(work)
    before = sorted(p for p in tmp_path.rglob("*"))
    ds = load_dataset(DataConfig(dataset=str(work / "evil.zip"), img_size=16), "cpu")
    assert len(ds) == 17  # read in memory like any other member
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not any(p.name == "evil.png" for p in tmp_path.parent.rglob("evil.png"))


def test_zip_bombs_are_refused(tmp_path, monkeypatch):
    images = {f"{i}.png": png_bytes(i) for i in range(16)}
    monkeypatch.setattr(data, "ZIP_RATIO_MIN_BYTES", 10_000)
    write_zip(tmp_path / "ratio.zip", {**images, "bomb.bmp": b"\0" * 400_000})
    with pytest.raises(DataError, match=r"zip refused: .*bomb\.bmp.*compressed"):
        load_dataset(DataConfig(dataset=str(tmp_path / "ratio.zip")), "cpu")

    write_zip(tmp_path / "ok.zip", images)
    monkeypatch.setattr(data, "MAX_ZIP_TOTAL_BYTES", 2_000)
    with pytest.raises(DataError, match=r"zip refused: ok.zip unpacks to .* KiB of images \(the limit is 2.0 KiB\)"):
        load_dataset(DataConfig(dataset=str(tmp_path / "ok.zip")), "cpu")
    monkeypatch.undo()

    monkeypatch.setattr(data, "MAX_ZIP_MEMBER_BYTES", 100)
    with pytest.raises(DataError, match="zip refused: ok.zip member 0.png unpacks to"):
        load_dataset(DataConfig(dataset=str(tmp_path / "ok.zip")), "cpu")
    monkeypatch.undo()

    monkeypatch.setattr(data, "MAX_ZIP_MEMBERS", 5)
    with pytest.raises(DataError, match="zip refused: .*16 entries"):
        load_dataset(DataConfig(dataset=str(tmp_path / "ok.zip")), "cpu")


def test_zip_pixels_are_budgeted_from_headers_before_decoding(tmp_path, monkeypatch):
    write_zip(tmp_path / "many.zip", {f"{i:02d}.png": png_bytes(i) for i in range(20)})  # 12 x 9 = 108 pixels each
    decoded = []
    flatten = imagefiles.flatten
    monkeypatch.setattr(imagefiles, "flatten", lambda im, channels: decoded.append(im.size) or flatten(im, channels))
    monkeypatch.setattr(data, "MAX_UPLOAD_PIXELS", 17 * 108 + 50)
    with pytest.raises(DataError, match=r"zip refused: many.zip holds more than 0 million pixels of images; "
                                        r"make them smaller \(training uses 16 x 16\)"):
        load_dataset(DataConfig(dataset=str(tmp_path / "many.zip"), img_size=16), "cpu")
    assert len(decoded) == 17  # the 18th image was refused from its header, before decoding
    # JPEGs count at the reduced scale they are decoded at: 512 x 512 decodes as 64 x 64 for 16 px.
    photo = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 30, 30)).save(photo, format="JPEG")
    write_zip(tmp_path / "photos.zip", {f"{i:02d}.jpg": photo.getvalue() for i in range(16)})
    monkeypatch.setattr(data, "MAX_UPLOAD_PIXELS", 16 * 64 * 64)
    decoded.clear()
    assert len(load_dataset(DataConfig(dataset=str(tmp_path / "photos.zip"), img_size=16), "cpu")) == 16
    assert decoded == [(64, 64)] * 16


def test_reads_are_capped_whatever_the_header_says():
    assert imagefiles.read_capped(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(imagefiles.TooBig):
        imagefiles.read_capped(io.BytesIO(b"x" * 11), 10)


def test_dataset_is_the_contract_dataclass():
    ds = load_dataset(DataConfig(dataset="grid25", n_points=100), torch.device("cpu"))
    assert isinstance(ds, Dataset) and ds.note == "" and ds.device.type == "cpu"
