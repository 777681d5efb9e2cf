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
With --round2 (issue 21) it replays the second audit instead, against the same kind of app:
(4) one session uploads the audit's run zip 10 times (a valid DCGAN 64 px, ngf 140, z 512 config and ~190 MB
    of zero weights, ~190 KB zipped), then 10 zips of the same run that differ by one file: the app's RSS
    and upload folder after each, and the status lines; meanwhile another session's ring8 run trains and
    its steps/s is read before and after;
(5) the Compare tab's Start (its private event, by index) with A a near-budget MLP and B's schedule
    [{"step": 1, "n_critic": 100}], and with a 1,000-entry schedule: the answer and the request's time,
    and check_web_limits' own time in this process;
(6) schedule values "0.01", [1, 2], {} and 2.5, a comparison.json with a 400-digit integer and a
    30000 x 30000 PNG sketch: the sentence each gets, and the tracebacks in the app's log;
(7) 8 /project calls with 1,000 steps from one session at once, then one from another session: how
    many are refused, and how long the other waited;
(8) SIGTERM and SIGINT to a second app: whether its temp folder is gone.
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
    parser.add_argument("--round2", action="store_true", help="replay issue 21's audit instead")
    args = parser.parse_args()
    if args.round2:
        round2(max(args.session_timeout, 600))  # the other visitor polls its run only between uploads
        return

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


# ------------------------------------------------------------------------------------- issue 21
def start_app(tmp: Path, session_timeout: float, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--max-runs", "2",
                               "--session-timeout", str(session_timeout), "--device", "cpu"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    for line in server.stdout:
        if "Running on local URL" in line:
            break
    log = []
    threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()  # the app's log, kept
    server.log = log
    return server, f"http://127.0.0.1:{port}"


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def audit_zip(folder: Path, salt: str = "") -> Path:
    """The audit's zip: a valid config (DCGAN 64 px, ngf 140, ndf 64, z 512) and ~190 MB of zero weights."""
    import torch
    from safetensors.torch import save_file

    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.families.gan import GAN

    run = folder / "audit-run"
    if not (run / "model.safetensors").exists():
        cfg = RunConfig(data=DataConfig(dataset="digits", img_size=64), model=ModelConfig(ngf=140, ndf=64, z_dim=512),
                        train=TrainConfig(batch_size=64, steps=1, augment="none")).resolved(channels=1)
        nets = GAN.empty_networks(cfg)
        tensors = {f"{prefix}.{k}": torch.zeros_like(v) for prefix, net in nets.items()
                   for k, v in net.state_dict().items()}
        run.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(run / "model.safetensors"))
        (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    path = folder / f"audit{salt}.zip"
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("config.json", "model.safetensors"):
            zf.write(run / name, f"run/{name}")
        if salt:
            zf.writestr("run/notes.txt", salt)
    return path


def upload_file(url: str, path: Path) -> dict:
    with httpx.Client(timeout=TIMEOUT_S) as http, open(path, "rb") as f:
        served = http.post(f"{url}/gradio_api/upload", files={"files": (path.name, f)}).json()[0]
    return {"path": served, "meta": {"_type": "gradio.FileData"}}


def answer(msg: dict) -> str:
    """The status text of a hidden event's process_completed message (or its error)."""
    output = msg.get("output") or {}
    if not msg.get("success"):
        return "error: " + str(output.get("error"))[:300]
    texts = [d for d in output.get("data", []) if isinstance(d, str)]
    return texts[-1][:300] if texts else json.dumps(output.get("data"))[:300]


def event_inputs(config: dict, elem_id: str) -> tuple[int, list, dict]:
    """(event index, the values of its inputs as the page first shows them, elem_id -> position) of the event
    that takes the component with this elem_id."""
    comps = {c["id"]: c for c in config["components"]}
    dep = next(d for d in config["dependencies"] if any(comps[i].get("props", {}).get("elem_id") == elem_id
                                                        for i in d["inputs"]))
    values = [comps[i].get("props", {}).get("value") for i in dep["inputs"]]
    where = {comps[i].get("props", {}).get("elem_id"): n for n, i in enumerate(dep["inputs"])}
    return dep["id"], values, where


def poll_speed(url: str, run_id: str) -> float:
    data = call(url, "train_poll", [run_id], "trainer")["data"]
    data = data[0] if isinstance(data, list) else data
    return data.get("steps_per_s", str(data.get("error"))[:120]) if isinstance(data, dict) else str(data)[:120]


def round2(session_timeout: float) -> None:
    from gan_demo.core.config import RunConfig
    from gan_demo.ui.limits import check_web_limits
    from tests.measure_limits import blank_png

    tmp = Path(tempfile.mkdtemp(prefix="gan_demo_audit2_"))
    out = {"load_before": os.getloadavg()}
    server, url = start_app(tmp, session_timeout)
    try:
        config = httpx.get(f"{url}/config", timeout=60).json()
        upload_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "upload_run")
        root = next(tmp.glob("gan_demo_run_*"))

        # (4) uploads, while another visitor's run trains
        tiny = json.dumps({"width": 16, "depth": 2, "batch_size": 32})
        started = call(url, "train_start", ["ring8", 100_000, "nonsaturating", 0, tiny], "trainer")
        assert started["success"], started
        run_id = started["data"][0]["run_id"] if isinstance(started["data"], list) else started["data"]["run_id"]
        time.sleep(5)
        speeds = [poll_speed(url, run_id)]
        zips = {"same": [audit_zip(tmp / "zips")] * 10, "different": [audit_zip(tmp / "zips", str(i)) for i in range(10)]}
        out["upload_zip_kib"] = round(zips["same"][0].stat().st_size / 1024)
        out["weights_mib"] = round((tmp / "zips" / "audit-run" / "model.safetensors").stat().st_size / 2**20)
        for kind, paths in zips.items():
            rss0, rows = rss_mib(server.pid), []
            for i, path in enumerate(paths):
                began = time.perf_counter()
                msg = queue_event(url, upload_index, [upload_file(url, path)], f"uploader-{kind}")
                rows.append({"s": round(time.perf_counter() - began, 2), "rss_growth_mib": round(rss_mib(server.pid) - rss0),
                             "upload_folder_mib": round(folder_mib(root), 1), "status": answer(msg)[:160]})
                speeds.append(poll_speed(url, run_id))
            out[f"ten_uploads_{kind}"] = rows
        out["other_run_steps_per_s"] = speeds
        call(url, "train_stop", [run_id], "trainer")

        # (5) schedules on the Compare tab's Start
        index, values, where = event_inputs(config, "compare_b_schedule")

        def compare_start(session: str, schedule: str, **a) -> dict:
            data = list(values)
            for name, value in a.items():
                data[where[f"train_{name}"]] = value
            data[where["compare_b_schedule"]] = schedule
            began = time.perf_counter()
            msg = queue_event(url, index, data, session)
            return {"s": round(time.perf_counter() - began, 3), "answer": answer(msg)}

        near = dict(dataset="ring8", width=1024, depth=4, batch_size=1536, steps=3)
        out["schedule_row2"] = compare_start("cmp-row2", '[{"step": 1, "n_critic": 100}]', **near)
        out["active_runs_after_row2"] = "see schedule_row2: refused before any run was built"
        long_schedule = json.dumps([{"step": i, "lr_d": 0.001 + i * 1e-6} for i in range(1000)])
        out["schedule_1000_request"] = compare_start("cmp-1000", long_schedule, dataset="ring8", width=16, depth=2,
                                                     batch_size=32, steps=3)
        cfg = RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"width": 16, "depth": 2},
                                   "train": {"batch_size": 32}, "schedule": json.loads(long_schedule)})
        check_web_limits(cfg)  # warm (imports, the first meta build)
        began = time.perf_counter()
        check_web_limits(cfg)
        out["schedule_1000_check_s"] = round(time.perf_counter() - began, 4)

        # (6) wrong types, huge numbers and pictures
        out["wrong_types"] = {v: compare_start(f"cmp-type-{i}", f'[{{"step": 1, "n_critic": {v}}}]', dataset="ring8",
                                               width=16, depth=2, batch_size=32, steps=3)["answer"]
                              for i, v in enumerate(['"0.01"', "[1, 2]", "{}", "2.5"])}
        bomb = blank_png(tmp / "bomb.png", 30000)
        project_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "explore_project")
        drawing = {"background": None, "layers": [], "composite": upload_file(url, bomb)}
        msg = queue_event(url, project_index, ["digits", "draw", None, drawing, 0, 20, 0.0], "sketcher")
        out["sketch_30000px"] = answer(msg)
        out["tracebacks_in_log"] = sum("Traceback" in line for line in server.log)
        out["server_paths_in_log"] = sum(str(tmp) in line for line in server.log)

        # (7) a flood of projections
        image = blank_png(tmp / "digit.png", 28)
        picture = upload_file(url, image)
        flood = []

        api_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "project")
        data = ["digits", picture, None, 1000]
        flood = {}

        def project(session: str, calls: int):
            """`calls` projections joined at once by one session, as the browser joins the queue; one stream
            (a session has one) reads every answer."""
            began = time.perf_counter()
            with httpx.Client(timeout=TIMEOUT_S * 3) as http:
                body = {"data": data, "session_hash": session, "fn_index": api_index, "event_data": None,
                        "trigger_id": None}
                events = {http.post(f"{url}/gradio_api/queue/join", json=body).json()["event_id"] for _ in range(calls)}
                done = []
                with http.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
                    for line in stream.iter_lines():
                        msg = json.loads(line[5:]) if line.startswith("data:") else {}
                        if msg.get("event_id") in events and msg.get("msg") == "process_completed":
                            done.append({"ok": bool(msg.get("success")), "s": round(time.perf_counter() - began, 1),
                                         "answer": None if msg.get("success") else answer(msg)[:160]})
                            if len(done) == calls:
                                break
            flood[session] = done

        flooder = threading.Thread(target=project, args=("flooder", 8))
        flooder.start()
        time.sleep(1)
        project("patient", 1)
        flooder.join(TIMEOUT_S * 3)
        out["projection_flood"] = {"flooder_accepted": sum(r["ok"] for r in flood.get("flooder", [])),
                                   "flooder_refused": sum(not r["ok"] for r in flood.get("flooder", [])),
                                   "flooder_answers_s": [r["s"] for r in flood.get("flooder", [])],
                                   "a_refusal": next((r["answer"] for r in flood.get("flooder", []) if not r["ok"]), None),
                                   "patient": flood["patient"]}
        out["rss_end_mib"] = round(rss_mib(server.pid))
    finally:
        server.terminate()
        server.wait(60)

    # (8) signals
    signals = {}
    for name in ("SIGTERM", "SIGINT"):
        other_tmp = Path(tempfile.mkdtemp(prefix="gan_demo_audit2_sig_"))
        app, _ = start_app(other_tmp, session_timeout)
        held = list(other_tmp.glob("gan_demo_run_*"))
        app.send_signal(getattr(__import__("signal"), name))
        app.wait(60)
        signals[name] = {"temp_folder_before": len(held), "left_after": len(list(other_tmp.glob("gan_demo_run_*"))),
                         "exit_code": app.returncode}
        shutil.rmtree(other_tmp, ignore_errors=True)
    out["signals"] = signals
    shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
