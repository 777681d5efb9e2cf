"""The browser's CPU for a live Train tab, and for a shared run's watch page, in headless Chromium.

    OMP_NUM_THREADS=1 python benchmarks/browser_cpu.py [--dataset ring8|digits] [--seconds 20] [--pages train watch]

The app runs in this process on the repository's pretrained runs; the browser starts a run from the Train tab
(the tab's defaults for the dataset, 100,000 steps so it trains throughout), and once it is running reads
Chromium's Performance.getMetrics (CDP) twice, --seconds apart: TaskDuration (the page's main thread busy:
script, style, layout, paint) and ScriptDuration, each as a fraction of one core over the window. With
`watch` it also opens the run's share link in a second tab and measures that page alone over its own window.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

METRICS = ("ThreadTime", "ProcessTime", "TaskDuration", "TaskOtherDuration", "ScriptDuration", "LayoutDuration",
           "RecalcStyleDuration", "V8CompileDuration")


def busy(page, seconds: float) -> dict:
    """Fractions of a core the page's main thread spent over `seconds` (CDP Performance metrics)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def read() -> dict:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    first, start = read(), time.monotonic()
    page.wait_for_timeout(seconds * 1000)  # the measurement window (a benchmark, not a test)
    last, wall = read(), time.monotonic() - start
    cdp.detach()
    return {name: round((last[name] - first[name]) / wall, 3) for name in METRICS} | {"seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ring8")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pages", nargs="+", choices=("train", "watch"), default=["train", "watch"])
    parser.add_argument("--plots-every", type=float, default=None,
                        help="seconds between the Train tab's curve redraws (default: the tab's PLOTS_EVERY_S)")
    args = parser.parse_args()
    if args.plots_every is not None:
        from gan_demo.ui.tabs import train

        train.PLOTS_EVERY_S = args.plots_every
    from gan_demo.ui.app import PRETRAINED
    from tests.browser import browser_page, launched_app, open_app

    with launched_app(PRETRAINED) as (ctx, _, url), browser_page(width=1400, height=900, timeout_ms=120_000) as page:
        open_app(page, url, ready="#start")
        if args.dataset != "ring8":
            page.locator("#train_dataset input").click()
            page.get_by_role("option", name=args.dataset, exact=False).first.click()
        page.locator("#train_steps input").fill("100000")
        page.click("#start")
        page.wait_for_function("() => /running/.test(document.querySelector('#train_status').innerText)")
        page.wait_for_selector("#train_grid img", state="attached")
        trainers = [s.trainer for s in list(ctx.registry._sessions.values()) if s.trainer is not None]
        assert [t.cfg.data.dataset for t in trainers] == [args.dataset], "the run is not on the asked dataset"
        common = {"dataset": args.dataset, "steps_per_s": round(trainers[0].snapshot()["steps_per_s"], 1), "plots_every_s": args.plots_every, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
        if "train" in args.pages:
            result = busy(page, args.seconds)
            print(json.dumps({"page": "train tab", **result, **common, "load": os.getloadavg()}), flush=True)
        if "watch" in args.pages:
            page.click("#share_run")
            page.wait_for_function("() => /\\/watch\\//.test(document.querySelector('#share_link textarea, "
                                   "#share_link input')?.value || '')")
            link = page.locator("#share_link textarea, #share_link input").first.input_value()
            watch = page.context.new_page()
            watch.goto(link)
            watch.wait_for_function("() => document.getElementById('picture').naturalWidth > 0")
            result = busy(watch, args.seconds)
            print(json.dumps({"page": "watch page", **result, **common, "load": os.getloadavg()}), flush=True)
        page.click("#stop")


if __name__ == "__main__":
    main()
