"""The server's CPU while N screens watch a shared run (its /watch page's polls), against one screen.

    OMP_NUM_THREADS=1 python benchmarks/share_viewers.py --viewers 1 30 1 30 --seconds 30 [--dataset ring8|digits]

The app runs in this process (the repository's pretrained runs, as `python app.py` serves them); for each entry of
--viewers a fresh run starts through the API, is shared, and a child process plays N watching browsers: each loads
the page, then polls /status at the page's own rate (status.refresh_s) and fetches /picture whenever the shown
step changes, as the page's script does. Over a window of --seconds (after every viewer has loaded once) this
reads the server process's CPU time (all threads), the training threads' share of it (/proc/self/task), the run's
steps and the pictures drawn. One JSON line per measurement, then the ratios to the first 1-viewer figure.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TRAINING_THREADS = ("gan-pool", "gan-trainer")  # gan_demo.training: the threads that step runs
CONFIGS = {"ring8": ("ring8", "{}"), "digits": ("digits", "{}")}  # the Train tab's defaults for each


# ------------------------------------------------------------------------------------ the viewers
def poll(url: str, viewers: int, seconds: float) -> None:
    """N watching browsers for `seconds` after all have loaded the page; prints 'ready', then one JSON line."""
    import httpx

    counts = {"requests": 0, "pictures": 0, "errors": 0}
    lock = threading.Lock()
    loaded = threading.Barrier(viewers + 1)
    end = [float("inf")]

    def viewer() -> None:
        with httpx.Client(timeout=30) as http:
            assert http.get(url).status_code == 200
            loaded.wait()
            time.sleep(random.random())  # screens opened at different moments poll at different phases
            shown = None
            while time.monotonic() < end[0]:
                tick = time.monotonic()
                r = http.get(url + "/status")
                n, pictures, errors = 1, 0, int(r.status_code != 200)
                if r.status_code == 200:
                    status = r.json()
                    if status["picture_step"] != shown:
                        shown = status["picture_step"]
                        p = http.get(url + "/picture", params={"step": shown})
                        n, pictures, errors = n + 1, 1, errors + int(p.status_code != 200)
                    delay = max(0.5, status["refresh_s"])
                else:
                    delay = 2.0
                with lock:
                    counts["requests"] += n
                    counts["pictures"] += pictures
                    counts["errors"] += errors
                time.sleep(max(0.0, tick + delay - time.monotonic()))

    threads = [threading.Thread(target=viewer, daemon=True) for _ in range(viewers)]
    for t in threads:
        t.start()
    loaded.wait()
    print("ready", flush=True)
    end[0] = time.monotonic() + seconds + 1.0
    for t in threads:
        t.join(seconds + 60)
    print(json.dumps(counts), flush=True)


# ------------------------------------------------------------------------------------- the server
def thread_cpu(names: tuple[str, ...]) -> float:
    """CPU seconds (user + system) of this process's threads with these names."""
    ids = [t.native_id for t in threading.enumerate() if t.name in names and t.native_id]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for tid in ids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(ctx, url: str, dataset: str, viewers: int, seconds: float) -> dict:
    from gan_demo.ui.share import shares_of
    from tests.raw_http import call

    session_hash = "bench-" + secrets.token_hex(6)
    name, config = CONFIGS[dataset]
    out = call(url, "train_start", [name, 100_000, "nonsaturating", 0, config], session_hash)
    assert out["success"], out
    session = ctx.registry.get(session_hash)
    token = shares_of(ctx).share(session)
    child = subprocess.Popen([sys.executable, __file__, "--poll", f"{url}/watch/{token}", "--viewers", str(viewers),
                              "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        trainer = session.trainer
        step0, draws0, wall0 = trainer.snapshot()["step"], ctx.pictures.draws, time.monotonic()
        cpu0, train0 = time.process_time(), thread_cpu(TRAINING_THREADS)
        time.sleep(seconds)  # the measurement window (a benchmark, not a test)
        wall = time.monotonic() - wall0
        cpu, train = time.process_time() - cpu0, thread_cpu(TRAINING_THREADS) - train0
        step, draws = trainer.snapshot()["step"], ctx.pictures.draws
        counts = json.loads(child.stdout.readline())
    finally:
        child.wait(seconds + 120)
        ctx.registry.stop(session)
    return {"dataset": dataset, "viewers": viewers, "seconds": round(wall, 1),
            "server_cpu_cores": round(cpu / wall, 3), "training_threads_cores": round(train / wall, 3),
            "other_cores": round((cpu - train) / wall, 3), "steps_per_s": round((step - step0) / wall, 1),
            "cpu_s_per_1000_steps": round(1000 * cpu / max(1, step - step0), 3),
            "pictures_drawn": draws - draws0, "requests": counts["requests"], "errors": counts["errors"],
            "load": [round(x, 2) for x in os.getloadavg()], "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 30, 1, 30])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dataset", choices=sorted(CONFIGS), default="ring8")
    parser.add_argument("--poll", metavar="WATCH_URL", help=argparse.SUPPRESS)  # the child: play the viewers
    args = parser.parse_args()
    if args.poll:
        poll(args.poll, args.viewers[0], args.seconds)
        return
    from tests.browser import launched_app
    from gan_demo.ui.app import PRETRAINED

    results = []
    with launched_app(PRETRAINED) as (ctx, _, url):
        for viewers in args.viewers:
            results.append(measure(ctx, url, args.dataset, viewers, args.seconds))
            print(json.dumps(results[-1]), flush=True)
    one = next((r for r in results if r["viewers"] == 1), None)
    if one:
        for r in results:
            print(f"{r['viewers']:>3} viewers: server {r['server_cpu_cores']:.3f} cores "
                  f"({r['server_cpu_cores'] / one['server_cpu_cores']:.3f}x the first 1-viewer window), "
                  f"outside training {r['other_cores']:.3f} cores, {r['steps_per_s']} steps/s, "
                  f"{r['pictures_drawn']} pictures drawn, load {r['load'][0]}")


if __name__ == "__main__":
    main()
