"""CLI: train and sample on ring8, resume, help text, one-line errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_demo.__main__ import build_parser, main

TINY = ["--width", "16", "--depth", "2", "--batch-size", "64", "--n-points", "1000", "--device", "cpu", "--quiet"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "gan_demo", *args], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], timeout=300)


def test_train_then_sample_on_ring8(tmp_path, capsys):
    out = tmp_path / "ring"
    assert main(["train", "--dataset", "ring8", "--steps", "30", "--out", str(out), *TINY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 30 and summary["state"] == "finished"
    assert {"modes_covered", "high_quality", "mode_kl"} <= set(summary)
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert (out / "samples.png").exists()

    npy, png = tmp_path / "s.npy", tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(out), "--n", "100", "--seed", "3", "--out", str(npy),
                 "--grid", str(png), "--device", "cpu"]) == 0
    a = np.load(npy)
    assert a.shape == (100, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert png.stat().st_size > 0
    # The same seed gives the same samples.
    main(["sample", "--checkpoint", str(out), "--n", "100", "--seed", "3", "--out", str(tmp_path / "t.npy"), "--device", "cpu"])
    assert np.array_equal(a, np.load(tmp_path / "t.npy"))


def test_resume_continues_the_step_count(tmp_path, capsys):
    out = tmp_path / "ring"
    main(["train", "--dataset", "ring8", "--steps", "10", "--out", str(out), *TINY])
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "15", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 15
    assert json.loads((out / "config.json").read_text())["step"] == 15


def test_sample_digits_images_shape(tmp_path):
    out = tmp_path / "digits"
    main(["train", "--dataset", "digits", "--img-size", "16", "--ngf", "8", "--ndf", "8", "--z-dim", "16",
          "--batch-size", "16", "--steps", "2", "--conditional", "--out", str(out), "--quiet", "--device", "cpu"])
    npy = tmp_path / "d.npy"
    assert main(["sample", "--checkpoint", str(out), "--n", "12", "--label", "7", "--out", str(npy), "--device", "cpu"]) == 0
    a = np.load(npy)
    assert a.shape == (12, 1, 16, 16) and a.min() >= 0 and a.max() <= 1

    # project one of those samples back: a z that redraws it, as JSON, and a picture of both
    from PIL import Image

    Image.fromarray((a[3, 0] * 255).round().astype(np.uint8)).save(tmp_path / "seven.png")
    z_json, picture = tmp_path / "z.json", tmp_path / "both.png"
    assert main(["project", "--checkpoint", str(out), "--image", str(tmp_path / "seven.png"), "--label", "7",
                 "--steps", "40", "--out", str(z_json), "--picture", str(picture), "--device", "cpu"]) == 0
    found = json.loads(z_json.read_text())
    assert len(found["z"]) == 16 and found["label"] == 7 and found["steps"] == 40
    assert 0 <= found["error"] < 0.5 and found["loss_last"] <= found["loss_first"]
    assert Image.open(picture).size[0] > Image.open(picture).size[1]  # target and reconstruction side by side
    with pytest.raises(SystemExit):
        main(["project", "--checkpoint", str(out), "--point", "1,2", "--out", str(z_json), "--device", "cpu"])


def test_help_documents_every_flag():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for flag in ("--dataset", "--out", "--steps", "--seed", "--device", "--loss", "--lr-g", "--lr-d", "--batch-size",
                 "--z-dim", "--img-size", "--ngf", "--ndf", "--n-critic", "--resume", "--channels", "--data-dir"):
        assert flag in text
    for action in build_parser()._subparsers._group_actions[0].choices["train"]._actions:
        assert action.help, f"{action.option_strings} has no help"


@pytest.mark.parametrize("args", [
    ["train", "--loss", "bogus"],
    ["train", "--lr-g", "abc"],
    ["train", "--img-size", "20"],
    ["train", "--batch-size", "-3"],
    ["train", "--dataset", "/no/such/folder"],
    ["sample", "--checkpoint", "/no/such/run", "--out", "x.npy"],
])
def test_bad_values_give_one_line_and_exit_2(args, capsys):
    with pytest.raises(SystemExit) as err:
        main(args)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]


@pytest.mark.slow
def test_module_entry_point_smoke(tmp_path):
    proc = run_cli("train", "--dataset", "ring8", "--steps", "5", "--out", str(tmp_path / "r"), *TINY)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("train", "--loss", "nope")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_the_commands_without_importing_torch():
    """`python -m gan_demo --help` reads no family, so torch (seconds to import) stays out; a config reads the
    registry, which then imports the families, so every family is known whatever was imported first."""
    done = run_cli("--help")
    assert done.returncode == 0 and "train" in done.stdout and "bench" in done.stdout
    probe = ("import sys\nfrom gan_demo.__main__ import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules)\nfrom gan_demo.core.config import RunConfig\n"
             "print(RunConfig(family='vae').vae.beta, 'torch' in sys.modules)")
    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(__file__).parents[2],
                           timeout=300).stdout.splitlines()
    assert lines[-2:] == ["False", "1.0 True"]
