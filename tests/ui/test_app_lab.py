"""The 2D lab and lessons tabs: handler logic called directly, plus the lab's events through gradio_client."""
from __future__ import annotations

import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

import gradio as gr

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.data.datasets import DataError
from gan_demo.render.model_diagram import fmt
from gan_demo.ui.tabs import lab as lab_tab
from gan_demo.ui.tabs import lessons as lessons_tab
from gan_demo.ui.forms import CONTROL_FIELDS, config_from_values, values_for
from gan_demo.ui.app import AppContext

ALL_LAYERS = list(lab_tab.LAYERS)


def tiny_cfg(dataset: str = "ring8", loss: str = "nonsaturating", steps: int = 3) -> RunConfig:
    return RunConfig(data=DataConfig(dataset=dataset, n_points=500), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(loss=loss, batch_size=64, steps=steps))


def request(session: str = "s1"):
    return types.SimpleNamespace(session_hash=session)


@pytest.fixture
def ctx():
    ctx = AppContext.create(device="cpu")
    yield ctx
    for session in list(ctx.registry._sessions):
        ctx.registry.drop(session)


def start_tiny(ctx, session: str = "s1", **kw):
    """A tiny ring8 run for the session, trained to its end (3 steps)."""
    trainer = ctx.registry.start(ctx.registry.get(session), tiny_cfg(**kw), ctx.device)
    trainer.join(60)
    assert trainer.state == "finished", trainer.message
    return trainer


# ------------------------------------------------------------------------------ the picture
def test_lab_picture_renders_for_a_tiny_ring8_run(ctx):
    h = lab_tab.LabHandlers(ctx)
    picture, status, _, key = h.refresh(ALL_LAYERS, None, request())
    assert picture is None and "No run yet" in status

    trainer = start_tiny(ctx)
    picture, status, graph, key = h.refresh(ALL_LAYERS, key, request())
    assert isinstance(picture, Image.Image) and picture.size == (lab_tab.PICTURE_SIZE, lab_tab.PICTURE_SIZE)
    assert "ring8" in status and "step 3 of 3" in status and "finished" in status
    # the view is fixed by the real data (a ring of radius 1), not by where G's samples are
    xmin, xmax, ymin, ymax = lab_tab.view_of(trainer).bounds
    assert xmin < -1 < 1 < xmax and ymin < -1 < 1 < ymax
    # nothing changed: nothing is redrawn
    again = h.refresh(ALL_LAYERS, key, request())
    assert all(isinstance(x, type(gr.skip())) for x in again)
    # hiding layers redraws, and changes the picture
    assert 'data-part="D" data-state="idle"' in graph  # a finished run: nothing highlighted
    plain, _, graph2, key2 = h.refresh([], key, request())
    assert key2 != key and isinstance(graph2, type(gr.skip()))  # a layer toggle does not redraw the graph
    assert np.abs(np.asarray(plain, np.int16) - np.asarray(picture, np.int16)).mean() > 1


def test_the_tick_stops_its_timer_once_the_run_cannot_move_by_itself(ctx):
    """An idle lab polled twice a second anyway, and the browser redrew its outputs each time (a third of a core
    in Chromium): the tick stops the timer without a run, and after drawing a paused or ended run's last state;
    while the run trains it leaves the timer alone."""
    h = lab_tab.LabHandlers(ctx)
    *shown, timer = h.tick(ALL_LAYERS, None, request())
    assert "No run yet" in shown[1] and timer.active is False
    session = ctx.registry.get("s1")
    trainer = ctx.registry.start(session, tiny_cfg(steps=10**6), ctx.device)
    try:
        *shown, timer = h.tick(ALL_LAYERS, shown[3], request())
        assert "running" in shown[1] and isinstance(timer, type(gr.skip()))
        trainer.pause()
        *shown, timer = h.tick(ALL_LAYERS, shown[3], request())
        assert isinstance(shown[0], Image.Image) and "paused" in shown[1] and timer.active is False
    finally:
        ctx.registry.stop(session)
    trainer.join(60)
    *shown, timer = h.tick(ALL_LAYERS, shown[3], request())
    assert "stopped" in shown[1] and timer.active is False


def test_lab_says_so_for_an_image_run(ctx):
    fake_image_run = types.SimpleNamespace(kind="image", dataset=types.SimpleNamespace(name="digits"), step=5,
                                           running=False, state="running", holds_optimizers=False,
                                           family=types.SimpleNamespace(name="gan", critic=object()))
    ctx.registry.get("s1").trainer = fake_image_run
    h = lab_tab.LabHandlers(ctx)
    picture, status, _, _ = h.refresh(ALL_LAYERS, None, request())
    assert picture is None and "digits" in status and "image set" in status and "Start a 2D run" in status
    _, note, _, _, _ = h.d_step(ALL_LAYERS, request=request())
    assert "image set" in note


def test_lab_says_it_shows_gans_for_a_vae_run(ctx):
    cfg = tiny_cfg()
    cfg.family = "vae"
    trainer = ctx.registry.start(ctx.registry.get("s1"), cfg, ctx.device)
    trainer.join(60)
    h = lab_tab.LabHandlers(ctx)
    picture, status, graph, key = h.refresh(ALL_LAYERS, None, request())
    assert picture is None and "The 2D lab shows GANs; this run is a VAE" in status and "Train" in status
    _, note, _, _, _ = h.d_step(ALL_LAYERS, request=request())
    assert "this run is a VAE" in note and trainer.step == 3  # no step taken
    assert 'data-part="D"' in h.preview_graph("hinge", request())  # the loss picker's GAN, not an error
    assert h.refresh(ALL_LAYERS, key, request()) == (gr.skip(), gr.skip(), gr.skip(), gr.skip())


# ---------------------------------------------------------------------------- step by step
def test_d_step_changes_d_only_and_explains(ctx):
    trainer = start_tiny(ctx)
    h = lab_tab.LabHandlers(ctx)
    g_before = [p.detach().clone() for p in trainer.family.G.parameters()]
    d_before = [p.detach().clone() for p in trainer.family.D.parameters()]
    _, _, _, key = h.refresh(ALL_LAYERS, None, request())

    picture, note, status, _, new_key = h.d_step(ALL_LAYERS, request=request())
    assert isinstance(picture, Image.Image)
    assert new_key != key  # the timer will not redraw over it, and knows D changed
    assert trainer.step == 3  # a D step is not a training step
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.family.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.family.D.parameters()))
    assert note.startswith("**One D step**") and "real points" in note and "did not move" in note
    assert "(was " in note  # before and after figures, computed


def test_g_step_moves_points_and_explains(ctx):
    trainer = start_tiny(ctx)
    h = lab_tab.LabHandlers(ctx)
    d_before = [p.detach().clone() for p in trainer.family.D.parameters()]
    picture, note, status, _, _ = h.g_step(ALL_LAYERS, request=request())
    assert trainer.step == 4 and "step 4" in status
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.family.D.parameters()))
    assert note.startswith("**One G step**") and "moved" in note and "nearest real point" in note


def graph_parts(svg: str) -> dict:
    """data-part -> its <g> element in the model graph's SVG."""
    ns = "{http://www.w3.org/2000/svg}"
    return {g.get("data-part"): g for g in ET.fromstring(svg).iter(f"{ns}g") if g.get("data-part")}


def graph_texts(element) -> list[str]:
    return [t.text or "" for t in element.iter("{http://www.w3.org/2000/svg}text")]


def test_d_and_g_steps_highlight_their_part_of_the_graph_with_the_steps_numbers(ctx, monkeypatch):
    trainer = start_tiny(ctx, loss="lsgan")
    h = lab_tab.LabHandlers(ctx)
    taken = {}
    run_phase = trainer.run_phase

    def spy(name):  # the numbers of the very step the handler ran
        taken.update(run_phase(name))
        return dict(taken)

    monkeypatch.setattr(trainer, "run_phase", spy)
    _, _, _, graph, _ = h.d_step(ALL_LAYERS, request=request())
    parts = graph_parts(graph)
    assert parts["D"].get("data-state") == "updating" and parts["G"].get("data-state") == "frozen"
    assert "updating D" in graph_texts(parts["D"]) and "least squares (LSGAN)" in graph
    assert graph_texts(parts["D(x)"])[-1] == f"{taken['d_real']:.3f}"  # D(x) of this D step, written on D(x)
    assert graph_texts(parts["loss_D"])[-1] == fmt(taken["loss_d"])
    assert "step 3" in graph  # a D step is not a training step

    _, _, _, graph, key = h.g_step(ALL_LAYERS, request=request())
    parts = graph_parts(graph)
    assert parts["G"].get("data-state") == "updating" and parts["D"].get("data-state") == "frozen"
    assert "updating G" in graph_texts(parts["G"]) and "step 4" in graph
    assert any(t.startswith("|∇G| ") for t in graph_texts(parts["G"]))

    # the next tick and a layer toggle keep the highlight; once the run moves on, no highlight
    assert all(isinstance(x, type(gr.skip())) for x in h.refresh(ALL_LAYERS, key, request()))
    _, _, graph, key = h.refresh([], key, request())
    assert isinstance(graph, type(gr.skip()))
    trainer.step_once()
    graph = h.refresh([], key, request())[2]
    parts = graph_parts(graph)
    assert parts["D"].get("data-state") == "idle" and parts["G"].get("data-state") == "idle"
    assert graph_texts(parts["D(x)"])[-1] == f"{trainer.last_record.d_real:.3f}"  # the latest record's numbers


def test_graph_preview_follows_the_loss_picker_without_a_run(ctx):
    h = lab_tab.LabHandlers(ctx)
    assert "WGAN-GP" in h.preview_graph("wgan-gp", request())
    assert "non-saturating + R1" in h.preview_graph("nonsaturating", request())  # 2D runs default to R1 0.1
    start_tiny(ctx)
    assert isinstance(h.preview_graph("wgan-gp", request()), type(gr.skip()))  # a run shows its own loss


def test_step_pauses_a_running_run(ctx):
    trainer = ctx.registry.start(ctx.registry.get("s1"), tiny_cfg(steps=100_000), ctx.device)
    try:
        h = lab_tab.LabHandlers(ctx)
        h.g_step(ALL_LAYERS, request=request())
        assert trainer.state == "paused"
        h.resume(request())
        assert trainer.state == "running"
    finally:
        trainer.stop()
        trainer.join(30)


@pytest.mark.parametrize("d_norm", ["none", "batch"])  # pooled; alone (a BatchNorm D trains alone)
def test_a_run_started_paused_takes_no_step_first(ctx, d_norm):
    """The step mode's run is paused before it trains: a 3-step run would otherwise end before a pause after its
    start (the lab then held a finished run)."""
    cfg = tiny_cfg(steps=3)
    cfg.model.d_norm = d_norm
    trainer = ctx.registry.start(ctx.registry.get("s1"), cfg, "cpu", paused=True)
    assert (trainer.pool_note is None) == (d_norm == "none")
    assert trainer.state == "paused" and trainer.step == 0 and trainer.control.halted.is_set()
    trainer.resume()
    trainer.join(60)
    assert trainer.state == "finished" and trainer.step == 3


def test_step_without_a_run_starts_one_from_the_labs_settings_paused(ctx):
    """Issue 22: the step mode refused before a run; its first click now starts one (paused) and steps it."""
    h = lab_tab.LabHandlers(ctx)
    picture, note, status, graph, _ = h.g_step(ALL_LAYERS, "ring8", None, None, "nonsaturating", 1e-3, 1e-3, 50,
                                               request=request())
    trainer = ctx.registry.get("s1").trainer
    assert lab_tab.in_lab(trainer) and trainer.state == "paused" and trainer.cfg.train.steps == 50
    assert "Started a 2D run" in note and "**One G step**" in note and picture is not None
    assert 'data-part="G" data-state="updating"' in graph
    _, note, _, _, _ = h.d_step(ALL_LAYERS, "ring8", None, None, "nonsaturating", 1e-3, 1e-3, 50, request=request())
    assert ctx.registry.get("s1").trainer is trainer and "Started" not in note  # the same run, stepped again
    _, note, _, _, _ = h.d_step(ALL_LAYERS, "ring8", None, None, "nonsaturating", -1, 1e-3, 50, request=request("s2"))
    assert "Could not start" in note and ctx.registry.get("s2").trainer is None
    assert "Start a 2D run first" in h.g_step(ALL_LAYERS, request=request("s3"))[1]  # no settings given: nothing to start


def test_step_notes_use_the_numbers():
    change = {"moved_mean": 0.02, "moved_max": 0.05, "move_dx": -0.015, "move_dy": 0.012, "near_before": 0.3,
              "near_after": 0.25, "heat_mean_before": 0.4, "heat_mean_after": 0.42, "heat_up": 0.1,
              "heat_down": 0.05, "heat_up_at": (1.0, 0.0), "heat_down_at": (-0.5, 0.25)}
    note = lab_tab.g_step_note("nonsaturating", 12, (0.7, 0.3), (0.7, 0.35), change)
    assert "0.0200" in note and "up and to the left" in note and "closer to" in note and "0.350" in note
    note = lab_tab.d_step_note("wgan-gp", 12, (1.0, -1.0), (1.5, -1.2), change)
    assert "+1.500" in note and "(+1.00, +0.00)" in note and "apart better" in note
    only_up = {**change, "heat_down": 0.0, "heat_down_at": None}
    note = lab_tab.d_step_note("minimax", 12, (0.6, 0.4), (0.62, 0.38), only_up)
    assert "greener" in note and "nowhere more purple" in note and "None" not in note


# -------------------------------------------------------------------------- your own points
def sketch(h: int = 200, w: int = 200) -> dict:
    """A Sketchpad value: a transparent RGBA canvas with a black bar drawn in the top half."""
    layer = np.zeros((h, w, 4), np.uint8)
    layer[20:40, 50:150] = (0, 0, 0, 255)
    composite = np.full((h, w, 4), 255, np.uint8)
    composite[20:40, 50:150] = (0, 0, 0, 255)
    return {"background": None, "layers": [layer], "composite": composite}


def test_drawn_points_are_in_range_and_y_points_up():
    points = lab_tab.drawn_points(sketch())
    assert points.shape == (20 * 100, 2)
    assert np.abs(points).max() <= 1
    assert (points[:, 1] > 0.5).all()  # drawn near the top of the canvas
    assert -0.55 < points[:, 0].min() < points[:, 0].max() < 0.55
    big = lab_tab.drawn_points({"layers": [], "composite": np.zeros((300, 300), np.uint8)})
    assert len(big) == lab_tab.MAX_DRAWN  # at most ~2000 stroke pixels
    assert len(lab_tab.drawn_points(None)) == 0


def test_too_few_drawn_points_are_refused(ctx):
    h = lab_tab.LabHandlers(ctx)
    dot = {"layers": [], "composite": np.full((100, 100, 3), 255, np.uint8)}
    dot["composite"][10:13, 10:13] = 0  # 9 pixels of ink
    with pytest.raises(DataError, match="at least 16"):
        h.run_config(lab_tab.DRAWN, None, dot, "nonsaturating", 1e-3, 1e-3, 10)
    status = h.start(lab_tab.DRAWN, None, dot, "nonsaturating", 1e-3, 1e-3, 10, request())
    assert status.startswith("Could not start") and "9 points" in status
    assert ctx.registry.get("s1").trainer is None


def test_drawn_and_uploaded_points_make_2d_runs(ctx, tmp_path):
    h = lab_tab.LabHandlers(ctx)
    cfg, dataset = h.run_config(lab_tab.DRAWN, None, sketch(), "lsgan", 2e-3, 1e-3, 50)
    assert cfg.kind == "2d" and cfg.data.dataset.endswith(".csv") and len(dataset) == 2000
    assert cfg.train.loss == "lsgan" and cfg.train.lr_g == 2e-3 and cfg.train.steps == 50
    # the drawing is kept as a CSV, so the CLI command repeats the run
    assert len(open(cfg.data.dataset).read().splitlines()) == 2001

    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n" + "\n".join(f"{np.cos(t):.4f},{np.sin(t):.4f}" for t in np.linspace(0, 6, 40)))
    cfg, dataset = h.run_config(lab_tab.UPLOADED, str(csv), None, "nonsaturating", 1e-3, 1e-3, 50)
    assert dataset.kind == "2d" and len(dataset) == 40 and cfg.data.dataset == str(csv)
    status = h.start(lab_tab.UPLOADED, None, None, "nonsaturating", 1e-3, 1e-3, 50, request=request())
    assert "upload a CSV" in status


def test_lab_refuses_runs_past_the_web_limits(ctx):
    h = lab_tab.LabHandlers(ctx)
    status = h.start("ring8", None, None, "nonsaturating", 1e-3, 1e-3, 100_000_000, request())
    assert status.startswith("Could not start") and "steps: at most 100,000" in status
    assert ctx.registry.get("s1").trainer is None


def blank_png(path, side: int):
    """A valid 1-bit grayscale PNG of side x side pixels, a few KB: rows are streamed through zlib."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then side bits of black
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_huge_drawings_are_refused_from_their_header(ctx, tmp_path):
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    with gr.Blocks():
        pad = lab_tab.build(ctx)["drawing"]
    huge = blank_png(tmp_path / "huge.png", 8000)  # 64 M pixels: ~0.5 GB once decoded to RGBA and numpy
    assert huge.stat().st_size < 100_000 and Image.open(huge).size == (8000, 8000)
    with pytest.raises(gr.Error, match="8,000 x 8,000 pixels"):
        pad.preprocess(EditorData(background=None, layers=[], composite=FileData(path=str(huge))))
    small = blank_png(tmp_path / "small.png", 360)  # the canvas' own size
    value = pad.preprocess(EditorData(background=None, layers=[FileData(path=str(small))],
                                      composite=FileData(path=str(small))))
    assert value["composite"].shape[:2] == (360, 360) and len(lab_tab.drawn_points(value)) == lab_tab.MAX_DRAWN


# -------------------------------------------------------------------------------- lessons
def test_every_lesson_preset_is_a_valid_config():
    presets = [p for lesson in lessons_tab.LESSONS for p in lesson.presets]
    assert len(lessons_tab.LESSONS) >= 4 and len(presets) >= 4
    for preset in presets:
        values = values_for(preset.values)  # what the Train tab's controls show after the button
        assert set(values) == set(CONTROL_FIELDS)
        assert all(values[name] == value for name, value in preset.values.items())
        cfg = config_from_values(values)  # what the Train tab builds on Start (also checks web limits)
        cfg.validate()
        resolved = cfg.resolved()
        assert (resolved.kind == "2d" or resolved.data.dataset in ("stacked-digits", "digits")) and resolved.train.steps <= 3000
        for name, value in preset.values.items():  # the run is the one the lesson measured
            section = "data" if name == "dataset" else "model" if hasattr(resolved.model, name) else "train"
            assert getattr(getattr(resolved, section), name) == value, name
    losses = {p.values.get("loss") for p in presets}
    assert {"minimax", "wgan-gp", "nonsaturating"} <= losses
    assert any(p.values.get("lr_d", 0) >= 10 * p.values.get("lr_g", 1) for p in presets)
    assert any(tab == "explore" for lesson in lessons_tab.LESSONS for _, tab in lesson.tabs)


def test_lessons_show_formulas_in_latex():
    md = lessons_tab.formulas_markdown(["minimax", "nonsaturating"])
    assert md.count("$$") == 8 and r"\log" in md


def test_lesson_buttons_fill_the_train_controls_and_switch_tabs():
    names = ["dataset", "loss", "lr_g", "lr_d", "width", "steps", "conditional", "beta1"]
    with gr.Blocks() as demo:
        with gr.Tabs() as tabs:
            with gr.Tab("Train", id="train"):
                controls = {n: (gr.Textbox() if n in ("dataset", "loss") else gr.Checkbox() if n == "conditional"
                                else gr.Number()) for n in names}
            with gr.Tab("Lessons", id="lessons"):
                lessons = lessons_tab.build(None)
        lessons_tab.wire(None, lessons, {"controls": controls}, tabs)
    btn, preset = lessons["buttons"][0]
    fn = next(f.fn for f in demo.fns.values() if any(t[0] == btn._id for t in f.targets))
    out = fn()
    assert out[:-1] == [values_for(preset.values)[n] for n in names]
    assert out[names.index("beta1")] == 0.5  # an auto field shows the number the run will use
    assert out[-1].selected == "train"


# ---------------------------------------------------------------------- through the server
def test_lab_events_through_gradio_client(ctx):
    from gradio_client import Client

    from tests.browser import serve

    with gr.Blocks() as demo:
        lab_tab.build(ctx, {})
    demo.queue()
    with serve(demo) as url:
        client = Client(url, verbose=False)
        status = client.predict("ring8", None, None, "nonsaturating", 1e-3, 1e-3, 100_000_000, api_name="/lab_start")
        assert "steps: at most 100,000 in the web app" in status and not ctx.registry._sessions[client.session_hash].trainer
        status = client.predict("ring8", None, None, "nonsaturating", 1e-3, 1e-3, 2, api_name="/lab_start")
        assert "ring8" in status
        trainer = next(s.trainer for s in ctx.registry._sessions.values())
        trainer.join(120)
        picture, status, graph, _ = client.predict(ALL_LAYERS, api_name="/lab_refresh")  # and the timer
        assert "step 2 of 2" in status and picture and 'data-part="D" data-state="idle"' in graph
        picture, note, status, graph = client.predict(ALL_LAYERS, "ring8", None, None, "nonsaturating", 1e-3, 1e-3, 2,
                                                      api_name="/lab_d_step")  # the lab's settings: used without a run
        assert note.startswith("**One D step**") and 'data-part="D" data-state="updating"' in graph
