"""What one tick of an open Train tab costs the server, in-process: the handler, and Gradio's handling of its
answer on the event loop (every other request waits while it runs) and on worker threads.

    python benchmarks/train_tick_cost.py [--ticks 15] [--steps 2000]

Builds the Train tab in a gr.Blocks, trains a ring8 run at its defaults to --steps and pauses it, then sends the
timer's tick event as Gradio would (its handler, then Blocks.postprocess_data on the session's state) --ticks
times with the curves due, and prints the medians in ms: the handler, the loop's share of postprocess_data (its
time minus what ran in anyio worker threads, which this script runs inline and times) and the threads' share.
Benchmark only: the app's code is untouched. Report the figures with the machine's load.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=15, help="ticks timed (default 15)")
    parser.add_argument("--steps", type=int, default=2000, help="steps the run trains before it pauses (default 2000)")
    args = parser.parse_args()

    import anyio.to_thread
    import gradio as gr
    from gradio.state_holder import SessionState

    from gan_demo.ui.app import AppContext
    from gan_demo.ui.forms import values_for
    from gan_demo.ui.tabs import train as train_tab

    ctx = AppContext.create(device="cpu")
    with gr.Blocks() as demo:
        parts = train_tab.build(ctx)
    tick = next(f for f in demo.fns.values() if any(t[0] == parts["timer"]._id for t in f.targets))
    request = gr.Request(username=None, session_hash="tick-cost")
    train_tab.Train(ctx).on_start(values_for({"dataset": "ring8", "steps": args.steps + 1000}), request)
    trainer = ctx.registry.get("tick-cost").trainer
    deadline = time.monotonic() + 600
    while trainer.snapshot(history=False)["step"] < args.steps and time.monotonic() < deadline:
        time.sleep(0.2)
    trainer.pause()
    trainer.join(1.0)

    in_threads = [0.0]

    async def inline(fn, *a, **k):  # what Gradio sends to its worker threads, run here and timed
        t = time.perf_counter()
        try:
            return fn(*a)
        finally:
            in_threads[0] += time.perf_counter() - t

    anyio.to_thread.run_sync = inline
    state = SessionState(demo)
    out = tick.fn(None, request)  # the view's first tick
    view = out[parts["view"]]
    asyncio.run(demo.postprocess_data(tick, out, state))
    handler, loop, threads = [], [], []
    for _ in range(args.ticks):
        view.plotted_at, view.step = 0.0, -1  # the curves are due and the picture new, as at a class's tick
        t0 = time.perf_counter()
        out = tick.fn(view, request)
        t1 = time.perf_counter()
        in_threads[0] = 0.0
        asyncio.run(demo.postprocess_data(tick, out, state))
        t2 = time.perf_counter()
        handler.append(1000 * (t1 - t0))
        loop.append(1000 * (t2 - t1 - in_threads[0]))
        threads.append(1000 * in_threads[0])
    print(f"Train tab tick ({len(tick.outputs)} outputs, {len(out)} in its answer), median of {args.ticks}: "
          f"handler {statistics.median(handler):.1f} ms, Gradio's event loop {statistics.median(loop):.1f} ms, "
          f"worker threads {statistics.median(threads):.1f} ms; load {os.getloadavg()[0]:.2f}")
    ctx.registry.close()


if __name__ == "__main__":
    main()
