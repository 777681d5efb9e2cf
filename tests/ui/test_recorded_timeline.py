"""The pretrained digits' recorded training to scrub: looked up only among pretrained runs, read once per file
change, opened on its first step with a slider over its steps, and shown under a refused Start."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from PIL import Image

from gan_demo.render.timeline import Timeline, save_timeline
from gan_demo.ui import recorded_timeline as rt


class FakeCatalog:
    def __init__(self, root):
        self.pretrained_root = root

    def pretrained(self):
        return sorted(p.name for p in self.pretrained_root.iterdir() if (p / "config.json").is_file())


@pytest.fixture
def ctx(tmp_path):
    for name in ("digits", "ring8"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    frames = [Image.new("L", (34, 20), v) for v in (0, 119, 238)]  # grey levels a 4-bit strip keeps
    save_timeline(tmp_path / "digits", Timeline([0, 100, 300], frames))
    (tmp_path / "outside").mkdir()  # a folder with a timeline that is not a pretrained run
    save_timeline(tmp_path / "outside", Timeline([0], frames[:1]))
    return SimpleNamespace(catalog=FakeCatalog(tmp_path))


def test_only_pretrained_runs_with_a_timeline_are_read_and_cached(ctx, tmp_path):
    timelines = rt.timelines_of(ctx)
    first = timelines.get("digits")
    assert first.steps == [0, 100, 300] and timelines.get("digits") is first  # decoded once
    for name in ("ring8", "outside", "../digits", "digits/..", "/etc", ""):
        assert timelines.get(name) is None, name
    save_timeline(tmp_path / "digits", Timeline([0, 50], [Image.new("L", (34, 20), 9)] * 2))
    os.utime(tmp_path / "digits" / "timeline.png", ns=(1, 1))  # a changed file is read again
    assert timelines.get("digits").steps == [0, 50]
    (tmp_path / "digits" / "timeline.png").write_bytes(b"broken")
    assert timelines.get("digits") is None  # unreadable: no fold, as a missing one


def test_opened_shows_the_first_step_with_a_slider_over_the_steps(ctx):
    box, slider, picture, words = rt.opened(ctx, "digits")
    assert box["visible"] is True and box["open"] is True
    assert (slider["minimum"], slider["maximum"], slider["value"], slider["step"]) == (0, 300, 0, 100)
    assert picture.width >= rt.SHOWN_WIDTH and picture.width % 34 == 0  # enlarged by whole pixels
    assert "step **0**" in words and "untrained" in words
    picture, words = rt.scrub(ctx, "digits", 250)  # between frames: the one recorded before
    assert "step **100** of 300" in words and picture.getpixel((0, 0)) == 119
    assert "finished" in rt.scrub(ctx, "digits", 300)[1]
    assert rt.opened(ctx, "ring8")[0]["visible"] is False


def test_the_fold_opens_under_a_refused_start_only(tmp_path):
    """Through a launched app whose one slot is taken: Start is refused and the fold shows the recorded run."""
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.training.trainer import Trainer
    from tests.browser import launched_app
    from tests.raw_http import call, queue_event

    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                           train=TrainConfig(batch_size=32, steps=3)), device="cpu")
    tr.run()
    tr.save(tmp_path / "digits")  # any run stands in for the digits: the fold reads its timeline.png
    save_timeline(tmp_path / "digits", Timeline([0, 10], [Image.new("L", (34, 20), v) for v in (0, 200)]))
    with launched_app(tmp_path, max_runs=1) as (ctx, demo, url):
        tiny = '{"width": 16, "depth": 2, "batch_size": 32}'
        assert call(url, "train_start", ["ring8", 100_000, "nonsaturating", 0, tiny], "holder", timeout=120)["success"]
        after = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "after_start")
        refused = queue_event(url, after, [f"{rt.SERVER_BUSY}\nAll 1 training slots are in use."], "student",
                              timeout=120)
        box, slider, picture, words = refused["output"]["data"]
        assert box["visible"] is True and slider["maximum"] == 10 and "step **0**" in words and picture
        started = queue_event(url, after, [""], "student", timeout=120)
        assert started["output"]["data"][0]["visible"] is False
