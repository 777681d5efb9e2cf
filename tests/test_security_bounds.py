"""Hostile visitors, round two (issue 21), as outside clients of a launched app: repeated uploads, schedules
past the work budget, values of the wrong type, huge pictures and numbers, a flood of projections, Stop
inside a long step, and the temp folder after SIGINT / SIGTERM."""
from __future__ import annotations

import io
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

from gan_demo.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, check_schedule
from gan_demo.trainer import Trainer
from gan_demo.ui import catalog as catalog_module
from gan_demo.ui.app import AppContext, build_demo
from tests.browser import serve
from tests.measure_limits import blank_png
from tests.raw_http import call

TIMEOUT_S = 120  # generous: the suite shares two CPU cores
ROOT = Path(__file__).resolve().parents[1]


def ring_cfg(steps: int = 3, **train) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(batch_size=32, steps=steps, **train))


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
    ctx = AppContext.create(device="cpu", pretrained=pretrained, max_runs=2)
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=8)
    try:
        with serve(demo, show_error=True, enable_monitoring=False) as url:
            yield ctx, demo, url.rstrip("/")
    finally:
        ctx.registry.close()


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
