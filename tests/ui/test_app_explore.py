"""Explore and Interpolate tabs: handler logic on tiny checkpoints, and the wiring through a launched app."""
from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.explore.latent import z_from_seed  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402
from gan_demo.ui.tabs import explore as explore_tab
from gan_demo.ui.tabs import interpolate as interpolate_tab
from gan_demo.ui import widgets  # noqa: E402
from gan_demo.ui.app import AppContext  # noqa: E402
from gan_demo.ui.widgets import MARK_COLOR, N_SLIDERS, PCA, RAW  # noqa: E402

ZEROS = [0.0] * N_SLIDERS


@pytest.fixture(scope="module")
def ctx(pretrained):
    return AppContext.create(device="cpu", pretrained=pretrained)


@pytest.fixture
def request_(request):
    """A stand-in for gr.Request: the handlers only read its session_hash."""
    return SimpleNamespace(session_hash=f"test-{request.node.name}")


@pytest.fixture(scope="module")
def explore(ctx):
    return explore_tab.Explore(ctx)


@pytest.fixture(scope="module")
def interp(ctx):
    return interpolate_tab.Interpolate(ctx)


def pixels(picture) -> np.ndarray:
    assert isinstance(picture, Image.Image)
    return np.asarray(picture.convert("RGB")).astype(np.int16)


def render(explore, req, name="digits", seed=0, mode=RAW, truncation=1.0, label=0, offsets=ZEROS):
    picture, text = explore.render(req, name, seed, mode, truncation, label, *offsets)
    return pixels(picture), text


# ------------------------------------------------------------------------------------- explore
def test_catalog_lists_the_pretrained_runs(ctx):
    assert ctx.catalog.choices(None) == ["digits", "ring8"]


def test_slider_move_changes_the_image_and_same_inputs_give_the_same_image(explore, request_):
    base, text = render(explore, request_)
    assert base.shape == (320, 320, 3)  # 16 px enlarged 20 times, nearest neighbour
    moved, _ = render(explore, request_, offsets=[2.0] + ZEROS[1:])
    assert np.abs(moved - base).max() > 20
    again, _ = render(explore, request_, offsets=[2.0] + ZEROS[1:])
    assert np.array_equal(again, moved)
    other_seed, _ = render(explore, request_, seed=1)
    assert np.abs(other_seed - base).max() > 20
    assert "D(x) = " in text and "probability" in text


def test_pca_mode_labels_sliders_with_explained_variance_and_moves_the_image(explore, request_):
    out = explore.change_mode(request_, "digits", 0, PCA, 1.0, 0)
    sliders, (picture, text) = out[:N_SLIDERS], out[N_SLIDERS:]
    labels = [s["label"] for s in sliders]
    assert all(s["visible"] and s["value"] == 0.0 for s in sliders)
    shares = [float(label.split("·")[1].split("%")[0]) for label in labels]
    assert labels[0].startswith("PC1") and shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100
    base, _ = render(explore, request_, mode=PCA)
    assert np.array_equal(base, pixels(picture))
    moved, text = render(explore, request_, mode=PCA, offsets=[3.0] + ZEROS[1:])
    assert np.abs(moved - base).max() > 20
    assert "PC1" in text


def test_pca_on_a_2d_generator_has_two_directions(explore, request_):
    sliders = explore.change_mode(request_, "ring8", 0, PCA, 1.0, None)[:N_SLIDERS]
    assert [s["visible"] for s in sliders] == [True, True] + [False] * (N_SLIDERS - 2)


def test_class_picker_and_class_changes_the_output(explore, request_):
    out = explore.select(request_, "digits", 0, RAW, 1.0, 3, None)
    class_update = out[1]
    assert class_update["visible"] and len(class_update["choices"]) == 10 and class_update["value"] == 3
    three, _ = render(explore, request_, label=3)
    seven, text = render(explore, request_, label=7)
    assert np.abs(three - seven).max() > 20
    assert "class 7" in text
    out = explore.select(request_, "ring8", 0, RAW, 1.0, 3, None)
    assert out[1]["visible"] is False


def test_truncation_zero_ignores_the_seed(explore, request_):
    a, _ = render(explore, request_, seed=1, truncation=0.0)
    b, _ = render(explore, request_, seed=2, truncation=0.0)
    assert np.array_equal(a, b)


def test_2d_checkpoint_shows_the_cloud_with_the_point_highlighted(explore, request_):
    base, text = render(explore, request_, name="ring8", label=None)
    orange = np.all(base == np.array(MARK_COLOR), axis=-1)
    assert base.shape == (320, 320, 3) and orange.sum() > 50
    moved, _ = render(explore, request_, name="ring8", label=None, offsets=[3.0, -3.0] + ZEROS[2:])
    moved_orange = np.all(moved == np.array(MARK_COLOR), axis=-1)
    assert not np.array_equal(np.argwhere(orange).mean(0), np.argwhere(moved_orange).mean(0))
    assert "G(z) = (" in text


def test_random_seed_draws_a_new_latent(explore, request_):
    seed, picture, text = explore.random_seed(request_, "digits", RAW, 1.0, 0, *ZEROS)
    assert 0 <= seed <= widgets.MAX_SEED and f"seed {seed}" in text
    assert np.array_equal(pixels(picture), render(explore, request_, seed=seed)[0])


def test_the_current_run_is_explorable_while_it_trains(explore, request_):
    session = explore.ctx.registry.get(request_.session_hash)
    cfg = RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16),
                    train=TrainConfig(batch_size=64, steps=50))
    explore.ctx.registry.start(session, cfg, "cpu")
    try:
        checkpoint = explore.refresh(request_, "digits")
        assert "current run" in checkpoint["choices"] and checkpoint["value"] == "digits"
        out = explore.select(request_, "current run", 0, RAW, 1.0, None, None)
        assert isinstance(out[-3], Image.Image) and "ring8 (2D points)" in out[-1]
        picture, text = render(explore, request_, name="current run", label=None)
        assert "G(z) = (" in text
    finally:
        explore.ctx.registry.stop(session)


def test_select_resets_sliders_and_describes_the_checkpoint(explore, request_):
    out = explore.select(request_, "digits", 5, RAW, 0.7, 0, None)
    pending, sliders, status = out[0], out[2:2 + N_SLIDERS], out[-1]
    assert pending is None
    assert [s["value"] for s in sliders] == ZEROS
    assert [s["label"] for s in sliders] == [f"z[{i}]" for i in range(N_SLIDERS)]
    assert "DCGAN" in status and "z_dim 16" in status


def test_unknown_checkpoint_gives_a_readable_message(explore, request_):
    picture, text = explore.render(request_, "nope", 0, RAW, 1.0, 0, *ZEROS)
    assert text.startswith("⚠ no checkpoint named 'nope'")
    out = explore.select(request_, "current run", 0, RAW, 1.0, 0, None)
    assert "start a training run first" in out[-1]


def test_bookmarks_round_trip_through_json(explore, request_, tmp_path):
    offsets = [1.5, 0, -0.5] + ZEROS[3:]
    names, download, status = explore.save_bookmark(request_, "digits", 42, RAW, 0.8, 2, *offsets)
    assert "Saved bookmark" in status and download["interactive"]
    explore.save_bookmark(request_, "digits", 7, PCA, 1.0, 5, *([0.0, 2.0] + ZEROS[2:]))
    session = explore.ctx.registry.get(request_.session_hash)
    assert len(session.bookmarks) == 2
    path = explore._bookmark_outputs(session)[1]["value"]  # the same file, rewritten after each save
    saved = json.loads(open(path).read())
    assert saved["format"] == "gan_demo-bookmarks" and len(saved["bookmarks"]) == 2
    first = saved["bookmarks"][0]
    assert (first["checkpoint"], first["seed"], first["mode"], first["label"]) == ("digits", 42, RAW, 2)
    assert first["offsets"] == offsets and first["truncation"] == 0.8 and len(first["z"]) == 16
    expected_z = widgets.latent_of(explore.ctx.catalog.sampler("digits"), 42, RAW, offsets)[0]
    assert torch.allclose(torch.tensor(first["z"]), expected_z, atol=1e-5)

    # a fresh session loads the file and restores the first bookmark exactly
    other = SimpleNamespace(session_hash=request_.session_hash + "-other")
    dropdown, _, status = explore.load_bookmarks(other, path)
    assert "Loaded 2 bookmark(s)" in status and dropdown["choices"] == [b["name"] for b in saved["bookmarks"]]
    out = explore.restore(other, first["name"], "digits")
    pending, view = out[0], out[2:]
    assert pending is None
    sliders, seed, mode, truncation, picture = view[1:1 + N_SLIDERS], *view[1 + N_SLIDERS:5 + N_SLIDERS]
    assert (seed, mode, truncation) == (42, RAW, 0.8) and view[0]["value"] == 2
    assert [s["value"] for s in sliders] == offsets
    expected, _ = render(explore, other, seed=42, truncation=0.8, label=2, offsets=offsets)
    assert np.array_equal(pixels(picture), expected)


def test_bookmarks_kept_in_the_browser_come_back_after_a_reload_or_restart(explore, request_):
    explore.save_bookmark(request_, "digits", 42, RAW, 0.8, 2, *ZEROS)
    stored = explore.stored_bookmarks(request_)  # what the page keeps in its BrowserState
    # a reload after a server restart: a new session, the browser sends back what it kept
    fresh = SimpleNamespace(session_hash=request_.session_hash + "-after-restart")
    dropdown, download = explore.restore_stored(fresh, stored)
    assert dropdown["choices"] == bookmark_names_of(explore, request_) and download["interactive"]
    assert explore.ctx.registry.get(fresh.session_hash).bookmarks == explore.ctx.registry.get(
        request_.session_hash).bookmarks
    # damaged, hostile or oversized values are ignored, and a session's own bookmarks are never replaced
    for bad in ("{not json", json.dumps({"bookmarks": [{"z": "x"}]}), "[" * 100_000, 42, None,
                " " * (widgets.MAX_BOOKMARK_FILE + 1)):
        other = SimpleNamespace(session_hash=f"{request_.session_hash}-bad-{hash(str(bad)) % 1000}")
        dropdown, _ = explore.restore_stored(other, bad)
        assert dropdown["choices"] == []
    explore.restore_stored(request_, json.dumps({"bookmarks": []}))
    assert len(explore.ctx.registry.get(request_.session_hash).bookmarks) == 1


def bookmark_names_of(explore, request_) -> list[str]:
    return [b["name"] for b in explore.ctx.registry.get(request_.session_hash).bookmarks]


def test_restoring_a_bookmark_of_another_checkpoint_switches_to_it(explore, request_):
    explore.save_bookmark(request_, "ring8", 3, RAW, 1.0, None, *([1.0] + ZEROS[1:]))
    session = explore.ctx.registry.get(request_.session_hash)
    name = session.bookmarks[-1]["name"]
    out = explore.restore(request_, name, "digits")
    pending, checkpoint = out[0], out[1]
    assert pending["name"] == name and checkpoint["value"] == "ring8"
    # the checkpoint's change event then applies the pending bookmark instead of zeroing the sliders
    out = explore.select(request_, "ring8", 0, RAW, 1.0, None, pending)
    assert out[0] is None and out[2]["value"] == 1.0 and out[2 + N_SLIDERS] == 3
    assert "Restored bookmark" in out[-1]


def test_bad_bookmark_files_give_readable_messages(explore, request_, tmp_path):
    cases = {
        "not json": "not a JSON file",
        json.dumps({"bookmarks": [{"z": "abc"}]}): "bookmark 1: 'z' must be a list",
        json.dumps({"bookmarks": [{"z": [1.0, float("nan")]}]}): "finite numbers",
        json.dumps({"something": 1}): "'bookmarks' list",
    }
    for text, message in cases.items():
        path = tmp_path / "b.json"
        path.write_text(text)
        with pytest.warns(UserWarning):
            _, _, status = explore.load_bookmarks(request_, str(path))
        assert status.startswith("⚠ Could not read the bookmarks") and message in status, status
    assert explore.ctx.registry.get(request_.session_hash).bookmarks == []


def test_uploaded_run_zip_is_selectable_and_a_bad_zip_is_explained(explore, request_, pretrained, tmp_path):
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (pretrained / "ring8").iterdir():
            zf.write(f, f"my-run/{f.name}")
    checkpoint, status = explore.upload_run(request_, str(archive))
    name = checkpoint["value"]
    assert name.startswith("upload-") and name in checkpoint["choices"] and name in status
    picture, text = render(explore, request_, name=name, label=None)
    assert picture.shape == (320, 320, 3) and "G(z)" in text

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip")
    with pytest.warns(UserWarning):
        checkpoint, status = explore.upload_run(request_, str(junk))
    assert status == "⚠ Could not load that run: not a zip file: File is not a zip file"
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.warns(UserWarning):
        _, status = explore.upload_run(request_, str(empty))
    assert "holds no config.json" in status


def run_zip(path, run_dir, **config_changes):
    """A zipped run folder whose config.json has config_changes ({"model": {"ngf": 1024}, ...}) applied."""
    config = json.loads((run_dir / "config.json").read_text())
    for section, changes in config_changes.items():
        config[section].update(changes)
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(run_dir / "model.safetensors", "run/model.safetensors")
        zf.writestr("run/config.json", json.dumps(config))
    return path


def test_uploaded_run_bigger_than_a_web_run_is_refused(ctx, tmp_path):
    wide = RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=1100, depth=1),
                     train=TrainConfig(batch_size=64, steps=1))
    Trainer(wide, device="cpu").save(tmp_path / "wide")  # a consistent run, 13 K parameters, MLP width 1,100
    uploads = sorted(p for p in ctx.catalog.upload_root.rglob("*") if p.is_file())
    with pytest.raises(ValueError, match="bigger than the web app explores: width: at most 1,024"):
        ctx.catalog.add_upload(run_zip(tmp_path / "wide.zip", tmp_path / "wide"), ctx.registry.get("uploader"))
    assert sorted(p for p in ctx.catalog.upload_root.rglob("*") if p.is_file()) == uploads  # nothing left behind


@pytest.mark.slow
def test_huge_config_run_zip_is_refused_without_allocating(pretrained, tmp_path):
    """The audit's zip: small weights, a config asking for a 64 px DCGAN with ngf = ndf = 1024 (2 G parameters).
    In a fresh process, so its peak memory (ru_maxrss) is the upload's own."""
    import subprocess
    import sys

    archive = run_zip(tmp_path / "huge.zip", pretrained / "digits", data={"img_size": 64},
                      model={"img_size": 64, "ngf": 1024, "ndf": 1024})
    script = f"""
import json, resource
from gan_demo.ui.app import AppContext
ctx = AppContext.create(device="cpu", pretrained={str(tmp_path)!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    ctx.catalog.add_upload({str(archive)!r}, ctx.registry.get("uploader"))
    error = None
except ValueError as exc:
    error = str(exc)
print(json.dumps({{"error": error, "grew_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] and "ngf: at most 256" in result["error"]
    assert result["grew_kib"] < 300 * 1024


# --------------------------------------------------------------------------------- interpolate
def gif_frames(path) -> int:
    with Image.open(path) as im:
        return im.n_frames


@pytest.mark.parametrize("name", ["digits", "ring8"])
def test_interpolation_gif_has_n_frames_and_2n_minus_2_with_pingpong(interp, request_, name):
    label = 0 if name == "digits" else None
    strip, gif, download, status = interp.run(request_, name, "seed", 0, None, "seed", 1, None, "slerp", 8,
                                              False, 1.0, label, 80)
    assert gif_frames(gif) == 8 and download["value"] == gif and "8 frames from seed 0 to seed 1" in status
    assert isinstance(strip, Image.Image)
    if name == "digits":
        assert strip.size == (8 * 66 + 2, 66 + 2)  # 8 frames of 64 px in a row, 2 px apart
    strip, gif, _, status = interp.run(request_, name, "seed", 0, None, "seed", 1, None, "lerp", 8,
                                       True, 0.7, label, 80)
    assert gif_frames(gif) == 14 and "14 GIF frames" in status


def test_interpolation_between_bookmarks(explore, interp, request_):
    explore.save_bookmark(request_, "digits", 3, RAW, 1.0, 0, *ZEROS)
    explore.save_bookmark(request_, "digits", 4, PCA, 1.0, 0, *([2.0] + ZEROS[1:]))
    explore.save_bookmark(request_, "ring8", 4, RAW, 1.0, None, *ZEROS)
    marks = [b["name"] for b in explore.ctx.registry.get(request_.session_hash).bookmarks]
    checkpoint, a, b = interp.refresh(request_, "digits", None, None)
    assert a["choices"] == marks and (a["value"], b["value"]) == (marks[0], marks[-1])
    strip, gif, _, status = interp.run(request_, "digits", "bookmark", None, marks[0], "bookmark", None, marks[1],
                                       "slerp", 4, False, 1.0, 0, 80)
    assert gif_frames(gif) == 4 and f"bookmark {marks[0]}" in status
    # a bookmark's z of another size cannot be an endpoint here
    *_, status = interp.run(request_, "digits", "bookmark", None, marks[0], "bookmark", None, marks[2],
                            "slerp", 4, False, 1.0, 0, 80)
    assert status.startswith("⚠ bookmark") and "z_dim 8" in status and "needs 16" in status
    *_, status = interp.run(request_, "digits", "bookmark", None, None, "seed", 1, None, "slerp", 4, False, 1.0, 0, 80)
    assert "pick a bookmark" in status


def test_interpolation_endpoints_are_the_shown_samples(interp, explore, request_):
    strip, gif, _, _ = interp.run(request_, "digits", "seed", 5, None, "seed", 6, None, "slerp", 3, False,
                                  1.0, 4, 80)
    a, _ = render(explore, request_, seed=5, label=4)
    with Image.open(gif) as im:
        first = np.asarray(im.convert("RGB").resize((320, 320), Image.Resampling.NEAREST)).astype(np.int16)
    assert np.abs(first - a).max() <= 8  # GIF palette quantisation only


# ------------------------------------------------------------------------------- wiring (live)
def test_tabs_work_through_a_launched_app(pretrained):
    """The events are wired to the right components: a slider move and an interpolation over HTTP."""
    from gradio_client import Client

    from tests.browser import serve

    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                explore = explore_tab.build(ctx)
            with gr.Tab("Interpolate", id="interpolate"):
                interp = interpolate_tab.build(ctx)
    assert {"checkpoint"} <= set(explore) and {"checkpoint"} <= set(interp)
    demo.queue()
    demo.ctx = ctx
    with serve(demo) as url:
        client = Client(url, verbose=False)
        with urllib.request.urlopen(f"{url}image?checkpoint=digits&seed=0&label=0&mode=raw&offsets=1,0", timeout=60) as r:
            text = urllib.parse.unquote(r.headers["X-Readout"])  # the readout comes with its picture (explore.js)
            assert Image.open(io.BytesIO(r.read())).size == (16, 16) and r.headers["X-Pixelated"] == "320"
        assert "D(x)" in text and "+ 1.00·e[0]" in text
        strip, gif, download, status, *scrubber = client.predict(
            "digits", "seed", 0, None, "seed", 1, None, "slerp", 5, True, 1.0, 0, 80, api_name="/run")
        assert gif_frames(gif) == 8 and "5 frames" in status


# ------------------------------------------------------------------------------------ browser
def test_in_the_browser_sliders_bookmarks_and_interpolation(pretrained, tmp_path):
    """Headless chromium: a slider move shows a new image, a bookmark of another checkpoint is restored
    (its checkpoint loads first, then its latent), an interpolation shows a GIF."""
    from tests.browser import browser_page, click_tab, image_src, open_app, serve, set_slider, wait_for_new_image

    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                explore_tab.build(ctx)
            with gr.Tab("Interpolate", id="interpolate"):
                interpolate_tab.build(ctx)
    demo.queue()
    demo.ctx = ctx  # serve() adds the picture routes, as the app's launch() does

    def choose(page, elem_id, option):
        page.locator(f"#{elem_id} input").click()
        page.get_by_role("option", name=option).first.click()

    def number(page, elem_id):
        return page.locator(f"#{elem_id} input[type=number]").first.input_value()

    with serve(demo) as url, browser_page() as page:
        open_app(page, url, "#explore-image img")
        before = image_src(page, "explore-image")
        set_slider(page, "explore-slider-0", 2.0)
        wait_for_new_image(page, "explore-image", before)

        choose(page, "explore-checkpoint", "ring8")
        page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('ring8')")
        page.locator("#explore-seed input").fill("5")
        set_slider(page, "explore-slider-2", 1.5)
        page.locator("#explore-bookmark").click()
        page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('Saved')")
        choose(page, "explore-checkpoint", "digits")
        page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('DCGAN')")
        assert number(page, "explore-slider-2") == "0"
        choose(page, "explore-bookmarks", "ring8 · seed 5")
        page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('Restored')")
        assert page.locator("#explore-checkpoint input").input_value() == "ring8"
        assert number(page, "explore-slider-2") == "1.5"
        assert page.locator("#explore-seed input").input_value() == "5"
        page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)

        click_tab(page, "Interpolate")
        page.locator("#interp-pingpong input").check()
        page.locator("#interp-run").click()
        page.wait_for_selector("#interp-gif img", timeout=60_000)
        assert "30 GIF frames" in page.locator("#interp-status").inner_text()
        page.screenshot(path=str(tmp_path / "interpolate.png"), full_page=True)
        assert page.external_requests == []


# --------------------------------------------------------------------------- projecting an image
@pytest.fixture(scope="module")
def panel(ctx, explore):
    from gan_demo.ui.tabs.projection import ProjectionPanel

    return ProjectionPanel(ctx, explore)


def no_progress(*args, **kwargs):
    pass


def test_a_projected_held_out_image_becomes_a_bookmark_and_the_sliders_move_from_it(panel, explore, interp,
                                                                                     request_, tmp_path):
    out = panel.project(request_, "digits", "held-out", None, None, 3, 60, 0.0, progress=no_progress)
    picture, status, curve = out[:3]
    assert "Projected **held-out image 3**" in status and "60 Adam steps on z" in status
    assert picture.size[0] > 2.5 * picture.size[1] and list(curve.columns) == ["step", "loss"]
    session = explore.ctx.registry.get(request_.session_hash)
    first = session.bookmarks[-1]
    assert first["projected"] == "held-out image 3" and len(first["base"]) == 16 and first["z"] == first["base"]
    # the view shows the projected z, and a slider moves from it
    shown, text = render(explore, request_, label=first["label"])
    assert "projected z (held-out image 3)" in text
    moved, text = render(explore, request_, label=first["label"], offsets=[1.5] + ZEROS[1:])
    assert "projected z (held-out image 3) + 1.50·e[0]" in text and np.abs(moved - shown).sum() > 0
    # a second real image: interpolate between the two projected bookmarks
    panel.project(request_, "digits", "held-out", None, None, 8, 40, 0.0, progress=no_progress)
    names = [b["name"] for b in session.bookmarks[-2:]]
    strip, gif, _, status = interp.run(request_, "digits", "bookmark", None, names[0], "bookmark", None, names[1],
                                       "slerp", 4, False, 1.0, 0, 80)
    assert gif_frames(gif) == 4
    # bookmark files keep the projection; typing a seed goes back to the seed's latent
    parsed = widgets.parse_bookmarks(widgets.bookmarks_json(session.bookmarks))
    assert parsed[-1]["base"] == session.bookmarks[-1]["base"]
    _, text = explore.render_seed(request_, "digits", 5, RAW, 1.0, 0, *ZEROS)
    assert text.split("z = ")[1].startswith("seed 5") and session.projected is None


def test_uploads_and_drawings_project_and_stop_and_bad_input_is_explained(panel, explore, request_, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.RandomState(0).rand(60, 40) * 255).astype(np.uint8)).save(photo)
    _, status, *_ = panel.project(request_, "digits", "upload", str(photo), None, 0, 20, 0.1, progress=no_progress)
    assert "Projected **your image**" in status
    canvas = np.full((120, 120, 4), 255, np.uint8)
    canvas[30:90, 55:62, :3] = 0  # a dark stroke: a "1"
    _, status, *_ = panel.project(request_, "digits", "draw", None, {"composite": canvas, "layers": [], "background": None},
                                  0, 20, 0.0, progress=no_progress)
    assert "Projected **your drawing**" in status
    session = explore.ctx.registry.get(request_.session_hash)
    panel.stop(request_)  # a Stop pressed before: the next projection starts afresh
    _, status, *_ = panel.project(request_, "digits", "held-out", None, None, 0, 20, 0.0,
                                  progress=lambda *a, **k: panel.stop(request_))
    assert "1 Adam step on z (stopped)" in status and session.projected["what"] == "held-out image 0"
    for args, message in ((("upload", None, None), "upload an image first"),
                          (("draw", None, None), "draw something first"),
                          (("upload", str(tmp_path / "photo.png"), None), None)):
        _, status, *_ = panel.project(request_, "ring8" if message is None else "digits", args[0], args[1], args[2],
                                      0, 20, 0.0, progress=no_progress)
        assert status.startswith("⚠ Could not project") and (message is None or message in status), status


def test_clicking_a_2d_generators_picture_projects_that_point(panel, explore, request_):
    from gan_demo.ui.widgets import VIEW_SIZE, cloud_view

    sampler = explore.ctx.catalog.sampler("ring8")
    _, (xmin, xmax, ymin, ymax) = cloud_view(sampler)
    target = sampler.generate(z_from_seed(4, sampler.z_dim))[0]  # a point the generator can reach
    u = (float(target[0]) - xmin) / (xmax - xmin) * VIEW_SIZE
    v = (ymax - float(target[1])) / (ymax - ymin) * VIEW_SIZE
    status, *_ = panel.click_point(request_, "ring8", SimpleNamespace(index=(u, v)))
    assert status.startswith("Projected **point (") and "distance" in status
    found = torch.tensor(explore.ctx.registry.get(request_.session_hash).projected["z"])
    assert (sampler.generate(found.reshape(1, -1))[0] - target).norm() < 0.05 * (xmax - xmin)
