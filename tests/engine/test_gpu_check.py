"""benchmarks/gpu_check.py plumbing: a failing check writes its JSON and leaves the others alone; the summary
counts a check without a result as failed. (The checks themselves: `GPU_CHECK_DEVICE=cpu bash benchmarks/gpu_check.sh`.)"""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

SPEC = importlib.util.spec_from_file_location("gpu_check", Path(__file__).parents[2] / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gpu_check)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failure path on a machine without CUDA")
def test_a_failing_check_records_why_and_the_summary_counts_missing_ones(tmp_path, capsys):
    assert gpu_check.main(["env", "--device", "cuda", "--out", str(tmp_path)]) == 1
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["pass"] is False and "no CUDA GPU" in env["error"]
    assert gpu_check.main(["env", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert gpu_check.main(["bench_2048", "--device", "cpu", "--out", str(tmp_path)]) == 0  # skipped on CPU: a pass
    assert gpu_check.main(["summary", "--device", "cpu", "--out", str(tmp_path)]) == 1
    total = json.loads((tmp_path / "summary.json").read_text())
    assert total["passed"] == 2 and total["failed"] == len(gpu_check.CHECKS) - 2
    assert total["checks"]["engine"] == {"check": "engine", "pass": False, "error": "no result (killed by its timeout?)"}
    assert total["skipped"] == ["bench_2048"]
    printed = capsys.readouterr().out
    assert "PASS  env" in printed and "FAIL  engine" in printed and f"2/{len(gpu_check.CHECKS)} checks passed" in printed


def test_the_pooled_image_check_runs_on_a_cpu(tmp_path):
    """16 pooled digits DCGANs against a solo run on a GPU; here its CPU form (4 tiny runs, 4 steps) must pass."""
    assert gpu_check.main(["pool_images", "--device", "cpu", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "pool_images.json").read_text())
    assert result["pass"] and result["runs"] == gpu_check.SIZES["cpu"]["image_pool_runs"]
    assert result["pooled_steps_per_s_each"] > 0 and result["solo_fp32_steps_per_s"] > 0
    assert result["solo_precision"] in ("fp32", "bf16 autocast")
