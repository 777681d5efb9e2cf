"""A run's recorded timeline: bounded frames, the PNG strip round trip, refusals, and the CLI writing it."""
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from gan_demo.__main__ import main
from gan_demo.render import timeline as tl
from gan_demo.render.timeline import Timeline, TimelineError, TimelineRecorder, read_timeline, save_timeline


def frame(value: int, size=(12, 6), mode="L") -> Image.Image:
    return Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value))


class Rec:
    def __init__(self, step):
        self.step = step


class FakeTrainer:
    """What the recorder reads of a Trainer: its step, kind, classes and the fixed batch's samples."""
    kind, step = "image", 0

    def sample_fixed(self):
        import torch
        return torch.full((40, 1, 4, 4), (self.step % 100) / 100)

    class cfg:
        class model:
            n_classes = 10


def record(rec: TimelineRecorder, steps) -> FakeTrainer:
    trainer = FakeTrainer()
    for step in steps:
        trainer.step = step
        rec(trainer, Rec(step))
    return trainer


def test_recorder_stays_bounded_keeping_first_and_spacing_evenly():
    rec = TimelineRecorder(every=10, max_frames=8)
    record(rec, range(0, 1001))
    steps = rec.timeline.steps
    assert len(steps) <= 8 and steps[0] == 0
    assert len(set(np.diff(steps))) == 1  # evenly spaced after thinning
    assert rec.stride == steps[1] - steps[0] > 10


def test_recorder_as_callback_keeps_every_stride_and_the_last_step():
    rec = TimelineRecorder(every=5)
    trainer = record(rec, range(1, 23))
    assert rec.timeline.steps == [1, 6, 11, 16, 21]
    assert rec.finish(trainer).steps[-1] == 22
    assert rec.timeline.frames[0].mode == "L" and rec.timeline.frames[0].size == (10 * 6 + 2, 3 * 6 + 2)  # 30 of 40


@pytest.mark.parametrize("fast", [False, True], ids=["final", "periodic"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_strip_round_trip(tmp_path, mode, fast):
    frames = [frame(v, mode=mode) for v in (0, 100, 255)]
    save_timeline(tmp_path, Timeline([0, 50, 100], frames), fast=fast)
    back = read_timeline(tmp_path)
    assert back.steps == [0, 50, 100] and len(back.frames) == 3
    for a, b in zip(frames, back.frames):
        assert b.size == a.size and b.mode == mode
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 8  # 16 grey levels for L
    assert back.at(75)[0] == 50 and back.at(-3)[0] == 0 and back.at(10 ** 6)[0] == 100


def test_missing_is_none_and_bad_files_are_refused(tmp_path, monkeypatch):
    assert read_timeline(tmp_path) is None
    (tmp_path / tl.TIMELINE_FILE).write_bytes(b"not a png")
    with pytest.raises(TimelineError):
        read_timeline(tmp_path)
    Image.new("L", (8, 8)).save(tmp_path / tl.TIMELINE_FILE)  # a PNG without the steps
    with pytest.raises(TimelineError, match="does not hold"):
        read_timeline(tmp_path)
    info = PngImagePlugin.PngInfo()  # steps that do not match the strip's height
    info.add_text(tl.TIMELINE_KEY, json.dumps({"steps": [0, 10, 20], "frame_height": 4, "mode": "L"}))
    Image.new("L", (8, 8)).save(tmp_path / tl.TIMELINE_FILE, pnginfo=info)
    with pytest.raises(TimelineError, match="does not hold"):
        read_timeline(tmp_path)
    save_timeline(tmp_path, Timeline([0, 1], [frame(0), frame(9)]))
    monkeypatch.setattr(tl, "MAX_PIXELS", 100)  # checked from the header, before decoding
    with pytest.raises(TimelineError, match="pixels"):
        read_timeline(tmp_path)


def test_cli_writes_the_timeline_and_resume_continues_it(tmp_path, capsys):
    out = tmp_path / "digits"
    tiny = ["--dataset", "digits", "--img-size", "16", "--ngf", "8", "--ndf", "8", "--z-dim", "16", "--batch-size", "16",
            "--conditional", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(["train", "--steps", "12", "--timeline-every", "4", *tiny]) == 0
    # Frames at the trainer's step when records are read back (every few steps, as the clock says), at least 4
    # apart, and the final save's frame of the last step however near the one before it (TimelineRecorder.finish).
    first = read_timeline(out)
    periodic = first.steps[:-1]
    assert first.steps[0] == 0 and first.steps[-1] == 12 and first.steps[-2] < 12
    assert all(b - a >= 4 for a, b in zip(periodic, periodic[1:])), first.steps
    assert first.frames[0].size == (10 * 18 + 2, 3 * 18 + 2)  # three rows of ten classes, 16 px each
    assert main(["train", "--resume", "--steps", "20", "--timeline-every", "4", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    resumed = read_timeline(out).steps
    assert resumed[:len(first)] == first.steps and resumed[-1] == 20 and len(resumed) > len(first)
    none = tmp_path / "none"
    assert main(["train", "--steps", "2", "--timeline-every", "0", *tiny[:-5], "--out", str(none), "--quiet",
                 "--device", "cpu"]) == 0
    assert not (none / tl.TIMELINE_FILE).exists()
    capsys.readouterr()


def test_a_2d_frame_draws_its_real_points_once_per_dataset():
    """A 2D run's frame: the same pixels as points_image over its real data, the backdrop drawn once for the
    dataset (a seed sweep's runs share it) and dropped with it."""
    import gc

    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.render import viz
    from gan_demo.training.trainer import Trainer

    trainer = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                                train=TrainConfig(steps=2, device="cpu")))
    real = trainer.dataset.x[:2000].cpu()
    expected = viz.points_image(real, trainer.sample_fixed(), viz.default_bounds(real), size=tl.POINTS_SIZE, legend=False)
    before = len(tl._backdrops)
    for _ in range(2):
        assert np.array_equal(np.asarray(tl.progress_frame(trainer)), np.asarray(expected))
    assert len(tl._backdrops) == before + 1
    del trainer, real
    gc.collect()
    assert len(tl._backdrops) == before
