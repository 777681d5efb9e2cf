"""Large image sets: parallel decoding, the decoded-image cache, uint8 storage, host batches, celeba, trusted limits."""
import faulthandler
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_demo.data import datasets as data
from gan_demo.data import image_decode as imagefiles
from gan_demo.data import image_cache as imagestore
from gan_demo.core.config import DataConfig
from gan_demo.data.datasets import DataError, Dataset, load_dataset

N_GOOD = 40
POOL_TIMEOUT_S = 120  # a hung worker pool ends the test run with tracebacks instead of hanging it


# --------------------------------------------------------------------------- helpers
def jpeg_bytes(i: int, size=(36, 44)) -> bytes:
    """A small JPEG with CelebA's aspect (178 x 218 scaled down): a gradient and a block that move with i."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 7 + i * 13) % 256, (yy * 5 + i * 29) % 256, ((xx + yy) * 3 + i * 47) % 256], -1)
    arr[(i % 5) * 6:(i % 5) * 6 + 10, 8:20] = 255 - i
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def celeba_like(folder: Path, n: int = N_GOOD) -> Path:
    """A CelebA-like folder: n numbered JPEGs, one file that is not a JPEG and one cut short."""
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i + 1:06d}.jpg").write_bytes(jpeg_bytes(i))
    (folder / f"{n + 1:06d}.jpg").write_bytes(b"not a jpeg at all")
    (folder / f"{n + 2:06d}.jpg").write_bytes(jpeg_bytes(99)[:200])
    return folder


def zip_of(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"img_align_celeba/{p.name}")
    return path


def cfg(source, data_dir, img_size=16, channels=0) -> DataConfig:
    return DataConfig(dataset=str(source), data_dir=str(data_dir), img_size=img_size, channels=channels)


@pytest.fixture
def parallel(monkeypatch):
    """Worker processes even for 40 files: 2 workers, chunks of 8 files; counts the pools started. With a timeout."""
    pools = []
    faulthandler.dump_traceback_later(POOL_TIMEOUT_S, exit=True)

    class CountingPool(imagefiles.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(imagefiles, "PARALLEL_MIN_FILES", 0)
    monkeypatch.setattr(imagefiles, "CHUNK_MIN", 8)
    monkeypatch.setattr(imagefiles, "default_workers", lambda: 2)
    monkeypatch.setattr(imagefiles, "ProcessPoolExecutor", CountingPool)
    yield pools
    faulthandler.cancel_dump_traceback_later()


def cache_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / imagestore.CACHE_FOLDER).glob("*.npy"))


# --------------------------------------------------------------------------- decoding
def test_parallel_decode_equals_serial_decode(tmp_path, parallel):
    folder = celeba_like(tmp_path / "img_align_celeba")
    serial = load_dataset(cfg(folder, tmp_path / "d0"), "cpu")  # untrusted: in this process
    assert parallel == []
    fast = load_dataset(cfg(folder, tmp_path / "d1"), "cpu", trusted=True)
    assert parallel == [2]  # one pool of two workers
    assert fast.x.dtype == torch.uint8 and fast.x.shape == (N_GOOD, 3, 16, 16)
    assert torch.equal(fast.x, serial.x) and fast.note == serial.note
    assert serial.note == f"skipped 2 of {N_GOOD + 2} files: 000041.jpg (cannot be decoded), 000042.jpg (cannot be decoded)"

    archive = zip_of(folder, tmp_path / "celeba.zip")
    zipped = load_dataset(cfg(archive, tmp_path / "d2"), "cpu", trusted=True)  # workers open the zip themselves
    assert parallel == [2, 2]
    assert torch.equal(zipped.x, serial.x) and zipped.note.startswith(f"skipped 2 of {N_GOOD + 2} files: img_align")


def test_folder_order_is_pathlib_order(tmp_path):
    for rel in ("a-c.png", "a.png", "a/b.png", "b/a.png", "B.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    names = [e[0] for e in imagefiles.scan_folder(tmp_path, 100)]
    assert names == [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*.png"))]
    with pytest.raises(imagefiles.TooManyFiles):
        imagefiles.scan_folder(tmp_path, 4)


# --------------------------------------------------------------------------- the cache
def test_cache_is_written_reused_and_rebuilt_when_the_source_changes(tmp_path, monkeypatch):
    folder = celeba_like(tmp_path / "photos")
    first = load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)
    assert not first.from_cache
    [npy] = cache_files(tmp_path / "data")
    assert re.fullmatch(r"[0-9a-f]{32}\.npy", npy.name) and npy.with_suffix(".json").is_file()
    record = json.loads(npy.with_suffix(".json").read_text())
    assert record["shape"] == [N_GOOD, 3, 16, 16] and record["note"] == first.note

    with monkeypatch.context() as m:
        m.setattr(imagefiles, "decode_chunk", lambda *a, **k: pytest.fail("decoded although cached"))
        again = load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)
    assert again.from_cache and torch.equal(again.x, first.x) and again.note == first.note

    # another size or channel count is another set; the first stays
    gray = load_dataset(cfg(folder, tmp_path / "data", img_size=32, channels=1), "cpu", trusted=True)
    assert not gray.from_cache and gray.x.shape == (N_GOOD, 1, 32, 32) and len(cache_files(tmp_path / "data")) == 2

    (folder / "000100.jpg").write_bytes(jpeg_bytes(100))  # a new file: a new key, decoded again
    grown = load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)
    assert not grown.from_cache and len(grown) == N_GOOD + 1
    assert torch.equal(grown.x[:N_GOOD], first.x)


def test_stale_or_corrupt_cache_is_rebuilt_never_trusted(tmp_path):
    folder = celeba_like(tmp_path / "photos")
    data_dir = tmp_path / "data"
    first = load_dataset(cfg(folder, data_dir), "cpu", trusted=True)
    [npy] = cache_files(data_dir)
    size = npy.stat().st_size

    def corrupt_byte(path: Path):
        raw = bytearray(path.read_bytes())
        raw[-100] ^= 0xFF  # a pixel: only the checksum can tell
        path.write_bytes(bytes(raw))

    damages = {
        "truncated": lambda: npy.write_bytes(npy.read_bytes()[: size // 2]),
        "pixel flipped": lambda: corrupt_byte(npy),
        "header garbled": lambda: npy.write_bytes(b"\x93NUMPY garbage" + npy.read_bytes()[14:]),
        "record garbled": lambda: npy.with_suffix(".json").write_text("{not json"),
        "record missing": lambda: npy.with_suffix(".json").unlink(),
        "record of another source": lambda: npy.with_suffix(".json").write_text(
            json.dumps({**json.loads(npy.with_suffix(".json").read_text()), "key": {"path": "/elsewhere"}})),
    }
    for what, damage in damages.items():
        damage()
        ds = load_dataset(cfg(folder, data_dir), "cpu", trusted=True)
        assert not ds.from_cache, what
        assert torch.equal(ds.x, first.x), what
        assert load_dataset(cfg(folder, data_dir), "cpu", trusted=True).from_cache, what  # rebuilt and good again
        assert npy.stat().st_size == size and cache_files(data_dir) == [npy], what


def test_untrusted_loads_write_nothing(tmp_path):
    folder = celeba_like(tmp_path / "photos")
    ds = load_dataset(cfg(folder, tmp_path / "data"), "cpu")
    assert len(ds) == N_GOOD and not ds.from_cache and not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- uint8 storage, float batches
def test_uint8_storage_and_float_batches(tmp_path):
    ds = load_dataset(cfg(celeba_like(tmp_path / "photos"), tmp_path / "data", img_size=32), "cpu", trusted=True)
    assert ds.x.dtype == torch.uint8 and ds.x.shape == (N_GOOD, 3, 32, 32) and ds.x.is_contiguous()
    assert ds.x.max() > 200 and ds.x.min() < 50  # real pixels, not already scaled
    x, y = ds.sample(12, torch.Generator().manual_seed(3))
    assert y is None and x.dtype == torch.float32 and x.shape == (12, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    idx = torch.randint(0, N_GOOD, (12,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, ds.x[idx].float() * (2.0 / 255.0) - 1.0)  # the float store's values, bit for bit
    everything = ds.images()
    assert everything.dtype == torch.float32 and everything.shape == ds.x.shape
    assert everything.min() == -1.0 or everything.min() > -1.0
    assert torch.equal(ds.images(idx), x)
    assert imagestore.to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1.0, 1.0]
    assert ds.channels == 3 and ds.img_size == 32 and ds.data_dim == 3 * 32 * 32 and ds.device.type == "cpu"


def test_float_sets_stay_float():
    digits = load_dataset(DataConfig(dataset="digits", img_size=16), "cpu", split="test")
    assert digits.x.dtype == torch.float32 and digits.images() is digits.x  # resampled in float: no uint8 copy


def test_host_batches_copy_ahead_with_their_own_index_stream():
    pixels = torch.arange(30 * 3 * 4 * 4, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(30, 3, 4, 4)
    labels = torch.arange(30) % 7
    ds = Dataset(name="host", kind="image", x=pixels, y=labels, n_classes=7, class_names=[str(i) for i in range(7)],
                 modes=None, sigma=None, home=torch.device("cpu"))
    gen = torch.Generator().manual_seed(11)
    got = [ds.sample(5, gen) for _ in range(3)] + [ds.sample(2, gen)]  # a new batch size drops the prepared batch

    check = torch.Generator().manual_seed(11)
    stream = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=check)))
    draws = [torch.randint(0, 30, (5,), generator=stream) for _ in range(4)]  # 3 used, the 4th prepared
    draws.append(torch.randint(0, 30, (2,), generator=stream))
    for (x, y), idx in zip(got, draws[:3] + draws[4:]):
        assert x.dtype == torch.float32 and torch.equal(x, imagestore.to_float(pixels[idx])) and torch.equal(y, labels[idx])
    other = Dataset(name="host", kind="image", x=pixels, y=labels, n_classes=7, class_names=[], modes=None, sigma=None,
                    home=torch.device("cpu"))
    assert torch.equal(other.sample(5, torch.Generator().manual_seed(11))[0], got[0][0])  # the seed decides


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_device_and_pinned_host_stores_give_the_same_batches(tmp_path, monkeypatch):
    folder = celeba_like(tmp_path / "photos")
    on_gpu = load_dataset(cfg(folder, tmp_path / "data"), "cuda", trusted=True)
    assert on_gpu.x.is_cuda and on_gpu.x.dtype == torch.uint8 and on_gpu.home is None
    gen = torch.Generator(device="cuda").manual_seed(0)
    x, _ = on_gpu.sample(8, gen)
    cpu = load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)
    idx = torch.randint(0, N_GOOD, (8,), generator=torch.Generator(device="cuda").manual_seed(0), device="cuda")
    assert torch.equal(x.cpu(), cpu.images(idx.cpu()))

    monkeypatch.setattr(imagestore, "DEVICE_DATA_FRACTION", 0.0)  # "does not fit": pinned host memory
    host = load_dataset(cfg(folder, tmp_path / "data"), "cuda", trusted=True)
    assert host.x.device.type == "cpu" and host.x.is_pinned() and host.device.type == "cuda"
    gen = torch.Generator(device="cuda").manual_seed(0)
    batches = [host.sample(8, gen) for _ in range(3)]
    stream = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=torch.Generator(
        device="cuda").manual_seed(0), device="cuda")))
    for xb, _ in batches:
        assert xb.is_cuda and torch.equal(xb.cpu(), cpu.images(torch.randint(0, N_GOOD, (8,), generator=stream)))


# --------------------------------------------------------------------------- trusted and untrusted limits
def test_trusted_sources_get_the_large_limits(tmp_path, monkeypatch):
    folder = celeba_like(tmp_path / "photos")
    archive = zip_of(folder, tmp_path / "photos.zip")
    monkeypatch.setattr(data, "MAX_FOLDER_FILES", 30)
    monkeypatch.setattr(data, "MAX_ZIP_MEMBERS", 30)
    with pytest.raises(DataError, match="holds more than 30 files"):
        load_dataset(cfg(folder, tmp_path / "data"), "cpu")
    with pytest.raises(DataError, match=r"zip refused: photos.zip holds 42 entries \(the limit is 30\)"):
        load_dataset(cfg(archive, tmp_path / "data"), "cpu")
    assert len(load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)) == N_GOOD
    assert len(load_dataset(cfg(archive, tmp_path / "data"), "cpu", trusted=True)) == N_GOOD
    monkeypatch.setattr(data, "LOCAL_MAX_FILES", 30)
    with pytest.raises(DataError, match="holds more than 30 files"):
        load_dataset(cfg(folder, tmp_path / "data"), "cpu", trusted=True)


def test_trusted_zips_keep_the_bomb_checks(tmp_path, monkeypatch):
    members = {f"{i}.jpg": jpeg_bytes(i) for i in range(20)}
    monkeypatch.setattr(data, "ZIP_RATIO_MIN_BYTES", 10_000)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, payload in {**members, "bomb.bmp": b"\0" * 400_000}.items():
            zf.writestr(name, payload)
    with pytest.raises(DataError, match=r"zip refused: .*bomb\.bmp.*compressed"):
        load_dataset(cfg(tmp_path / "bomb.zip", tmp_path / "data"), "cpu", trusted=True)


def test_cli_trains_on_a_folder_over_the_upload_limit(tmp_path, monkeypatch, capsys):
    from gan_demo.__main__ import main

    folder = celeba_like(tmp_path / "photos")
    monkeypatch.setattr(data, "MAX_FOLDER_FILES", 30)
    code = main(["train", "--dataset", str(folder), "--data-dir", str(tmp_path / "data"), "--img-size", "16",
                 "--steps", "1", "--batch-size", "8", "--ngf", "4", "--ndf", "4", "--z-dim", "8", "--device", "cpu",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0 and (tmp_path / "run" / "model.safetensors").is_file()
    assert len(cache_files(tmp_path / "data")) == 1
    assert "decoded and cached in" in capsys.readouterr().err
    # eval reads the same uint8 set from the cache and scores against floats in [-1, 1]
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--n", "10", "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "read from" in captured.err and report["n_reference"] == N_GOOD
    assert 0 <= report["real"]["nn_train_rms_median"] < 1e-6  # real images against themselves (no held-out split)
    assert report["generated"]["nn_train_rms_median"] > 0.01


# --------------------------------------------------------------------------- celeba
def test_celeba_offline_gives_one_message_saying_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_can_reach", lambda url, timeout=0: False)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset="celeba", data_dir=str(tmp_path / "cache")), "cpu", trusted=True)
    msg = str(err.value)
    assert msg.startswith("could not download celeba (no network?)") and "\n" not in msg
    assert "img_align_celeba" in msg and str(tmp_path / "cache" / "celeba") in msg
    with pytest.raises(DataError, match="command line"):  # never decoded (or downloaded) inside the web app
        load_dataset(DataConfig(dataset="celeba", data_dir=str(tmp_path / "cache")), "cpu")


@pytest.mark.parametrize("layout", ["celeba/img_align_celeba", "img_align_celeba", "data_dir itself", "zip"])
def test_celeba_from_the_users_folder(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(data, "_can_reach", lambda url, timeout=0: pytest.fail("looked for the network"))
    root = tmp_path / "cache"
    if layout == "data_dir itself":
        root = celeba_like(tmp_path / "img_align_celeba")
    elif layout == "zip":
        (root / "celeba").mkdir(parents=True)
        zip_of(celeba_like(tmp_path / "unzipped"), root / "celeba" / "img_align_celeba.zip")
    else:
        celeba_like(root / layout)
    ds = load_dataset(DataConfig(dataset="celeba", data_dir=str(root), img_size=16), "cpu", trusted=True)
    assert ds.name == "celeba" and ds.x.shape == (N_GOOD, 3, 16, 16) and ds.y is None and "skipped 2 of 42" in ds.note
