"""`python app.py` with timing counters and a profile of the pool thread, for benchmarks/class_of_24.py --profile.

    python benchmarks/profiled_app.py OUT.json [app.py's flags]

Runs the app as app.py does, with these wrapped by wall-clock counters (seconds and calls, per thread kind):
the pool thread's phases (a pooled step: its handover wait, the runs' locks, draws, the stacked step, the
read-backs with their live quality and rollback points), the requests' (/train_poll's snapshot, a render's
wait at the render gate and its drawing), and cProfile of the pool thread. At exit (SIGTERM) it writes OUT.json:
the counters, each thread's CPU seconds (/proc, Python threads by name, torch's intra-op threads as
"native"), and the profile's top functions. Benchmark only: the app's code is untouched.
"""
from __future__ import annotations

import atexit
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

COUNTS: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])  # name -> [seconds, calls]
COUNT_LOCK = threading.Lock()
PROFILES: list[cProfile.Profile] = []
STARTED = time.monotonic()


def timed(owner, name: str, label: str | None = None) -> None:
    """Wrap owner.name with a wall-clock counter."""
    fn = getattr(owner, name)
    key = label or f"{getattr(owner, '__name__', owner)}.{name}"

    @wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            with COUNT_LOCK:
                COUNTS[key][0] += seconds
                COUNTS[key][1] += 1

    setattr(owner, name, wrapper)


SEEN: dict[int, tuple[str, float]] = {}  # thread id -> (name, CPU seconds when last sampled): ended threads stay
SAMPLE_S = 1.0


def sample_threads() -> None:
    """Each thread's CPU seconds so far, by Python thread name (native ones, such as torch's intra-op
    threads: "native:" and their OS name), kept in SEEN."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        tid = int(task.name)
        name = names.get(tid) or (SEEN[tid][0] if tid in SEEN else f"native:{comm}")
        SEEN[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)


def thread_cpu() -> dict[str, float]:
    """CPU seconds by kind of thread (numbered Python threads summed under one name)."""
    sample_threads()
    out: dict[str, float] = defaultdict(float)
    for name, seconds in SEEN.values():
        for prefix in ("gan-pool", "AnyIO worker", "Thread-"):
            name = prefix if name.startswith(prefix) else name
        out[name] += seconds
    return dict(out)


def sampler() -> None:
    while True:
        sample_threads()
        time.sleep(SAMPLE_S)


def install(out_path: str) -> None:
    from gan_demo.training import pool, run_loop, trainer
    from gan_demo.ui import api, app

    for owner, name in ((pool.RunPool, "_step"), (pool.RunPool, "_read_back_all"), (pool.RunPool, "_settle"),
                        (pool.StackedGAN, "train_step"), (pool.StackedGAN, "draw"),
                        (trainer.Trainer, "_measure_quality"), (trainer.Trainer, "_save_good_state"),
                        (trainer.Trainer, "read_back"), (trainer.Trainer, "apply_due_changes"),
                        (trainer.Trainer, "queue_values"), (trainer.Trainer, "snapshot"),
                        (api.Runs, "train_poll"), (api.Pictures, "render_sample"), (api.Pictures, "generate"),
                        (app.RenderGate, "_enter")):
        timed(owner, name)
    timed(pool, "hand_over", "pool.hand_over")
    timed(run_loop.HandoverLock, "acquire")

    run = pool.RunPool._run

    def profiled_run(self):
        profile = cProfile.Profile()
        PROFILES.append(profile)
        profile.enable()
        try:
            run(self)
        finally:
            profile.disable()

    pool.RunPool._run = profiled_run

    def write() -> None:
        stats_text = io.StringIO()
        if PROFILES:
            stats = pstats.Stats(PROFILES[0], stream=stats_text)
            for extra in PROFILES[1:]:
                stats.add(extra)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(30)
        Path(out_path).write_text(json.dumps({
            "seconds": time.monotonic() - STARTED,
            "counters": {k: {"seconds": round(v[0], 3), "calls": v[1]} for k, v in sorted(COUNTS.items())},
            "thread_cpu_s": {k: round(v, 2) for k, v in sorted(thread_cpu().items(), key=lambda kv: -kv[1])},
            "pool_profile": stats_text.getvalue(),
        }, indent=1))

    atexit.register(write)
    threading.Thread(target=sampler, name="profiled_app-sampler", daemon=True).start()


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = [str(ROOT / "app.py"), *sys.argv[2:]]
    sys.path.insert(0, str(ROOT))
    import app as app_script

    app_script.main()
