"""Measure what hostile uploads and big web runs cost (not a pytest test): time and peak RSS, each case in a fresh process.

    .venv/bin/python tests/measure_limits.py [upload] [drawing] [zip] [step:NAME ...]

upload   Catalog.add_upload of the audit's run zip: small weights, a config asking for a 64 px DCGAN
         with ngf = ndf = 1024 (2 G parameters).
drawing  the 2D lab's Sketchpad preprocess on a PNG of 12000 x 12000 pixels (17 KB, blank).
zip      load_dataset on a zip of 16 PNGs of 7999 x 7999 pixels (just under the per-image limit).
step:N   a few training steps of a named config (STEP_CONFIGS) beside models.step_cost's estimate.

Prints one JSON object per case with the seconds, the growth of the peak RSS (ru_maxrss) and the
outcome, plus the machine's load: the figures are noisy on a shared machine.
"""
from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP_CONFIGS = {  # name: (data, model, train) fields
    "ring8": ({"dataset": "ring8"}, {}, {}),
    "digits": ({"dataset": "digits"}, {}, {}),
    "digits64": ({"dataset": "digits", "img_size": 64}, {}, {}),
    "ring8_w1024_d8": ({"dataset": "ring8"}, {"width": 1024, "depth": 8}, {}),
    "digits32_rgb_ngf256": ({"dataset": "digits", "channels": 3}, {"ngf": 256, "ndf": 256}, {}),
    "digits64_rgb_ngf256_b16": ({"dataset": "digits", "img_size": 64, "channels": 3}, {"ngf": 256, "ndf": 256},
                                {"batch_size": 16}),
}


def blank_png(path: Path, side: int) -> Path:
    """A valid 1-bit PNG of side x side black pixels, a few KB: rows are streamed through zlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(case: str, tmp: Path) -> dict:
    """Prepare the case, then time only the call under test and the growth of the peak RSS."""
    if case == "upload":
        from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
        from gan_demo.training.trainer import Trainer
        from gan_demo.ui.app import AppContext

        Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8),
                          train=TrainConfig(batch_size=64, steps=1)), device="cpu").save(tmp / "run")
        config = json.loads((tmp / "run" / "config.json").read_text())
        config["data"]["img_size"] = config["model"]["img_size"] = 64
        config["model"]["ngf"] = config["model"]["ndf"] = 1024
        with zipfile.ZipFile(tmp / "huge.zip", "w") as zf:
            zf.write(tmp / "run" / "model.safetensors", "run/model.safetensors")
            zf.writestr("run/config.json", json.dumps(config))
        ctx = AppContext.create(device="cpu", pretrained=tmp)
        call = lambda: ctx.catalog.add_upload(tmp / "huge.zip", ctx.registry.get("uploader"))  # noqa: E731
    elif case == "drawing":
        import gradio as gr
        from gradio.components.image_editor import EditorData
        from gradio.data_classes import FileData

        from gan_demo.ui.app import AppContext

        with gr.Blocks():
            from gan_demo.ui.tabs import lab as lab_tab

            pad = lab_tab.build(AppContext.create(device="cpu"))["drawing"]
        png = blank_png(tmp / "huge.png", 12000)

        def call():
            value = pad.preprocess(EditorData(background=None, layers=[], composite=FileData(path=str(png))))
            return f"accepted: composite {value['composite'].shape}"
    elif case == "zip":
        from gan_demo.core.config import DataConfig
        from gan_demo.data.datasets import load_dataset

        png = blank_png(tmp / "big.png", 7999)
        with zipfile.ZipFile(tmp / "big16.zip", "w") as zf:
            for i in range(16):
                zf.write(png, f"{i:02d}.png")
        call = lambda: f"accepted: {len(load_dataset(DataConfig(dataset=str(tmp / 'big16.zip'), img_size=32), 'cpu'))} images"  # noqa: E731
    elif case.startswith("step:"):
        from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
        from gan_demo.families.nets import step_cost
        from gan_demo.training.trainer import Trainer

        data, model, train = STEP_CONFIGS[case[5:]]
        trainer = Trainer(RunConfig(data=DataConfig(**data), model=ModelConfig(**model),
                                    train=TrainConfig(steps=1000, **train)), device="cpu")
        cost = step_cost(trainer.cfg)
        trainer.step_once()  # warm-up
        steps = 3

        def call():
            for _ in range(steps):
                trainer.step_once()
            return {"est_gflop": round(cost.flops / 1e9, 1), "est_mib": round(cost.memory_bytes / 2**20),
                    "precision": trainer.precision, "threads": __import__("torch").get_num_threads()}
    else:
        raise SystemExit(f"unknown case {case!r}")
    before = peak_mib()
    start = time.perf_counter()
    try:
        outcome = call()
    except Exception as exc:  # the refusal is the outcome being measured
        outcome = f"refused: {exc}"[:200]
    seconds = time.perf_counter() - start
    out = {"case": case, "seconds": round(seconds, 2), "peak_rss_growth_mib": round(peak_mib() - before)}
    if case.startswith("step:"):
        out.update(ms_per_step=round(1000 * seconds / steps), **outcome)
    else:
        out["outcome"] = outcome
    return out


def main() -> None:
    cases = sys.argv[1:] or ["upload", "drawing", "zip", "step:digits"]
    if len(cases) == 1 and os.environ.get("MEASURE_LIMITS_CHILD"):
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(measure(cases[0], Path(tmp))))
        return
    for case in cases:  # each in its own process: ru_maxrss is a per-process peak
        out = subprocess.run([sys.executable, __file__, case], env={**os.environ, "MEASURE_LIMITS_CHILD": "1"},
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps({"case": case, "error": out.stderr[-500:]})
        result = json.loads(line)
        result["load"] = os.getloadavg()[0]
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
