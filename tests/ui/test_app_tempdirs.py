"""The app's temp folders live under one root per process, removed at exit (and after a kill, at the next start)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gan_demo.ui import tempdirs
from gan_demo.ui.app import AppContext, build_demo
from gan_demo.ui.tabs.lab import LabHandlers

ROOT = Path(__file__).resolve().parents[2]


def test_every_temp_folder_of_the_app_is_under_the_process_root():
    ctx = AppContext.create(device="cpu")
    build_demo(ctx)  # the Train tab's saves, the API's results, uploads, Explore's files
    drawing = LabHandlers(ctx)._save_drawing(np.zeros((20, 2), np.float32))  # a drawing kept as CSV
    root = tempdirs.root()
    assert ctx.catalog.upload_root.parent == root and drawing.parent.parent == root
    names = [p.name for p in root.iterdir()]
    for kind in ("api", "drawn", "explore", "saves", "uploads"):
        assert any(name.startswith(f"gan_demo_{kind}_") for name in names), (kind, names)


def test_the_root_is_removed_at_exit_and_a_killed_process_root_at_the_next_start(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(60)  # a pid that has surely exited
    orphan = tmp_path / f"{tempdirs.ROOT_PREFIX}{done.pid}_abc123"  # as a killed server leaves it
    (orphan / "gan_demo_saves_x").mkdir(parents=True)
    alive = tmp_path / f"{tempdirs.ROOT_PREFIX}{os.getpid()}_def456"  # this test's own process: kept
    alive.mkdir()
    # tempdirs.py loaded on its own: importing gan_demo.ui would import gradio (seconds) for nothing.
    script = ("import importlib.util as u; spec = u.spec_from_file_location('tempdirs', 'gan_demo/ui/tempdirs.py'); "
              "m = u.module_from_spec(spec); spec.loader.exec_module(m); print(m.temp_dir('gan_demo_saves_'))")
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(tmp_path)}, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    made = Path(out.stdout.strip().splitlines()[-1])
    assert made.parent.parent == tmp_path and made.name.startswith("gan_demo_saves_")
    assert sorted(tmp_path.iterdir()) == [alive]  # its own root removed at exit, the orphan at its start
