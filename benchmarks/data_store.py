"""Measure a large image folder: first load (decode + cache), second load (memory-mapped cache), peak RSS, and the
training step's images/s from the uint8 store against a float32 store of the same images.

Each phase runs in a fresh process (so RSS and timings are its own); the cache folder under --data-dir is
emptied first. Prints one JSON object per phase, then a summary; load averages are recorded beside each.

    python benchmarks/make_jpeg_folder.py /work/bench_data/c20k/img_align_celeba --n 20000
    python benchmarks/data_store.py /work/bench_data/c20k/img_align_celeba --data-dir /work/bench_data/cache \\
        --img-size 64 --step-img-size 32
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:  # run as a script from a checkout: make gan_demo importable
    import gan_demo  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Descendants:
    """Polls /proc for this process's descendants (the decode workers, under the forkserver): their peak RSS and CPU."""

    def __init__(self, interval: float = 0.2):
        import threading

        self.peak_kib: dict[int, int] = {}
        self.cpu_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(interval,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _poll(self, interval: float) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            parents = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                        parents[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime+stime
                    except (OSError, IndexError, ValueError):
                        pass
            family, grew = {me}, True
            while grew:
                more = {pid for pid, (ppid, _) in parents.items() if ppid in family and pid not in family}
                family |= more
                grew = bool(more)
            for pid in family - {me}:
                self.cpu_ticks[pid] = parents[pid][1]
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), int(line.split()[1]))
                except OSError:
                    pass
            self._stop.wait(interval)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    @property
    def peak_mib(self) -> float:
        return max(self.peak_kib.values(), default=0) / 1024


def _timed(module, name: str, times: dict) -> None:
    """Wrap module.name to add its wall time to times[name] (the loader calls these through their modules)."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            times[name] = round(times.get(name, 0.0) + time.perf_counter() - start, 2)

    setattr(module, name, wrapper)


def phase_load(folder: str, data_dir: str, img_size: int) -> dict:
    import torch  # noqa: F401  (imported before the baseline: every real load has torch loaded)

    from gan_demo.data import image_decode as imagefiles
    from gan_demo.data import image_cache as imagestore
    from gan_demo.core.config import DataConfig
    from gan_demo.data.datasets import load_dataset

    parts: dict[str, float] = {}
    for module, name in ((imagefiles, "scan_folder"), (imagefiles, "decode_all"), (imagestore, "read_cache"),
                         (imagestore, "write_cache")):
        _timed(module, name, parts)
    baseline = _rss_kib()
    load_before = _load_average()
    start, cpu = time.perf_counter(), time.process_time()
    with Descendants() as workers:
        ds = load_dataset(DataConfig(dataset=folder, data_dir=data_dir, img_size=img_size, channels=3), "cpu",
                          trusted=True)
        seconds = time.perf_counter() - start
    files = int(ds.note.split(" of ")[1].split()[0].replace(",", "")) if ds.note else len(ds)
    cache = sum(p.stat().st_size for p in (Path(data_dir) / imagestore.CACHE_FOLDER).glob("*"))
    return {
        "phase": "second load" if ds.from_cache else "first load", "from_cache": ds.from_cache,
        "images": len(ds), "files": files, "img_size": img_size, "seconds": round(seconds, 2),
        "images_per_s": round(files / seconds, 1), "workers": imagefiles.default_workers(),
        "seconds_by_part": parts,  # scan_folder: listing + stat; decode_all: decoding; *_cache: checksum + I/O
        "cpu_seconds_self": round(time.process_time() - cpu, 1),
        "cpu_seconds_workers": round(workers.cpu_seconds, 1),
        "uint8_array_mib": round(ds.x.numel() / 2**20, 1), "cache_files_mib": round(cache / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_rss_mib": round(baseline / 1024, 1),  # python + torch before the load
        "peak_rss_worker_mib": round(workers.peak_mib, 1),
        "peak_rss_over_array": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (ds.x.numel() / 2**20), 2),
        "load_average_before": load_before, "load_average_after": _load_average(),
    }


def phase_step(folder: str, data_dir: str, img_size: int, steps: int, rounds: int, warmup: int, batch: int) -> dict:
    import dataclasses

    import torch

    from gan_demo.core.config import DataConfig, RunConfig, TrainConfig
    from gan_demo.data.datasets import load_dataset
    from gan_demo.training.trainer import Trainer

    load_before = _load_average()
    data_cfg = DataConfig(dataset=folder, data_dir=data_dir, img_size=img_size, channels=3)
    u8 = load_dataset(data_cfg, "cpu", trusted=True)
    f32 = dataclasses.replace(u8, x=u8.images())  # today's store: the whole set as float32 in [-1, 1]
    cfg = RunConfig(data=data_cfg, train=TrainConfig(batch_size=batch, seed=0, device="cpu"))
    trainers = {"uint8": Trainer(cfg, dataset=u8), "float32": Trainer(cfg, dataset=f32)}
    for tr in trainers.values():
        tr.run(tr.step + warmup)
    seconds = {name: 0.0 for name in trainers}
    per_round = max(1, steps // rounds)
    for _ in range(rounds):  # alternating rounds: a change in the machine's load hits both alike
        for name, tr in trainers.items():
            start = time.perf_counter()
            tr.run(tr.step + per_round)
            seconds[name] += time.perf_counter() - start
    same = all(torch.equal(a, b) for a, b in zip(trainers["uint8"].family.G.state_dict().values(),
                                                 trainers["float32"].family.G.state_dict().values()))
    n = per_round * rounds
    return {
        "phase": "training step", "img_size": img_size, "batch_size": batch, "images": len(u8), "steps": n,
        "precision": trainers["uint8"].precision, "torch_threads": torch.get_num_threads(),
        "images_per_s": {name: round(n * batch / s, 1) for name, s in seconds.items()},
        "store_mib": {"uint8": round(u8.x.numel() / 2**20, 1), "float32": round(f32.x.numel() * 4 / 2**20, 1)},
        "same_weights_after": same,  # the batches were bit-identical, so the two runs trained alike
        "load_average_before": load_before, "load_average_after": _load_average(),
    }


def run_phase(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *argv, "--phase-only"], capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"phase failed: {' '.join(argv)}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="image folder (e.g. made by make_jpeg_folder.py)")
    parser.add_argument("--data-dir", required=True, help="data folder for the cache (its image-cache/ is emptied first)")
    parser.add_argument("--img-size", type=int, default=64, help="image size of the load phases (default 64)")
    parser.add_argument("--step-img-size", type=int, default=32, help="image size of the training-step phase (default 32)")
    parser.add_argument("--steps", type=int, default=24, help="timed steps per store (default 24)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per store first (default 3)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of the training step (default 64)")
    parser.add_argument("--skip-step", action="store_true", help="load phases only")
    parser.add_argument("--phase", choices=["load", "step"], help=argparse.SUPPRESS)
    parser.add_argument("--phase-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase_only:
        if args.phase == "load":
            result = phase_load(args.folder, args.data_dir, args.img_size)
        else:
            result = phase_step(args.folder, args.data_dir, args.step_img_size, args.steps, args.rounds, args.warmup,
                                args.batch_size)
        print(json.dumps(result))
        return 0

    from gan_demo.data.image_cache import CACHE_FOLDER

    shutil.rmtree(Path(args.data_dir) / CACHE_FOLDER, ignore_errors=True)
    common = [args.folder, "--data-dir", args.data_dir, "--img-size", str(args.img_size)]
    results = [run_phase(common + ["--phase", "load"]), run_phase(common + ["--phase", "load"])]
    if not args.skip_step:
        results.append(run_phase(common + ["--phase", "step", "--step-img-size", str(args.step_img_size),
                                           "--steps", str(args.steps), "--rounds", str(args.rounds),
                                           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]))
    for r in results:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
