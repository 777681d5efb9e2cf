"""Trainer: steps, every loss on every dataset kind, run control, divergence, determinism, resume."""
import math
import threading
import time

import pytest
import torch

from gan_demo.core.config import LOSSES, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.evaluation import live_quality as live_quality_module
from gan_demo.training import trainer as trainer_module
from gan_demo.core import step_utils
from gan_demo.evaluation.live_quality import live_quality
from gan_demo.training.trainer import History, StepRecord, Trainer
from tests.configs import toy_cfg

WAIT_S = 30  # the longest wait for a step or a pause on a busy machine


def image_cfg(conditional=False, **train) -> RunConfig:
    t = dict(batch_size=16, steps=4, seed=0, device="cpu")
    t.update(train)
    return RunConfig(data=DataConfig(dataset="digits", img_size=16),
                     model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=conditional), train=TrainConfig(**t))


def test_step_returns_a_finite_record_and_counts():
    tr = Trainer(toy_cfg())
    rec = tr.step_once()
    assert isinstance(rec, StepRecord) and rec.step == 1 == tr.step
    assert rec.finite() and rec.seconds > 0
    assert 0 <= rec.d_real <= 1 and 0 <= rec.d_fake <= 1
    assert rec.grad_norm_d > 0 and rec.grad_norm_g > 0


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("make", [toy_cfg, image_cfg, lambda **kw: image_cfg(conditional=True, **kw)],
                         ids=["2d", "image", "conditional"])
def test_every_loss_stays_finite_on_every_dataset_kind(loss, make):
    tr = Trainer(make(loss=loss, n_critic=2 if loss == "wgan-gp" else 1))
    for _ in range(3):
        rec = tr.step_once()
        assert rec.finite(), rec
    assert tr.step == 3
    sample = tr.sample_fixed()
    assert torch.isfinite(sample).all()


def test_generate_shapes_and_range():
    tr = Trainer(image_cfg(conditional=True))
    images = tr.sample_fixed()
    assert images.shape == (10 * 8, 1, 16, 16)
    assert images.min() >= 0 and images.max() <= 1
    points = Trainer(toy_cfg()).sample_fixed()
    assert points.shape[1] == 2


class WatchedEvent(threading.Event):
    """A threading.Event that also tells when someone waits on it while it is clear (the loop parked)."""

    def __init__(self):
        super().__init__()
        self.blocked = threading.Event()

    def wait(self, timeout=None):
        if not self.is_set():
            self.blocked.set()
        return super().wait(timeout)


def test_pause_resume_stop():
    tr = Trainer(toy_cfg(steps=10**6))
    seen, reached = [], {}

    def record(t, rec):
        seen.append(rec.step)
        for step, event in list(reached.items()):
            if rec.step >= step:
                event.set()

    def step_reached(step: int) -> threading.Event:
        """Set once a step >= `step` is read back (record appends before it looks, so none is missed)."""
        event = reached[step] = threading.Event()
        if seen and seen[-1] >= step:
            event.set()
        return event

    tr.add_callback(record)
    unpaused = tr.control.unpaused
    parked = tr.control.unpaused = WatchedEvent()  # set when the loop waits for a resume
    if unpaused.is_set():
        parked.set()
    three = step_reached(3)
    tr.start()
    assert three.wait(WAIT_S), "the run did not reach step 3"
    tr.pause()
    assert parked.blocked.wait(WAIT_S), "the loop did not park"  # the step in flight finished and was read back
    paused_at = tr.step
    assert tr.state == "paused" and seen[-1] == paused_at
    tr.sample_fixed()  # a reader while paused: the loop stays parked, the step where it was
    assert tr.step == paused_at and tr.state == "paused" and not parked.is_set()
    tr.resume()
    assert step_reached(paused_at + 3).wait(WAIT_S), "the run did not train on after resume"
    assert tr.step > paused_at and tr.state == "running"
    tr.stop()
    tr.join(5)
    assert not tr.running and tr.state == "stopped"
    assert seen and seen == sorted(seen)
    snap = tr.snapshot()
    assert snap["step"] == tr.step and snap["state"] == "stopped"
    assert len(snap["history"]["loss_d"]) == len(tr.history)


def test_run_finishes_at_target_and_can_continue():
    tr = Trainer(toy_cfg(steps=5))
    assert tr.run() == "finished" and tr.step == 5
    assert tr.run(8) == "finished" and tr.step == 8


def test_divergence_stops_and_restores_last_good_weights():
    tr = Trainer(toy_cfg(lr_g=1e3, lr_d=1e3, steps=500))
    state = tr.run()
    assert state == "diverged"
    assert tr.message.startswith("diverged at step") and "lower the learning rate" in tr.message
    assert tr.step < 500 and tr.snapshot()["state"] == "diverged"
    for module in (tr.family.G, tr.family.D, tr.family.G_ema):
        assert all(torch.isfinite(p).all() for p in module.state_dict().values() if p.is_floating_point())
    assert torch.isfinite(tr.sample_fixed()).all()


def test_same_seed_same_result():
    a, b = Trainer(toy_cfg(seed=7)), Trainer(toy_cfg(seed=7))
    ra = [a.step_once() for _ in range(4)]
    rb = [b.step_once() for _ in range(4)]
    assert [r.loss_d for r in ra] == [r.loss_d for r in rb]
    assert torch.equal(a.sample_fixed(), b.sample_fixed())
    c = Trainer(toy_cfg(seed=8))
    c.step_once()
    assert c.step_once().loss_d != ra[1].loss_d


def test_history_stays_bounded():
    h = History(max_points=100)
    for step in range(1, 100_001):
        h.add(StepRecord(step, {"loss_d": 1.0, "loss_g": 1.0}, 0.0))
    assert len(h) <= 100
    steps = h.columns()["step"]
    assert steps[-1] > 99_000 and steps[0] < 2000  # covers the whole run, thinned


def test_checkpoint_round_trip_gives_the_same_samples(tmp_path):
    tr = Trainer(image_cfg(conditional=True))
    tr.run(3)
    path = tr.save(tmp_path / "run")
    back = Trainer.from_checkpoint(path, device="cpu")
    assert back.step == 3
    assert torch.equal(back.sample_fixed(), tr.sample_fixed())


def test_resume_continues_step_count_and_optimizer_state(tmp_path):
    tr = Trainer(toy_cfg(steps=6))
    tr.run()
    tr.save(tmp_path / "run")
    back = Trainer.from_checkpoint(tmp_path / "run", device="cpu")
    state = back.family.opt_G.state_dict()["state"]
    assert state and int(state[0]["step"]) == 6
    assert back.run(10) == "finished" and back.step == 10
    assert back.history.columns()["step"][0] == 7


def test_run_loop_reads_step_numbers_back_in_batches(monkeypatch):
    """No host sync per step: the loop reads the numbers of READBACK_STEPS steps at once."""
    monkeypatch.setattr(trainer_module, "READBACK_STEPS", 5)
    monkeypatch.setattr(trainer_module, "READBACK_S", 1e9)
    tr = Trainer(toy_cfg(steps=12))
    seen = []  # (record's step, trainer's step when the callback ran)
    tr.add_callback(lambda t, rec: seen.append((rec.step, t.step)))
    assert tr.run() == "finished"
    assert [r for r, _ in seen] == list(range(1, 13))  # every step, in order, none lost at the end
    assert [t for _, t in seen] == [5] * 5 + [10] * 5 + [12] * 2
    assert len(tr.history) == 12 and tr.last_record.step == 12
    # the same numbers as stepping one at a time
    one_by_one = Trainer(toy_cfg(steps=12))
    expected = [one_by_one.step_once().loss_d for _ in range(12)]
    assert tr.history.columns()["loss_d"] == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_a_reader_gets_the_lock_within_about_one_step():
    """The run loop hands the lock over between steps: the progress grid or a slider on a live run waits
    for the step in progress only, not for two or three (a plain lock is taken again by the loop at once)."""
    tr = Trainer(toy_cfg(steps=10**6))
    original = tr._step_tensors

    def slow_step():  # a step long enough to see how many pass while a reader waits (and to outlast a pause of
        time.sleep(0.1)  # the reading thread on a loaded machine, which would count a second step)
        return original()

    stepping = threading.Event()

    def first_steps():
        stepping.set()
        return slow_step()

    tr._step_tensors = first_steps
    tr.start()
    assert stepping.wait(WAIT_S)  # the loop is stepping
    advanced = []
    try:
        for _ in range(20):
            before = tr.step
            tr.sample_fixed()  # takes the trainer's lock
            advanced.append(tr.step - before)
            time.sleep(0.02)
    finally:
        tr.stop()
        tr.join(5)
    assert max(advanced) <= 2 and sum(advanced) <= 24, advanced  # without the handover: up to 4, sum ~32


def test_snapshot_shows_only_steps_read_back():
    """The step, the last record and the history of a snapshot describe the same moment."""
    tr = Trainer(toy_cfg())
    tr._queue_step()
    tr._queue_step()
    snap = tr.snapshot()
    assert tr.step == 2 and snap["step"] == 0 and snap["last"] is None and snap["history"]["step"] == []
    assert tr._read_back()
    snap = tr.snapshot()
    assert snap["step"] == 2 == snap["last"]["step"] and snap["history"]["step"] == [1, 2]



def test_a_status_snapshot_leaves_out_only_the_curves():
    """snapshot(history=False), what /train_poll reads: every field of the full snapshot but the two curves."""
    tr = Trainer(toy_cfg(steps=30))
    tr.run(30)
    full, status = tr.snapshot(), tr.snapshot(history=False)
    assert len(full["history"]["step"]) == 30 and "quality_history" in full
    assert "history" not in status and "quality_history" not in status
    assert status == {k: v for k, v in full.items() if k not in ("history", "quality_history")}


def poison_from(trainer, call: int) -> None:
    """From the family's call-th step on, its numbers come back NaN: a blow-up on cue, whatever the learning rates."""
    real, calls = trainer.family.train_step, [0]

    def train_step(*args, **kwargs):
        out = real(*args, **kwargs)
        calls[0] += 1
        return {k: v * float("nan") for k, v in out.items()} if calls[0] >= call else out

    trainer.family.train_step = train_step


def test_divergence_is_caught_between_batched_read_backs(monkeypatch):
    monkeypatch.setattr(trainer_module, "READBACK_STEPS", 16)
    monkeypatch.setattr(trainer_module, "READBACK_S", 1e9)
    tr = Trainer(toy_cfg(steps=500))
    poison_from(tr, 123)
    assert tr.run() == "diverged"
    bad = int(tr.message.split()[3].rstrip(";"))
    # rolled back to the last good weights: kept at the first read-back (every 16 steps here) that came at least
    # GOOD_STATE_EVERY steps after the previous ones (step 0), so step 64; nothing of steps 65..123 is kept
    assert bad == 123 and tr.step == 64 and trainer_module.GOOD_STATE_EVERY == 50
    assert tr.history.columns()["step"][-1] == 64
    assert all(math.isfinite(v) for v in tr.history.columns()["loss_d"])  # nothing from the blown-up steps


def test_2d_runs_record_quality_every_k_steps(monkeypatch):
    monkeypatch.setattr(live_quality_module, "QUALITY_EVERY", 10)
    monkeypatch.setattr(trainer_module, "READBACK_STEPS", 1)
    assert Trainer(toy_cfg(steps=40)).quality_every == 0  # measured only when the caller hands in the callback
    tr = Trainer(toy_cfg(steps=40), live_quality=live_quality)
    tr.run()
    q = tr.snapshot()["quality_history"]
    assert q["step"] == [1, 11, 21, 31]
    assert all(0 <= js <= math.log(2) for js in q["grid_js"]) and all(kl >= 0 for kl in q["grid_kl"])
    assert set(q["n_modes"]) == {8} and all(0 <= m <= 8 for m in q["modes_covered"])
    assert tr.snapshot()["quality"]["step"] == 31
    # a 2D set without known modes still gets the grid divergences; image runs get none
    moons = Trainer(RunConfig(data=DataConfig(dataset="moons", n_points=500), model=ModelConfig(width=16, depth=1),
                              train=TrainConfig(batch_size=32, steps=3, device="cpu")), live_quality=live_quality)
    moons.run()
    assert moons.last_quality.modes_covered is None and moons.last_quality.grid_js > 0
    images = Trainer(image_cfg(), live_quality=live_quality)
    images.run()
    assert images.snapshot()["quality"] is None and images.snapshot()["quality_history"]["step"] == []


@pytest.mark.slow
def test_quality_falls_as_the_generator_learns():
    """The live figures measure something: a trained ring8 G is far closer to the data than at step 1."""
    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=4000), model=ModelConfig(width=256, depth=3),
                           train=TrainConfig(batch_size=128, steps=400, device="cpu")), live_quality=live_quality)
    tr.run()
    q = tr.quality_history.columns()
    assert q["grid_js"][0] > 0.6  # at the start G's points sit in a clump far from the ring
    assert q["grid_js"][-1] < 0.6 * q["grid_js"][0]
    assert q["modes_covered"][-1] >= q["modes_covered"][0]


def test_bf16_autocast_only_for_image_models_on_native_hardware(monkeypatch):
    monkeypatch.setattr(step_utils, "native_bf16", lambda device: True)
    assert Trainer(image_cfg(amp=True)).use_amp and Trainer(image_cfg(amp=True)).precision == "bf16 autocast"
    assert not Trainer(image_cfg(amp=False)).use_amp
    assert not Trainer(toy_cfg(amp=True)).use_amp  # 2D points stay fp32
    tr = Trainer(image_cfg(conditional=True, amp=True))
    for _ in range(3):
        assert tr.step_once().finite()  # a bf16 step also runs where bf16 is emulated
    assert all(p.dtype == torch.float32 for p in tr.family.G.parameters())  # autocast: weights and Adam state stay fp32
    monkeypatch.setattr(step_utils, "native_bf16", lambda device: False)
    assert not Trainer(image_cfg(amp=True)).use_amp and Trainer(image_cfg(amp=True)).precision == "fp32"


def test_amp_auto_is_bf16_on_native_gpus_and_fp32_on_cpus(monkeypatch):
    """auto (None): a CPU with native bf16 trains in fp32 (oneDNN's bf16 kernels collapse beside a busy
    process, BENCHMARKS.md section 17), a GPU with native bf16 in bf16; true forces bf16 where it is native."""
    monkeypatch.setattr(step_utils, "native_bf16", lambda device: True)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert TrainConfig().amp is None
    assert step_utils.bf16_autocast(None, cpu) is False and step_utils.bf16_autocast(True, cpu) is True
    assert step_utils.bf16_autocast(None, cuda) is True and step_utils.bf16_autocast(False, cuda) is False
    assert not Trainer(image_cfg()).use_amp and Trainer(image_cfg()).precision == "fp32"
    monkeypatch.setattr(step_utils, "native_bf16", lambda device: False)
    assert step_utils.bf16_autocast(None, cuda) is False and step_utils.bf16_autocast(True, cuda) is False


def test_native_bf16_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert trainer_module.native_bf16(torch.device("cpu")) is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert trainer_module.native_bf16(torch.device("cpu")) is True
    assert trainer_module.native_bf16(torch.device("meta")) is False


def test_snapshot_is_plain_data():
    tr = Trainer(toy_cfg(steps=3))
    tr.run()
    snap = tr.snapshot()
    assert snap["state"] == "finished" and snap["device"] == "cpu"
    assert all(math.isfinite(v) for v in snap["history"]["loss_g"])
    assert snap["last"]["step"] == 3


def test_conditional_models_get_the_mode_seeking_term_by_default():
    assert image_cfg(conditional=True).resolved(channels=1, n_classes=10).train.mode_seeking == 1.0
    assert image_cfg().resolved(channels=1).train.mode_seeking == 0.0
    assert toy_cfg().resolved().train.mode_seeking == 0.0


def test_mode_seeking_keeps_a_conditional_generator_using_its_noise():
    """Without the term a conditional G soon ignores z within a class (intra-class collapse)."""
    spread = {}
    for weight in (0.0, 1.0):
        tr = Trainer(image_cfg(conditional=True, steps=30, batch_size=32, mode_seeking=weight))
        tr.run()
        z = torch.randn(20, tr.cfg.model.z_dim, generator=torch.Generator().manual_seed(0))
        spread[weight] = float(tr.generate(z, torch.full((20,), 3)).std(0).mean())
    assert spread[1.0] > 1.2 * spread[0.0], spread


def test_after_divergence_the_snapshot_shows_the_restored_step_and_its_numbers():
    tr = Trainer(toy_cfg(lr_g=1e3, lr_d=1e3, steps=500))
    assert tr.run() == "diverged"
    snap = tr.snapshot()
    assert snap["step"] == tr.step  # the restored step, not the blown-up one
    assert all(s <= tr.step for s in snap["history"]["step"])
    assert all(s <= tr.step for s in snap["quality_history"]["step"])
    last = snap["last"]
    assert last is None or (last["step"] <= tr.step and math.isfinite(last["loss_d"]))


def test_pause_records_when_and_stop_reads_stopping_until_the_thread_ends():
    tr = Trainer(toy_cfg(steps=10**6))
    entered, gate = threading.Event(), threading.Event()
    tr.add_callback(lambda t, rec: (entered.set(), gate.wait(30)))  # holds the thread inside its loop
    tr.start()
    assert entered.wait(30)
    tr.pause()
    assert tr.paused_at is not None
    tr.resume()
    assert tr.paused_at is None
    tr.stop("bye")
    assert tr.state == "stopping" and tr.message == "bye" and tr.running
    gate.set()
    tr.join(30)
    assert tr.state == "stopped" and not tr.running


def test_release_training_frees_optimizers_and_image_data_but_still_samples():
    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8),
                    train=TrainConfig(batch_size=16, steps=2, amp=False))
    tr = Trainer(cfg, device="cpu")
    tr.run()
    before = tr.sample_fixed()
    tr.release_training()
    assert tr.family.opt_G is None and tr.family.opt_D is None and tr._good_state is None and len(tr.dataset) == 0
    assert tr.dataset.channels == 1 and torch.equal(tr.sample_fixed(), before)


def test_lr_decay_brings_both_learning_rates_down_at_the_end():
    """lr_decay 0.5 of 20 steps: the set rates for 10 steps, then linearly down to a tenth (engine.LR_DECAY_END)."""
    from gan_demo.core.step_utils import LR_DECAY_END, lr_factor

    assert [lr_factor(s, 20, 0.5) for s in (0, 10)] == [1.0, 1.0]
    assert lr_factor(15, 20, 0.5) == pytest.approx(1 - (1 - LR_DECAY_END) * 0.5)
    assert lr_factor(20, 20, 0.5) == lr_factor(99, 20, 0.5) == pytest.approx(LR_DECAY_END)  # the 2D lab's steps past the end
    assert lr_factor(19, 20, 0.0) == 1.0
    tr = Trainer(toy_cfg(lr_g=2e-3, lr_d=1e-3, lr_decay=0.5))
    tr.run(15)
    assert tr.family.opt_D.param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(14, 20, 0.5))  # the 15th update's rate
    tr.change(lr_d=4e-3)  # a live change is decayed alike
    tr.run()
    assert tr.family.opt_D.param_groups[0]["lr"] == pytest.approx(4e-3 * lr_factor(19, 20, 0.5))
    assert tr.family.opt_G.param_groups[0]["lr"] == pytest.approx(2e-3 * lr_factor(19, 20, 0.5))
    assert tr.cfg.train.lr_d == 4e-3  # the setting itself stays as set



def test_the_eta_is_the_last_minutes_speed_with_a_range(monkeypatch):
    """Issue 22: the ETA used the last 50 steps' speed and jumped between 8 and 48 minutes within a minute.
    A fake clock: snapshots every second of a run whose speed alternates 8 and 12 steps/s after a slow start."""
    import types

    from gan_demo.training import trainer as trainer_module

    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=256), model=ModelConfig(width=16, depth=1),
                           train=TrainConfig(batch_size=32, steps=100_000)), device="cpu")
    clock = [0.0]
    monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0],
                                                                      perf_counter=lambda: clock[0]))
    tr.state = "running"
    for second in range(200):
        tr.step += 1 if second < 100 else (8 if second % 2 else 12)  # 1 step/s, then 10 steps/s on average
        clock[0] = float(second)
        snap = tr.snapshot()
    remaining = tr.target_steps - tr.step
    assert snap["eta_s"] == pytest.approx(remaining / 10, rel=0.05)  # the slow start is over a minute old
    low, high = snap["eta_range_s"]
    assert low < snap["eta_s"] < high and low == pytest.approx(remaining / 12, rel=0.01)
    assert high == pytest.approx(remaining / 8, rel=0.01)
    tr.state = "paused"
    assert tr.snapshot()["eta_s"] is None and tr.snapshot()["eta_range_s"] is None


def test_a_step_record_pickles_by_its_fields():
    """A checkpoint pulled from a Ray worker carries the history's records: each pickles as its four fields and
    comes back equal, its series readable as attributes."""
    import pickle

    rec = StepRecord(7, {"loss_d": 1.25, "loss_g": float("inf")}, 0.5, ("loss_d",))
    back = pickle.loads(pickle.dumps([rec, rec], protocol=5))
    assert back[0] == rec and back[0].loss_d == 1.25 and back[0].bounded == ("loss_d",) and not back[1].finite()
    assert type(rec).__reduce__(rec)[1] == (7, rec.values, 0.5, ("loss_d",))


def test_pause_returns_once_the_pause_holds():
    """The app reads the status and the curves right after Pause: pause() returns only once the loop has taken
    the pause (the step in flight ended and was read back), so the step, the last record and the history agree
    (the Train tab's paused tick once showed the status a step past its curves)."""
    tr = Trainer(toy_cfg(steps=10**6))
    three = threading.Event()
    tr.add_callback(lambda t, rec: rec.step >= 3 and three.set())
    tr.start()
    try:
        assert three.wait(WAIT_S), "the run did not reach step 3"
        tr.pause()
        assert tr.control.halted.is_set()  # no waiting here: pause() waited
        snap = tr.snapshot()
        assert snap["step"] == tr.step == tr.last_record.step == snap["history"]["step"][-1]
    finally:
        tr.stop()
        tr.join(WAIT_S)
