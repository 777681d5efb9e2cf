"""The app's API through gradio_client, against the whole app launched in this process.

/generate and /interpolate on tiny pretrained runs (a ring8 MLP and a conditional 16 px digits
DCGAN, saved to a temp folder by the Trainer), and training runs started, polled and stopped over
the API: private to the client session that started them, and capped by the server's run limit.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import time

import numpy as np
import pytest
from PIL import Image

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer
from gan_demo.ui.app import AppContext, add_image_route, build_demo
from tests.browser import free_port

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

TINY_RING8 = json.dumps({"width": 16, "depth": 2, "batch_size": 64})
LONG_RUN = 50_000  # steps for runs the tests stop themselves (they never get near the end)
POLL_TIMEOUT_S = 90  # generous: the suite shares two CPU cores


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A folder of two tiny checkpoints, named like the pretrained ones."""
    root = tmp_path_factory.mktemp("pretrained")
    ring8 = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=2000), model=ModelConfig(width=16, depth=2),
                              train=TrainConfig(batch_size=64, steps=20)), device="cpu")
    ring8.run()
    ring8.save(root / "ring8")
    digits = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16),
                               model=ModelConfig(ngf=8, ndf=8, conditional=True),
                               train=TrainConfig(batch_size=32, steps=3)), device="cpu")
    digits.run()
    digits.save(root / "digits")
    return root


def launch(ctx: AppContext):
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=8)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                            quiet=True, show_error=True, enable_monitoring=False)
    add_image_route(demo)
    return demo, url


@pytest.fixture(scope="module")
def app(pretrained):
    ctx = AppContext.create(device="cpu", pretrained=pretrained, max_runs=2)
    demo, url = launch(ctx)
    yield ctx, url
    demo.close()


@pytest.fixture(scope="module")
def client(clients):
    return clients()


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def poll_until(client: Client, run_id: str, done, what: str) -> dict:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        status = client.predict(run_id, api_name="/train_poll")
        if done(status):
            return status
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {status}"
        time.sleep(0.2)


# ----------------------------------------------------------------------------------- endpoints
def test_api_lists_the_endpoints_and_hides_ui_events(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    # Exactly the documented endpoints: every UI event is api_visibility="private".
    assert sorted(named) == ["/compare_poll", "/compare_start", "/compare_stop", "/generate", "/interpolate",
                             "/project", "/train_poll", "/train_start", "/train_stop"]
    params = [p["parameter_name"] for p in named["/generate"]["parameters"]]
    assert params == ["checkpoint", "seed", "truncation", "label"]


def test_the_queue_does_not_summarise_its_events_after_each_one():
    """Gradio's queue would rebuild a pandas summary of its last 10,000 events after every queued event (for a
    monitoring page the app does not serve); the app's queue keeps 1,000 and summarises once per 1,000."""
    import gradio as gr

    with gr.Blocks() as demo:  # gan_demo.ui.app is imported: its queue settings hold for any queue made now
        gr.Markdown("x")
    demo.queue()
    queue = demo._queue
    assert queue.ANALYTICS_MAX_EVENTS == 1000 and queue.ANAYLTICS_CACHE_FREQUENCY == 1000


def test_generate_png_same_seed_same_pixels(client):
    a = client.predict("digits", 7, api_name="/generate")
    again = client.predict(checkpoint="digits", seed=7, api_name="/generate")
    other = client.predict("digits", 8, api_name="/generate")
    with Image.open(a) as im:
        assert im.format == "PNG"
        assert im.size == (256, 256)  # 16 px digits enlarged 16x
    assert digest(a) == digest(again)
    assert (pixels(a) == pixels(again)).all()
    assert not (pixels(a) == pixels(other)).all()


def test_generate_label_picks_the_class(client):
    three = client.predict("digits", 7, 1.0, 3, api_name="/generate")
    five = client.predict("digits", 7, 1.0, 5, api_name="/generate")
    default = client.predict("digits", 7, api_name="/generate")
    zero = client.predict("digits", 7, 1.0, 0, api_name="/generate")
    assert not (pixels(three) == pixels(five)).all()
    assert (pixels(default) == pixels(zero)).all()  # no label = class 0
    with pytest.raises(AppError, match="label must be between 0 and 9"):
        client.predict("digits", 7, 1.0, 10, api_name="/generate")
    with pytest.raises(AppError, match="not class-conditional"):
        client.predict("ring8", 7, 1.0, 3, api_name="/generate")


def test_generate_2d_marks_the_seed_on_the_cloud(client):
    one = client.predict("ring8", 1, api_name="/generate")
    again = client.predict("ring8", 1, api_name="/generate")
    two = client.predict("ring8", 2, api_name="/generate")
    truncated = client.predict("ring8", 1, 0.5, api_name="/generate")
    with Image.open(one) as im:
        assert im.format == "PNG" and im.size == (512, 512)
    assert (pixels(one) == pixels(again)).all()
    assert not (pixels(one) == pixels(two)).all()
    assert not (pixels(one) == pixels(truncated)).all()


def test_a_fixed_2d_cloud_is_drawn_once_per_frame_and_each_picture_is_as_drawn_afresh(app, monkeypatch):
    """A pretrained 2D generator's cloud is drawn once per frame (bounds) and copied for each seed's picture after;
    every picture is byte for byte the one drawn from scratch (the seed's marker never lands in the kept cloud)."""
    import torch

    from gan_demo.render import viz
    from gan_demo.ui import api

    ctx, _ = app
    sampler = ctx.catalog.sampler("ring8", None)
    seeds = range(8)
    frames = {viz.default_bounds(torch.cat([sampler.cloud(), sampler.from_seed(seed)[0].reshape(1, 2)]))
              for seed in seeds}
    drawn, draw = [], viz.points_image
    monkeypatch.setattr(viz, "points_image", lambda *a, **k: drawn.append(a[2]) or draw(*a, **k))
    kept = api.Pictures(ctx)
    pictures = [kept.render_sample(sampler, False, seed, 1.0, None)[0] for seed in seeds]
    assert sorted(drawn) == sorted(frames)  # once per frame, however many seeds
    fresh = api.Pictures(ctx)
    for seed, picture in zip(seeds, pictures):
        fresh._backgrounds.clear()
        assert fresh.render_sample(sampler, False, seed, 1.0, None)[0] == picture, seed
    assert len(set(pictures)) == len(pictures)  # each seed its own marker


def test_generate_refuses_bad_input_with_a_sentence(client):
    with pytest.raises(AppError, match="no checkpoint named 'nope'"):
        client.predict("nope", 1, api_name="/generate")
    with pytest.raises(AppError, match="seed must be between 0"):
        client.predict("digits", -1, api_name="/generate")
    with pytest.raises(AppError, match="truncation must be between"):
        client.predict("digits", 1, 9.0, api_name="/generate")
    with pytest.raises(AppError, match="no run 'run-00000000' in this session"):
        client.predict("run-00000000", 1, api_name="/generate")


def test_the_largest_documented_seed_is_a_seed(client):
    top = client.predict("digits", 2**63 - 1, api_name="/generate")
    assert pixels(top).shape[2] == 3 and digest(top) != digest(client.predict("digits", 2**63 - 2, api_name="/generate"))
    with pytest.raises(AppError, match="seed must be between 0 and 9223372036854775807 \\(got 9223372036854775808\\)"):
        client.predict("digits", 2**63, api_name="/generate")
    with pytest.raises(AppError, match="seed must be a whole number"):
        client.predict("digits", 1.5, api_name="/generate")


def test_user_errors_log_one_line_and_no_traceback(client, capfd, caplog):
    capfd.readouterr()
    with caplog.at_level("WARNING", logger="gan_demo"):
        with pytest.raises(AppError, match="seed must be between 0"):
            client.predict("digits", -1, api_name="/generate")
        with pytest.raises(AppError, match="loss: must be one of"):
            client.predict(loss="wasserstein", api_name="/train_start")
    assert "Traceback" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "gan_demo"]
    assert lines == ["user error: seed must be between 0 and 9223372036854775807 (got -1)",
                     "user error: loss: must be one of nonsaturating, minimax, hinge, lsgan, wgan-gp (got 'wasserstein')"]


@pytest.mark.parametrize("checkpoint, frames, mode", [("digits", 5, "slerp"), ("ring8", 4, "lerp")])
def test_interpolate_returns_a_gif_with_the_frames(client, checkpoint, frames, mode):
    path = client.predict(checkpoint, 1, 2, frames, mode, api_name="/interpolate")
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == frames
    again = client.predict(checkpoint, 1, 2, frames, mode, api_name="/interpolate")
    assert digest(path) == digest(again)


def test_interpolate_refuses_bad_input(client):
    with pytest.raises(AppError, match="mode must be 'slerp' or 'lerp'"):
        client.predict("digits", 1, 2, 4, "cubic", api_name="/interpolate")
    with pytest.raises(AppError, match="frames must be between 2 and 256"):
        client.predict("digits", 1, 2, 1, api_name="/interpolate")
    with pytest.raises(AppError, match="no checkpoint named"):
        client.predict("missing", 1, 2, api_name="/interpolate")


# ------------------------------------------------------------------------------------- training
def test_train_start_poll_stop(app, clients):
    client = clients()
    started = client.predict("ring8", LONG_RUN, "nonsaturating", 0, TINY_RING8, api_name="/train_start")
    run_id = started["run_id"]
    assert run_id.startswith("run-") and started["state"] == "running"
    assert started["target_steps"] == LONG_RUN and started["device"] == "cpu"
    assert "--width 16" in started["command"] and "--batch-size 64" in started["command"]

    first = poll_until(client, run_id, lambda s: s["step"] > 0, "the first steps")
    later = poll_until(client, run_id, lambda s: s["step"] > first["step"], "the step to increase")
    assert later["state"] == "running" and later["steps_per_s"] > 0
    assert later["loss_d"] is not None and 0 <= later["d_real"] <= 1
    assert later["n_modes"] == 8 and 0 <= later["modes_covered"] <= 8
    assert 0 <= later["mode_kl"] <= math.log(8) + 1e-9 and 0 <= later["high_quality"] <= 1
    assert 0 <= later["grid_js"] <= 0.7 and later["grid_kl"] >= 0 and later["quality_step"] <= later["step"]
    json.dumps(later)  # plain JSON all the way down

    sample = client.predict(run_id, 3, api_name="/generate")  # the live run is a checkpoint too
    assert pixels(sample).shape == (512, 512, 3)

    stopped = client.predict(run_id, api_name="/train_stop")
    assert stopped["state"] == "stopped" and stopped["step"] < LONG_RUN
    trainer = app[0].registry.get(client.session_hash).trainer
    trainer.join(POLL_TIMEOUT_S)  # its thread has ended: no step can follow
    assert not trainer.running
    assert client.predict(run_id, api_name="/train_poll")["step"] == stopped["step"]


def test_train_start_refuses_bad_settings(client):
    cases = [
        ({"config_json": "{not json"}, "config_json is not valid JSON"),
        ({"config_json": json.dumps({"widht": 16})}, "unknown setting: widht"),
        ({"config_json": json.dumps({"device": "cuda"})}, "device: cannot be set from the web app"),
        ({"config_json": json.dumps({"model": {"depth": 99}})}, "depth"),
        ({"steps": 10_000_000}, "steps: at most 100,000 in the web app"),
        ({"dataset": "/etc"}, "dataset: the API trains on ring8"),
        ({"loss": "wasserstein"}, "loss: must be one of"),
        ({"config_json": "[" * 100_000}, "config_json is nested too deeply"),  # not gradio's RecursionError
        ({"config_json": json.dumps({"data": {"img_size": 64}, "model": {"ngf": 256, "ndf": 256},
                                     "train": {"batch_size": 4096}}), "dataset": "digits"}, "GFLOP per training step"),
    ]
    for kwargs, message in cases:
        with pytest.raises(AppError, match=message):
            client.predict(**kwargs, api_name="/train_start")


def test_two_sessions_train_at_once_without_seeing_each_other(clients):
    alice, bob = clients(), clients()
    run_a = alice.predict("ring8", LONG_RUN, "nonsaturating", 1, TINY_RING8, api_name="/train_start")["run_id"]
    run_b = bob.predict("ring8", LONG_RUN, "hinge", 2, TINY_RING8, api_name="/train_start")["run_id"]
    assert run_a != run_b
    a1 = poll_until(alice, run_a, lambda s: s["step"] > 0, "alice's first steps")
    b1 = poll_until(bob, run_b, lambda s: s["step"] > 0, "bob's first steps")
    poll_until(alice, run_a, lambda s: s["step"] > a1["step"], "alice's run to go on")
    poll_until(bob, run_b, lambda s: s["step"] > b1["step"], "bob's run to go on")
    assert alice.predict(run_a, api_name="/train_poll")["state"] == "running"
    assert bob.predict(run_b, api_name="/train_poll")["state"] == "running"

    for caller, other_run in ((alice, run_b), (bob, run_a)):
        with pytest.raises(AppError, match=f"no run '{other_run}' in this session"):
            caller.predict(other_run, api_name="/train_poll")
        with pytest.raises(AppError, match=f"no run '{other_run}' in this session"):
            caller.predict(other_run, api_name="/train_stop")
        with pytest.raises(AppError, match=f"no run '{other_run}' in this session"):
            caller.predict(other_run, 1, api_name="/generate")

    assert alice.predict(run_a, api_name="/train_stop")["state"] == "stopped"
    assert bob.predict(run_b, api_name="/train_poll")["state"] == "running"  # untouched by alice's stop
    assert bob.predict(run_b, api_name="/train_stop")["state"] == "stopped"


@pytest.mark.slow
def test_run_cap_gives_a_busy_message(pretrained, tmp_path):
    ctx = AppContext.create(device="cpu", pretrained=pretrained, max_runs=1)
    demo, url = launch(ctx)
    first = Client(url, verbose=False, download_files=str(tmp_path))
    second = Client(url, verbose=False, download_files=str(tmp_path))
    try:
        run_id = first.predict("ring8", LONG_RUN, config_json=TINY_RING8, api_name="/train_start")["run_id"]
        # Another ring8 run of the same shapes joins the first one's pool (its slot); a VAE needs a pool of its own.
        joined = second.predict("ring8", LONG_RUN, config_json=TINY_RING8, api_name="/train_start")
        assert ctx.registry.slots_in_use() == pytest.approx(1.0)
        second.predict(joined["run_id"], api_name="/train_stop")
        vae = json.dumps({"family": "vae", "width": 16, "depth": 2, "batch_size": 64})
        with pytest.raises(AppError, match=r"busy: 1 runs are training or paused on this server \(limit 1\); "
                                           r"a slot should free in about"):
            second.predict("ring8", 100, config_json=vae, api_name="/train_start")
        first.predict(run_id, api_name="/train_stop")
        freed = second.predict("ring8", LONG_RUN, config_json=vae, api_name="/train_start")  # still running when read
        assert freed["state"] == "running"
    finally:
        for c in (first, second):
            ctx.registry.drop(c.session_hash)
            c.close()
        demo.close()


# ------------------------------------------------------------------------------ GET /image
def test_get_image_is_the_generate_picture_cacheable_and_pretrained_only(app, client):
    import httpx

    _, url = app
    with httpx.Client(timeout=60) as http:
        r = http.get(f"{url.rstrip('/')}/image", params={"checkpoint": "digits", "seed": 7, "label": 3})
        again = http.get(f"{url.rstrip('/')}/image", params={"checkpoint": "digits", "seed": 7, "label": 3})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert "max-age" in r.headers["cache-control"] and r.headers["etag"] == again.headers["etag"]
        assert r.content == again.content
        via_api = client.predict("digits", 7, 1.0, 3, api_name="/generate")
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), pixels(via_api))
        biggest = http.get(f"{url.rstrip('/')}/image", params={"checkpoint": "ring8", "seed": 2**63 - 1})
        assert biggest.status_code == 200 and biggest.content[:4] == b"\x89PNG"
        for params, message in (({"checkpoint": "../digits"}, "checkpoint: one of"),
                                ({"checkpoint": "run-0123"}, "checkpoint: one of"),
                                ({"checkpoint": "digits", "seed": "-1"}, "seed must be between"),
                                ({"checkpoint": "digits", "label": "10"}, "label must be between")):
            bad = http.get(f"{url.rstrip('/')}/image", params=params)
            assert bad.status_code == 400 and message in bad.text, (params, bad.text)


# ------------------------------------------------------------------------------ /project
def test_project_finds_a_z_for_a_picture(client, tmp_path):
    from gradio_client import handle_file

    sample = client.predict("digits", 5, 1.0, 2, api_name="/generate")  # a picture the generator can draw
    picture, out = client.predict("digits", handle_file(sample), 2, 60, api_name="/project")
    assert len(out["z"]) == 100 and out["label"] == 2 and out["steps"] == 60 and 0 <= out["error"] < 0.1
    both = pixels(picture)
    assert 1.8 * both.shape[0] < both.shape[1] < 2.2 * both.shape[0]  # the picture beside its reconstruction
    with pytest.raises(AppError, match="/project takes an image generator"):
        client.predict("ring8", handle_file(sample), None, 10, api_name="/project")
    with pytest.raises(AppError, match="steps must be between 1 and 1000"):
        client.predict("digits", handle_file(sample), None, 5000, api_name="/project")
    text = tmp_path / "not-an-image.png"
    text.write_text("hello")
    with pytest.raises(AppError, match="cannot use this image"):
        client.predict("digits", handle_file(str(text)), None, 10, api_name="/project")


def test_train_start_a_vae_poll_generate_interpolate(clients):
    """config_json {"family": "vae", "beta": 0.5} trains a VAE; its poll has the VAE's series; the run id samples."""
    client = clients()
    settings = json.dumps({"family": "vae", "beta": 0.5, "img_size": 16, "ngf": 8, "ndf": 8, "batch_size": 32})
    started = client.predict("digits", LONG_RUN, "nonsaturating", 0, settings, api_name="/train_start")
    run_id = started["run_id"]
    assert started["family"] == "vae" and started["state"] == "running"
    assert started["command"].startswith("python -m gan_demo train --dataset digits --family vae ")
    assert "--beta 0.5" in started["command"] and "--loss" not in started["command"]

    later = poll_until(client, run_id, lambda s: s["step"] > 0 and s["recon"] is not None, "the VAE's first steps")
    assert later["family"] == "vae" and later["loss_d"] is None
    assert later["recon"] > 0 and later["kl"] >= 0 and later["kl_weight"] == 0.5
    assert later["elbo"] == pytest.approx(-(later["recon"] + later["kl"]), rel=1e-5)
    assert later["loss"] == pytest.approx(later["recon"] + 0.5 * later["kl"], rel=1e-5)
    json.dumps(later)

    one = client.predict(run_id, 3, api_name="/generate")
    other = client.predict(run_id, 4, api_name="/generate")
    assert pixels(one).shape == (256, 256, 3) and not (pixels(one) == pixels(other)).all()
    gif = client.predict(run_id, 1, 2, 3, "lerp", api_name="/interpolate")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 3
    assert client.predict(run_id, api_name="/train_stop")["state"] == "stopped"
