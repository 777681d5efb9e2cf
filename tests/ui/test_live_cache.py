"""Live views under a class (issue 16 point 4): each run's picture drawn once per step however many polls ask."""
from __future__ import annotations

import gc
import io
import tempfile
import threading
import weakref
from pathlib import Path

from PIL import Image

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer
from gan_demo.ui.live_cache import SLOWEST_TICK_S, PictureCache, PictureFiles, refresh_s
from gan_demo.ui.run_views import TICK_S, LiveView, progress_picture

TIMEOUT_S = 60


def tiny_run(seed: int = 0) -> Trainer:
    return Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                             train=TrainConfig(batch_size=32, steps=2, seed=seed)), device="cpu")


def test_n_polls_of_the_same_step_draw_once():
    run, cache, drawn = tiny_run(), PictureCache(), []

    def draw():
        drawn.append(run.step)
        return progress_picture(run, LiveView())

    barrier = threading.Barrier(12)
    pictures = []

    def poll():
        barrier.wait(TIMEOUT_S)
        pictures.append(cache.get(run, run.step, draw))

    threads = [threading.Thread(target=poll) for _ in range(12)]  # 12 tabs ask at the same moment
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert len(pictures) == 12 and drawn == [0] and cache.draws == 1
    assert all(p is pictures[0] for p in pictures)

    run.step_once()  # a new step: the next poll draws it, once
    assert cache.get(run, run.step, draw) is not pictures[0]
    for _ in range(5):
        cache.get(run, run.step, draw)
    assert drawn == [0, 1] and cache.draws == 2


def test_runs_have_their_own_pictures_and_the_cache_stays_bounded():
    cache = PictureCache(runs_kept=2)
    runs = [tiny_run(seed) for seed in range(3)]
    for i, run in enumerate(runs):
        assert cache.get(run, 0, lambda i=i: f"picture {i}") == f"picture {i}"
    assert cache.get(runs[2], 0, lambda: "again") == "picture 2"
    assert cache.get(runs[0], 0, lambda: "redrawn") == "redrawn"  # the least recently asked was dropped
    cache.forget(runs[2])
    assert cache.get(runs[2], 0, lambda: "after forget") == "after forget"


def test_the_refresh_slows_under_load():
    assert refresh_s(0, TICK_S) == refresh_s(4, TICK_S) == TICK_S
    assert TICK_S < refresh_s(12, TICK_S) < refresh_s(24, TICK_S) <= SLOWEST_TICK_S
    assert refresh_s(24, 0.75) == 4.5  # a class of 24: its tabs send 5.3 updates a second in all
    assert refresh_s(1000, TICK_S) == SLOWEST_TICK_S


def test_the_cache_keeps_no_ended_run_alive():
    cache, run = PictureCache(), tiny_run()
    cache.get(run, 0, lambda: "picture")
    gone = weakref.ref(run)
    del run
    gc.collect()
    assert gone() is None


def test_a_live_picture_is_encoded_and_written_once_and_old_files_go():
    now, folder = [0.0], Path(tempfile.mkdtemp())
    files = PictureFiles(lambda: folder, kept_s=30, clock=lambda: now[0])
    cache, run = PictureCache(files=files), tiny_run()
    picture = cache.picture(run, 0, lambda: progress_picture(run, LiveView()))
    assert cache.picture(run, 0, lambda: "not drawn again") is picture and cache.get(run, 0, lambda: None) is picture.image
    data = picture.png()
    assert picture.png() is data and Image.open(io.BytesIO(data)).size == picture.image.size
    path = picture.path()
    assert picture.path() == path and Path(path).read_bytes() == data and Path(path).parent == folder
    now[0] = 20.0
    run.step_once()
    newer = cache.picture(run, 1, lambda: progress_picture(run, LiveView())).path()
    assert Path(path).exists() and len(files) == 2  # within kept_s of its writing: a tab may still be sending it
    now[0] = 40.0
    run.step_once()
    newest = cache.picture(run, 2, lambda: progress_picture(run, LiveView())).path()
    assert not Path(path).exists() and Path(newer).exists() and Path(newest).exists() and len(files) == 2
