"""Replay the security audit of issue 8 against a real `python app.py` process (not a pytest test).

    .venv/bin/python benchmarks/audit_replay.py [--sessions 40] [--session-timeout 15]

Starts the app on a free port with `--max-runs 2 --session-timeout T`, then, as raw HTTP clients:
(1) the traversal: a Save with session_hash "../<folder>" and with an absolute path, each aimed at a
    folder beside the app's save folder holding a file; the folder must be untouched;
(2) 6 racing /train_start calls from 6 sessions at the same instant: at most 2 may run;
(3) N REST sessions each training a 1-step digits run (the audit's leak): the server's RSS before,
    while they are held, and once they expired.
The other cases (a huge-config run zip, huge drawings and zips, the 2D lab's 100,000,000 steps) are
tests: tests/test_app_explore.py, test_app_lab.py, test_data.py; tests/measure_limits.py times them.
Prints one JSON object with every figure and the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.raw_http import call, queue_event  # noqa: E402
TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def event_index(config: dict, output_elem_id: str) -> int:
    """The index of the (hidden) event whose outputs include the component with this elem_id."""
    target = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == output_elem_id)
    return next(d["id"] for d in config["dependencies"] if target in d["outputs"] and not d["inputs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--session-timeout", type=float, default=15)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gan_demo_audit_"))
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--max-runs", "2",
                               "--session-timeout", str(args.session_timeout), "--device", "cpu"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    out = {"load_before": os.getloadavg()}
    try:
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        config = httpx.get(f"{url}/config", timeout=60).json()
        save_index = event_index(config, "saved_run")
        tiny = json.dumps({"width": 16, "depth": 2, "batch_size": 32})

        # (1) traversal
        benign = "benign-" + secrets.token_hex(4)
        call(url, "train_start", ["ring8", 3, "nonsaturating", 0, tiny], benign)
        time.sleep(1)
        queue_event(url, save_index, [], benign)
        save_root = next(tmp.rglob("gan_demo_saves_*"))
        results = {}
        for label, make in (("relative", lambda v: f"../{v.name}"), ("absolute", lambda v: str(v))):
            victim = save_root.parent / ("victim-" + secrets.token_hex(4))
            victim.mkdir()
            (victim / "keep.txt").write_text("precious")
            session = make(victim)
            call(url, "train_start", ["ring8", 3, "nonsaturating", 0, tiny], session)
            time.sleep(1)
            msg = queue_event(url, save_index, [], session)
            intact = (victim / "keep.txt").exists() and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
            results[label] = {"save_succeeded": msg.get("success"), "victim_untouched": intact}
        out["traversal"] = results

        # (2) racing starts
        barrier = threading.Barrier(6)
        raced = []

        def race(i):
            barrier.wait()
            raced.append(call(url, "train_start", ["ring8", 50_000, "nonsaturating", i, tiny], f"racer-{i}"))

        threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT_S)
        out["racing_starts"] = {"accepted": sum(r["success"] for r in raced), "refused": sum(not r["success"] for r in raced),
                                "a_refusal": next((r["data"] for r in raced if not r["success"]), None)}
        # (3) the REST sessions leak
        rss0 = rss_mib(server.pid)
        for i in range(args.sessions):
            while True:
                r = call(url, "train_start", ["digits", 1, "nonsaturating", 0, json.dumps({"batch_size": 8})],
                         f"rest-{i}")
                if r["success"]:
                    break
                time.sleep(1)  # busy: the racers' runs hold the slots until their sessions expire
            run_id = r["data"][0]["run_id"] if isinstance(r["data"], list) else r["data"]["run_id"]
            while call(url, "train_poll", [run_id], f"rest-{i}")["data"][0]["state"] in ("running", "stopping"):
                time.sleep(0.2)
        rss_held = rss_mib(server.pid)
        time.sleep(args.session_timeout + max(1.0, args.session_timeout / 4) + 3)
        out["rest_sessions"] = {"sessions": args.sessions, "rss_before_mib": round(rss0),
                                "rss_held_mib": round(rss_held), "rss_after_expiry_mib": round(rss_mib(server.pid))}
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
