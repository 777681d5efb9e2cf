"""Hostile and careless visitors: the audit's cases (issue 8) replayed against the registry and a launched app.

Client-chosen session hashes never reach a path; sessions expire; the run cap holds under racing
starts; stop keeps a slot until the thread ends; uploads are private to the session that sent them.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest
import torch

from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer
from gan_demo.ui import sessions as sessions_module
from gan_demo.ui import tempdirs
from gan_demo.ui.app import AppContext
from gan_demo.ui.catalog import CURRENT_RUN
from gan_demo.ui.sessions import Busy, NoSession, SessionRegistry
from gan_demo.ui.forms import config_from_values
from tests.browser import launched_app
from tests.raw_http import call, queue_event
from tests.configs import ring_cfg

TIMEOUT_S = 120  # generous: the suite shares two CPU cores


class FakeClock:
    """A monotonic clock the test moves by hand (no sleeps)."""

    def __init__(self):
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pretrained(tmp_path):
    root = tmp_path / "pretrained"
    tr = Trainer(ring_cfg(steps=5), device="cpu")
    tr.run()
    tr.save(root / "ring8")
    return root


@pytest.fixture
def app(pretrained):
    with launched_app(pretrained) as app:
        yield app


def fn_index(demo, name: str) -> int:
    """The id of the event whose handler is called `name` (hidden events have one too)."""
    return next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == name)


def queue_call(url: str, session_hash: str, data: list, fn: int | None = None, api_name: str | None = None) -> dict:
    """As a raw HTTP client with a chosen session hash: an API endpoint by name (the final event as
    {"success", "data"}), or a hidden event by index (its process_completed message)."""
    if api_name is not None:
        return call(url, api_name, data, session_hash, timeout=TIMEOUT_S)
    return queue_event(url, fn, data, session_hash, timeout=TIMEOUT_S)


# ------------------------------------------------------------------------- 1. paths
def test_a_session_hash_never_reaches_the_file_system(app):
    """The audit's traversal: Save with session_hash "../<folder>" or an absolute path deletes nothing."""
    ctx, demo, url = app
    save = fn_index(demo, "on_save")
    tiny = json.dumps({"width": 16, "depth": 2, "batch_size": 32})

    def start_and_save(session_hash: str) -> dict:
        started = queue_call(url, session_hash, ["ring8", 3, "nonsaturating", 0, tiny], api_name="train_start")
        assert started["success"], started
        ctx.registry.get(session_hash).trainer.join(TIMEOUT_S)
        return queue_call(url, session_hash, [], fn=save)

    first = start_and_save("benign-" + secrets.token_hex(4))
    assert first["success"], first
    save_root = next(tempdirs.root().glob("gan_demo_saves_*"))  # every app's saves sit in this process' root
    victims = []
    for hostile in (lambda v: f"../{v.name}", lambda v: str(v)):  # relative traversal, absolute path
        victim = save_root.parent / ("victim-" + secrets.token_hex(4))
        victim.mkdir()
        (victim / "keep.txt").write_text("precious")
        victims.append(victim)
        out = start_and_save(hostile(victim))
        assert out["success"], out
    for victim in victims:
        assert (victim / "keep.txt").read_text() == "precious"
        assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_web_datasets_are_names_or_this_sessions_uploads(tmp_path):
    points = tmp_path / "pts.csv"
    points.write_text("x,y\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(200)))
    for hostile in ("/etc", str(points), "../../etc/passwd.csv", "~/.ssh"):
        with pytest.raises(ConfigError, match="dataset: unknown dataset"):
            config_from_values({"dataset": hostile})
    cfg = config_from_values({"dataset": "upload-0123456789abcdef.csv"}, {"upload-0123456789abcdef.csv": points})
    assert cfg.data.dataset == str(points)


def test_uploaded_runs_and_live_runs_are_private_to_their_session(pretrained, tmp_path):
    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    alice, bob = ctx.registry.get("alice"), ctx.registry.get("bob")
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in ("config.json", "model.safetensors"):
            zf.write(pretrained / "ring8" / f, f"ring8/{f}")
    name = ctx.catalog.add_upload(archive, alice)
    assert len(name) == len("upload-") + 16  # 64 random bits: not guessable
    assert name in ctx.catalog.choices(alice) and name not in ctx.catalog.choices(bob)
    assert ctx.catalog.sampler(name, alice).z_dim > 0
    with pytest.raises(KeyError, match="no checkpoint named"):
        ctx.catalog.sampler(name, bob)
    with pytest.raises(KeyError, match="no checkpoint named"):
        ctx.catalog.sampler(f"../{alice.token}/{name}", bob)
    ctx.registry.start(alice, ring_cfg(), ctx.device).join(TIMEOUT_S)
    with pytest.raises(KeyError, match="in this session"):
        ctx.catalog.sampler(alice.run_id, bob)
    assert ctx.catalog.sampler(alice.run_id, alice) is ctx.catalog.sampler(CURRENT_RUN, alice)
    folder = ctx.catalog._upload_dir(alice)
    assert folder.is_dir()
    ctx.registry.drop("alice")
    assert not folder.exists()  # the session's files go with it
    ctx.registry.close()


# --------------------------------------------------------------------- 2. expiry
def test_sessions_expire_and_paused_runs_give_up_their_slot():
    clock = FakeClock()
    reg = SessionRegistry(max_runs=1, session_timeout=15, paused_timeout=60, clock=clock)
    dropped = []
    reg.on_drop.append(lambda s: dropped.append(s.session_id))
    a = reg.get("a")
    tr = reg.start(a, ring_cfg(steps=10**6), "cpu")
    tr.pause()
    with pytest.raises(Busy, match=r"1 runs are training or paused on this server \(limit 1\); "
                                   r"a slot should free in about 15 s"):
        reg.start(reg.get("b"), ring_cfg(), "cpu")
    clock.now += 10
    reg.get("a")  # any event keeps a session alive
    clock.now += 10
    reg.sweep()
    assert "a" in reg._sessions and tr.running  # seen 10 s ago, paused 20 s: both within limits
    tr.paused_at -= 61  # paused for over a minute
    reg.get("a")
    reg.sweep()
    tr.join(TIMEOUT_S)
    assert tr.state == "stopped" and "paused" in tr.message and reg.active_runs() == 0
    clock.now += 16  # neither a nor b seen for 16 s
    reg.sweep()
    assert len(reg) == 0 and sorted(dropped) == ["a", "b"]


def test_a_finished_image_run_frees_its_training_state():
    reg = SessionRegistry(max_runs=2)
    s = reg.get("s")
    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8),
                    train=TrainConfig(batch_size=16, steps=2))
    tr = reg.start(s, cfg, "cpu")
    tr.join(TIMEOUT_S)
    reg.sweep()
    assert tr.family.opt_G is None and tr.family.opt_D is None and len(tr.dataset) == 0
    assert torch.isfinite(tr.sample_fixed()).all()  # Explore still works


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.slow
def test_40_expired_sessions_give_their_memory_back():
    """The audit's leak: 40 sessions, each with a finished default-size digits run, then expiry."""
    clock = FakeClock()
    reg = SessionRegistry(max_runs=2, session_timeout=15, clock=clock)
    cfg = RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(batch_size=8, steps=1))
    reg.start(reg.get("warm-up"), cfg, "cpu").join(TIMEOUT_S)
    clock.now += 16
    reg.sweep()
    before = _rss_mib()
    for i in range(40):
        tr = reg.start(reg.get(f"rest-{i}"), cfg, "cpu")
        tr.join(TIMEOUT_S)
        assert tr.state == "finished"
    held = _rss_mib()
    clock.now += 16
    reg.sweep()
    after = _rss_mib()
    assert len(reg) == 0
    assert held - before > 300  # the sessions really held memory (so the check below means something)
    assert after - before < 500, f"RSS {before:.0f} -> {held:.0f} -> {after:.0f} MiB"


# ------------------------------------------------------------------ 3. the run cap
def test_racing_starts_never_exceed_the_cap():
    reg = SessionRegistry(max_runs=2)
    barrier = threading.Barrier(6)
    results = []

    def start(i):
        session = reg.get(f"racer-{i}")
        barrier.wait()
        try:
            results.append(reg.start(session, ring_cfg(steps=10**6, seed=i), "cpu"))
        except Busy as exc:
            results.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    started = [r for r in results if isinstance(r, Trainer)]
    assert len(results) == 6 and len(started) == 2 and reg.active_runs() == 2
    assert all("limit 2" in str(r) for r in results if not isinstance(r, Trainer))
    reg.close()
    assert not any(t.running for t in started)


def test_racing_starts_in_one_session_leave_one_run_and_no_orphan():
    reg = SessionRegistry(max_runs=8)
    session = reg.get("one")
    barrier = threading.Barrier(4)
    made = []

    def start(i):
        barrier.wait()
        try:
            made.append(reg.start(session, ring_cfg(steps=10**6, seed=i), "cpu"))
        except Busy:
            pass

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert session.trainer in made
    alive = [t for t in made if t.running]
    assert alive == [session.trainer] and reg.active_runs() == 1
    assert len({id(t) for t in made}) == len(made)
    reg.close()


def test_racing_starts_over_http_give_at_most_two_runs(app):
    ctx, demo, url = app
    tiny = json.dumps({"width": 16, "depth": 2, "batch_size": 32, "d_norm": "batch"})  # BatchNorm: alone, a slot each
    barrier = threading.Barrier(6)
    results = []

    def start(i):
        barrier.wait()
        results.append(queue_call(url, f"http-racer-{i}", ["ring8", 50_000, "nonsaturating", i, tiny],
                                  api_name="train_start"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert len(results) == 6
    assert sum(r["success"] for r in results) <= 2 and ctx.registry.active_runs() <= 2
    assert all("busy" in json.dumps(r["data"]) for r in results if not r["success"])


# ------------------------------------------------------------------------ 5. stop
class _SlowStep:
    """Makes every training step wait for a gate: a step that takes as long as the test says."""

    def __init__(self, trainer):
        self.entered, self.gate = threading.Event(), threading.Event()
        inner = trainer._step_tensors

        def step():
            self.entered.set()
            self.gate.wait(TIMEOUT_S)
            return inner()

        trainer._step_tensors = step


def test_stop_during_a_long_step_keeps_the_slot_until_the_thread_ends(monkeypatch):
    monkeypatch.setattr(sessions_module, "REPLACE_WAIT_S", 0.05)
    reg = SessionRegistry(max_runs=1)
    session = reg.get("s")
    tr = reg.start(session, ring_cfg(steps=10**6), "cpu")
    slow = _SlowStep(tr)
    assert slow.entered.wait(TIMEOUT_S)
    reg.stop(session, wait=0.05)
    assert tr.state == "stopping" and tr.running and reg.active_runs() == 1
    with pytest.raises(Busy, match="limit 1"):
        reg.start(reg.get("other"), ring_cfg(), "cpu")  # the stopping run still holds the slot
    with pytest.raises(Busy, match="still finishing its current step"):
        reg.start(session, ring_cfg(), "cpu")  # no second trainer beside the old one
    assert session.trainer is tr
    slow.gate.set()
    tr.join(TIMEOUT_S)
    assert tr.state == "stopped" and reg.active_runs() == 0
    new = reg.start(session, ring_cfg(steps=3), "cpu")
    new.join(TIMEOUT_S)
    assert new.state == "finished"


# ------------------------------------------------------------ a REST call without session
def test_a_rest_call_without_session_cannot_start_a_run(app):
    ctx, demo, url = app
    with httpx.Client(timeout=TIMEOUT_S) as http:
        r = http.post(f"{url}/gradio_api/call/train_start", json={"data": ["ring8", 100, "nonsaturating", 0, ""]})
        event = r.json()["event_id"]
        text = http.get(f"{url}/gradio_api/call/train_start/{event}").text
    assert "event: error" in text and "carries no session" in text
    assert ctx.registry.active_runs() == 0
    with pytest.raises(NoSession):
        ctx.registry.get(None)
    assert queue_call(url, "with-a-session", ["ring8", 3, "nonsaturating", 0, ""], api_name="train_start")["success"]


def test_messages_to_visitors_do_not_name_the_servers_data_folder(app, monkeypatch):
    from gan_demo.data import datasets as data_module
    from gan_demo.core.config import DataConfig, data_dir
    from gan_demo.ui.errors import for_visitor

    server_folder = str(data_dir(DataConfig()))
    assert for_visitor(f"put the files in {server_folder}/MNIST/raw") == "put the files in the server's data folder/MNIST/raw"
    ctx, demo, url = app
    monkeypatch.setattr(data_module, "_can_reach", lambda url: False)  # offline, and no copy of MNIST here
    monkeypatch.setattr(data_module, "data_dir", lambda cfg: Path(server_folder) / "not-there")
    out = queue_call(url, "offline-visitor", ["mnist", 3, "nonsaturating", 0, ""], api_name="train_start")
    assert not out["success"] and "the server's data folder" in json.dumps(out["data"])
    assert server_folder not in json.dumps(out["data"])


def test_renders_are_spaced_only_while_a_run_trains():
    from gan_demo.ui.app import RenderGate

    clock, slept, training = [100.0], [], [False]
    gate = RenderGate(interval=0.1, training=lambda: training[0], clock=lambda: clock[0], sleep=slept.append)
    for _ in range(3):  # nobody training: renders follow each other at once
        with gate:
            clock[0] += 0.01
    assert slept == []
    training[0] = True
    with gate:
        clock[0] += 0.01
    assert slept == [pytest.approx(0.1)]  # the next render waits for the interval
    clock[0] += 0.5
    with gate:
        pass
    assert len(slept) == 1  # long enough since the last one: no wait


def test_a_spaced_render_waits_its_own_interval_behind_the_same_gate():
    from gan_demo.ui.app import RenderGate

    clock, slept = [100.0], []
    gate = RenderGate(interval=0.1, training=lambda: True, clock=lambda: clock[0], sleep=slept.append)
    with gate:
        clock[0] += 0.01
    with gate.spaced(0.03):  # a picture route's render: 0.03 s after the last render of any kind
        clock[0] += 0.01
    assert slept == [pytest.approx(0.03)]
    with gate:  # an ordinary render after it still keeps the gate's own 0.1 s
        pass
    assert slept[-1] == pytest.approx(0.1)
    with pytest.raises(RuntimeError):
        with gate.spaced(0.03):
            raise RuntimeError("a failed render")
    assert gate._lock.acquire(blocking=False)  # the gate was let go all the same
