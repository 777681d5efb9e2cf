"""Hostile visitors, round two (issue 21), as outside clients of a launched app: repeated uploads, schedules
past the work budget, values of the wrong type, huge pictures and numbers, a flood of projections, Stop
inside a long step, and the temp folder after SIGINT / SIGTERM."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, check_schedule
from gan_demo.training.trainer import Trainer
from gan_demo.ui import catalog as catalog_module
from gan_demo.ui.app import AppContext
from tests.browser import launched_app
from tests.measure_limits import blank_png
from tests.raw_http import call
from tests.configs import ring_cfg

TIMEOUT_S = 120  # generous: the suite shares two CPU cores
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    tr = Trainer(ring_cfg(steps=5), device="cpu")
    tr.run()
    tr.save(root / "ring8")
    digits = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8),
                               train=TrainConfig(batch_size=16, steps=2)), device="cpu")
    digits.run()
    digits.save(root / "digits")
    return root


@pytest.fixture(scope="module")
def app(pretrained):
    with launched_app(pretrained) as app:
        yield app


@pytest.fixture
def client(app, tmp_path):
    ctx, _, url = app
    made = Client(url, verbose=False, download_files=str(tmp_path))
    yield made
    ctx.registry.drop(made.session_hash)
    made.close()


def run_zip(path: Path, run_dir: Path, salt: str = "") -> Path:
    """The run folder zipped; a different salt (an extra file) makes a different zip of the same run."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in run_dir.iterdir():
            zf.write(f, f"run/{f.name}")
        if salt:
            zf.writestr("run/notes.txt", salt)
    return path


def upload(client: Client, path: Path) -> str:
    """Explore's "Upload a run folder" as the browser sends it: the status line shown."""
    _, status = client.predict(handle_file(str(path)), api_name="/upload_run")
    return status


def held_files(ctx, client: Client) -> list[Path]:
    token = ctx.registry.get(client.session_hash).token
    return sorted(p for p in (ctx.catalog.upload_root / token).rglob("*") if p.is_file())


# ---------------------------------------------------------------- row 1: repeated uploads
def test_the_same_run_uploaded_ten_times_is_held_once(app, client, pretrained, tmp_path):
    ctx, _, _ = app
    archive = run_zip(tmp_path / "run.zip", pretrained / "digits")
    first = upload(client, archive)
    assert "Loaded the uploaded run as" in first
    files = held_files(ctx, client)
    for _ in range(9):
        again = upload(client, archive)
        assert "You uploaded this file before" in again and "loaded once" in again
    assert held_files(ctx, client) == files and len(ctx.catalog.uploads(ctx.registry.get(client.session_hash))) == 1


def test_a_session_past_its_bounds_loses_its_oldest_upload_with_a_message(app, client, pretrained, tmp_path):
    ctx, _, _ = app
    names = []
    for i in range(catalog_module.MAX_SESSION_RUNS + 2):
        status = upload(client, run_zip(tmp_path / f"run{i}.zip", pretrained / "digits", salt=str(i)))
        names.append(status.split("**")[1])
        if i >= catalog_module.MAX_SESSION_RUNS:
            assert f"Removed your oldest upload ({names[i - catalog_module.MAX_SESSION_RUNS]})" in status
            assert f"at most {catalog_module.MAX_SESSION_RUNS} uploaded runs" in status
    held = ctx.catalog.uploads(ctx.registry.get(client.session_hash))
    assert sorted(held) == sorted(names[-catalog_module.MAX_SESSION_RUNS:])


def test_uploads_are_bounded_in_bytes_per_session_and_for_the_server(app, client, pretrained, tmp_path, monkeypatch):
    ctx, _, url = app
    size = sum((pretrained / "digits" / name).stat().st_size for name in catalog_module.RUN_FILES)
    monkeypatch.setattr(catalog_module, "MAX_SESSION_BYTES", int(size * 1.5))  # one run fits, two do not
    upload(client, run_zip(tmp_path / "a.zip", pretrained / "digits", salt="a"))
    status = upload(client, run_zip(tmp_path / "b.zip", pretrained / "digits", salt="b"))
    assert "Removed your oldest upload" in status and len(held_files(ctx, client)) == 2  # one run's two files
    monkeypatch.setattr(catalog_module, "MAX_TOTAL_BYTES", int(size * 1.5))  # the server holds one run in all
    other = Client(url, verbose=False, download_files=str(tmp_path))
    try:
        status = upload(other, run_zip(tmp_path / "c.zip", pretrained / "digits", salt="c"))
        assert status.startswith("⚠ Could not load that run: the server holds as many uploaded runs as it can")
        assert f"at most {catalog_module.MAX_TOTAL_RUNS} runs" in status
        assert held_files(ctx, other) == []
    finally:
        ctx.registry.drop(other.session_hash)
        other.close()


def test_the_same_dataset_file_is_kept_once_and_the_oldest_goes_past_the_bound(tmp_path, monkeypatch):
    from gan_demo.ui.tabs import train as train_tab
    from gan_demo.ui.sessions import Session

    session = Session("s")
    points = tmp_path / "points.csv"
    points.write_text("x,y\n" + "0.5,0.25\n" * 200)
    first, notes = train_tab.keep_dataset_upload(session, points)
    assert notes == []
    again, notes = train_tab.keep_dataset_upload(session, points)
    assert again == first and "uploaded this file before" in notes[0] and len(session.uploads) == 1
    monkeypatch.setattr(train_tab, "MAX_SESSION_DATASET_BYTES", int(points.stat().st_size * 1.5))
    other = tmp_path / "other.csv"
    other.write_text("x,y\n" + "0.75,0.5\n" * 200)
    second, notes = train_tab.keep_dataset_upload(session, other)
    assert list(session.uploads) == [second] and "Forgot your oldest uploaded dataset (points.csv)" in notes[0]
    assert f"at most {train_tab.MAX_SESSION_UPLOADS} files" in notes[0]


# ------------------------------------------------------- rows 2, 2b, 3, 5: changes after the start
def tiny_cost() -> float:
    from gan_demo.families.nets import step_cost

    return step_cost(ring_cfg().resolved()).flops


@pytest.fixture
def tabs(monkeypatch):
    """The Train and Compare tabs' handlers, called directly (no app built), with a web budget twice a tiny
    ring8 run's step, so a run "near the budget" trains in milliseconds."""
    from gan_demo.ui.tabs import compare as compare_tab
    from gan_demo.ui import limits
    from gan_demo.ui.tabs import train as train_tab

    ctx = AppContext.create(device="cpu")
    monkeypatch.setattr(limits, "STEP_FLOPS", 2 * tiny_cost())
    yield ctx, train_tab.Train(ctx), compare_tab.Compare(ctx)
    ctx.registry.close()


def tiny_values(**changes) -> dict:
    from gan_demo.ui.forms import values_for

    return values_for({"dataset": "ring8", "width": 16, "depth": 2, "batch_size": 32,
                       "steps": 100_000, **changes})


class Request:
    def __init__(self, session_hash: str):
        self.session_hash = session_hash


def compare_start(tabs, schedule: str, caplog) -> str:
    from gan_demo.ui.forms import B_FIELDS

    ctx, _, compare = tabs
    values = {**tiny_values(), **{f"b_{n}": None for n in B_FIELDS}, "b_schedule": schedule}  # B's fields: b_<name>
    caplog.clear()
    return compare.on_start(values, Request("cmp"))["message"]


def test_a_schedule_past_the_work_budget_is_refused_before_it_starts(tabs, caplog):
    ctx = tabs[0]
    message = compare_start(tabs, '[{"step": 1, "n_critic": 100}]', caplog)
    assert message.startswith("### Cannot start\nschedule[0]: too much work per step")
    assert "the web app allows" in message and ctx.registry.active_runs() == 0
    assert [r.getMessage() for r in caplog.records if r.name == "gan_demo"] == [
        "user error: " + message.removeprefix("### Cannot start\n")]


@pytest.mark.parametrize("value, words", [('"0.01"', "n_critic must be a whole number (got '0.01')"),
                                          ("[1, 2]", "n_critic must be a whole number (got a JSON list)"),
                                          ("{}", "n_critic must be a whole number (got a JSON object)"),
                                          ("2.5", "n_critic must be a whole number (got 2.5)"),
                                          ("1" * 400, "n_critic is out of range (got a 400-digit number)")])
def test_schedule_values_of_the_wrong_type_are_one_sentence(tabs, caplog, value, words):
    message = compare_start(tabs, f'[{{"step": 1, "n_critic": {value}}}]', caplog)
    assert message == f"### Cannot start\nschedule[0]: {words}"
    assert not any(r.exc_info for r in caplog.records) and tabs[0].registry.active_runs() == 0
    if value != "2.5":  # a learning rate of 2.5 is a number
        lr = compare_start(tabs, f'[{{"step": 1, "lr_d": {value}}}]', caplog)
        assert lr.startswith("### Cannot start\nschedule[0]: lr_d must be a finite number (got ")


def test_a_1000_entry_schedule_is_checked_in_one_pass(tabs, monkeypatch):
    from gan_demo.core.config import MAX_SCHEDULE
    from gan_demo.ui import limits

    calls = {"validate": 0, "step_cost": 0}
    validate, step_cost = RunConfig.validate, limits.step_cost

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(RunConfig, "validate", counted("validate", validate))
    monkeypatch.setattr(limits, "step_cost", counted("step_cost", step_cost))
    cfg = ring_cfg()
    cfg.schedule = [{"step": i, "lr_d": 0.001 + i * 1e-6, "n_critic": 1 + i % 2} for i in range(MAX_SCHEDULE)]
    limits.check_web_limits(cfg)
    assert calls["step_cost"] == 2  # n_critic 1 and 2 price every entry
    assert calls["validate"] <= MAX_SCHEDULE * 3 + 10  # linear: each entry once here, once in resolved()'s two
    cfg.schedule.append({"step": MAX_SCHEDULE, "lr_d": 0.001})
    with pytest.raises(ConfigError, match="at most 1000 changes"):
        check_schedule(cfg)


def test_apply_goes_through_the_same_budget_as_a_start(tabs, caplog):
    ctx, train, _ = tabs
    session = ctx.registry.get("apply")
    ctx.registry.start(session, ring_cfg(steps=100_000), ctx.device).pause()
    # The audit's trick: the controls show a smaller batch, so the settings they show are within the budget;
    # the change applies to the running run's own batch.
    values = tiny_values(batch_size=8, n_critic=10)
    out = train.on_apply(values, Request("apply"))
    assert out["message"].startswith("### Cannot apply\ntoo much work per step")
    assert session.trainer.cfg.train.n_critic == 1 and session.trainer._queued_changes == {}
    values["n_critic"] = 1
    values["lr_d"] = 0.002
    out = train.on_apply(values, Request("apply"))
    assert out["message"].startswith("Applied from step")


def test_trainer_change_refuses_values_of_the_wrong_type():
    tr = Trainer(ring_cfg(), device="cpu")
    for bad in ("0.01", [1, 2], {}, 2.5, True):
        with pytest.raises(ConfigError, match="n_critic must be a whole number"):
            tr.change(n_critic=bad)
    with pytest.raises(ConfigError, match="lr_d must be a finite number"):
        tr.change(lr_d="0.01")


# ------------------------------------------------------------------ row 2: Stop within one phase
def test_stop_lands_within_one_phase_of_a_long_step():
    tr = Trainer(ring_cfg(steps=10, n_critic=100), device="cpu")
    phases = []
    d_update = tr.family.d_update

    def counted():
        phases.append("d")
        if len(phases) == 3:
            tr.stop()  # as the visitor's Stop arrives during the third of a hundred D updates
        return d_update()

    tr.family.d_update = counted
    tr.start()
    tr.join(TIMEOUT_S)
    assert not tr.running and tr.state == "stopped"
    assert len(phases) == 3 and tr.step == 0  # the step was abandoned at the next phase, not run to its end
    tr.step_once()  # a step asked for by hand after the stop runs whole
    assert len(phases) == 103 and tr.step == 1


# --------------------------------------------------- row 4: huge numbers and pictures, as outside clients
def test_a_comparison_json_with_a_400_digit_number_is_one_sentence(app, client, tmp_path, caplog):
    from gan_demo.training.compare import COMPARISON_FILE, Comparison

    pair = Comparison(ring_cfg(steps=2), ring_cfg(steps=2, loss="hinge"), device="cpu")
    folder = pair.save(tmp_path / "comparison")
    summary = json.loads((folder / COMPARISON_FILE).read_text())
    huge = "1" * 400
    setting = {**summary, "differences": {**summary["differences"], "n_critic": ["HUGE", 1]}}
    curve = {**summary, "runs": {**summary["runs"], "A": {**summary["runs"]["A"], "history": {"step": ["HUGE"]}}}}
    for what, hostile in {"a setting": setting, "a curve": curve}.items():
        text = json.dumps(hostile).replace('"HUGE"', huge)
        archive = tmp_path / f"{what}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for f in folder.rglob("*"):
                if f.is_file() and f.name != COMPARISON_FILE:
                    zf.write(f, f.relative_to(folder))
            zf.writestr(COMPARISON_FILE, text)
        caplog.clear()
        status = upload(client, archive)
        assert status.startswith("⚠ Could not load that run: comparison.json: "), (what, status)
        assert "Traceback" not in status and str(tmp_path) not in status and "\n" not in status
        assert [r.levelno for r in caplog.records if r.name == "gan_demo"] == [logging.WARNING]
        assert not any(r.exc_info for r in caplog.records)


def test_a_30000_pixel_sketch_is_refused_in_one_sentence(app, client, tmp_path, caplog):
    png = blank_png(tmp_path / "bomb.png", 30000)  # 900 megapixels, ~100 KB: PIL refuses to open it at all
    drawing = {"background": None, "layers": [], "composite": handle_file(str(png))}
    caplog.clear()
    with pytest.raises(Exception) as refused:
        client.predict("digits", "draw", None, drawing, 0, 20, 0.0, api_name="/explore_project")
    text = str(refused.value)
    assert "the drawing is too large to open" in text and "at most" in text and str(tmp_path) not in text
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in errors] == ["user error"] and not any(r.exc_info for r in errors)


# ------------------------------------------------------------- row 6: a flood of projections
def test_one_visitor_holds_one_place_in_the_projection_queue(app, tmp_path, monkeypatch):
    """/project: a session's second call while its first runs is refused at once; another session's call
    waits its turn and then runs."""
    from gan_demo.explore import projection

    ctx, _, url = app
    entered, release = threading.Event(), threading.Event()
    real = projection.project

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(TIMEOUT_S)
        return real(*args, steps=1)

    monkeypatch.setattr(projection, "project", held)
    image = tmp_path / "digit.png"
    blank_png(image, 16)
    import httpx

    with httpx.Client(timeout=TIMEOUT_S) as http:  # as a raw client: the file first, then calls by session hash
        with open(image, "rb") as f:
            served = http.post(f"{url}/gradio_api/upload", files={"files": ("digit.png", f, "image/png")}).json()[0]
    picture = {"path": served, "meta": {"_type": "gradio.FileData"}}
    results = {}

    def project(key: str, session_hash: str):
        out = call(url, "project", ["digits", picture, None, 5], session_hash, timeout=TIMEOUT_S)
        results[key] = ("ok" if out["success"] else "refused", json.dumps(out["data"]))

    first = threading.Thread(target=project, args=("first", "flooder"))
    first.start()
    assert entered.wait(TIMEOUT_S)
    # The flooder's next projection is refused at once (asked of the queue itself: gradio's /call/ route
    # answered a second call of a session whose first is still streaming with a 404 of its own).
    from gan_demo.ui.sessions import Busy

    with pytest.raises(Busy, match="at most 1 per visitor"):
        with ctx.projections.turn("flooder"):
            pass
    other = threading.Thread(target=project, args=("other", "patient"))
    other.start()
    deadline = time.monotonic() + TIMEOUT_S
    while ctx.projections.waiting() < 1 and time.monotonic() < deadline:  # the other visitor waits its turn
        time.sleep(0.01)
    assert ctx.projections.waiting() == 1 and "other" not in results
    release.set()
    first.join(TIMEOUT_S)
    other.join(TIMEOUT_S)
    assert results["first"][0] == "ok" and results["other"][0] == "ok"
    assert ctx.projections.waiting() == 0 and ctx.projections.running() == 0


def test_the_queue_takes_visitors_in_turn_and_tells_each_its_place():
    from gan_demo.ui.long_jobs import JobQueue
    from gan_demo.ui.sessions import Busy

    queue = JobQueue("projections", workers=1, per_session=1, max_waiting=2)
    started, release, places, order = threading.Event(), threading.Event(), {}, []

    def job(key: str):
        with queue.turn(key, on_wait=lambda ahead: places.setdefault(key, []).append(ahead)):
            order.append(key)
            started.set()
            assert release.wait(TIMEOUT_S)

    first = threading.Thread(target=job, args=("a",))
    first.start()
    assert started.wait(TIMEOUT_S)
    waiting = []
    for key in ("b", "c"):
        waiting.append(threading.Thread(target=job, args=(key,)))
        waiting[-1].start()
        deadline = time.monotonic() + TIMEOUT_S
        while key not in places and time.monotonic() < deadline:
            time.sleep(0.01)
    with pytest.raises(Busy, match="at most 1 per visitor"):
        with queue.turn("a"):
            pass
    with pytest.raises(Busy, match="busy: 2 projections are waiting \\(at most 2\\)"):
        with queue.turn("d"):
            pass
    assert places == {"b": [1], "c": [2]}
    release.set()
    for t in (first, *waiting):
        t.join(TIMEOUT_S)
    assert order == ["a", "b", "c"] and queue.waiting() == 0 and queue.running() == 0


# ------------------------------------------------------------------ row 7: signals
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_removes_the_apps_temp_folder(tmp_path, signum):
    port = __import__("tests.browser", fromlist=["free_port"]).free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    # start_new_session: the app is not in the test's process group (a SIGINT to the group would reach pytest)
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--device", "cpu"], cwd=ROOT,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    try:
        for line in app.stdout:  # the app says where it listens once it does
            if "Running on local URL" in line:
                break
        roots = list(tmp_path.glob("gan_demo_run_*"))
        assert len(roots) == 1 and roots[0].is_dir()
        app.send_signal(signum)
        app.wait(TIMEOUT_S)
        assert not roots[0].exists()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(TIMEOUT_S)
