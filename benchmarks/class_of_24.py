"""A class of 24 against a real server: `python app.py` (no flags but a free port), 24 visitors start ring8 at once.

Each visitor is its own session (plain HTTP calls of the REST API with its own session hash); all 24 call /train_start for ring8 at its defaults
(11,000 steps since 2026-12-07, 8,000 before; seed = the visitor's number) at the same instant, then poll /train_poll every 2 s until
their run ends. Meanwhile a bystander calls /generate on the pretrained ring8 checkpoint in a loop.
Prints the accepted count, each visitor's steps/s (steps / seconds from its start to its end), the
class's total steps/s, the time until all 24 finished and how many covered 8/8 modes, and the
bystander's /generate p50 / p95, and the front end's CPU share (the app process's CPU seconds per second
from the start to the end). Stops after --limit seconds and prints what it has then.

With --ray-nodes N the app runs with `--ray ADDRESS` against a simulated cluster of N nodes started here
(ray.cluster_utils.Cluster, --node-cpus CPUs each): the runs train in the cluster's actors, the front end
only serves and polls.

With --profile OUT.json the app runs through benchmarks/profiled_app.py (counters, threads' CPU, the pool
thread's profile, written when the app stops).

With --views each visitor also keeps its Train tab open: it calls the tab's own live-update event (the
gr.Timer's tick, as the page sends it: over Gradio's queue if the event is queued, POST
/gradio_api/queue/join then the session's event stream /gradio_api/queue/data; else POST
/gradio_api/run/predict) in its own session, at the interval the app gives the timer (each tick's answer
may set a new one: slower with more live runs), reads every answer to its end and fetches the pictures it
returns, as the page's <img> would; and it polls the tab's live route (GET /train/live, the picture and status
line: train_live.js) at the pace each answer gives, asking the tick at once when the run's state changes, as the
page does. Its REST polls go on beside, never two calls of one session at once.
Prints the ticks and live polls answered and their latency p50 / p95 beside the other figures.

    python benchmarks/class_of_24.py [--visitors 24] [--limit 540] [--views [--view-parts route|tick]] [--ray-nodes 2] [--profile OUT.json]
        [--latencies OUT.json]   # each bystander call: [seconds since the start, its latency]

The app inherits the environment: with OMP_NUM_THREADS=1 it sees one thread and makes one pool, not one per core
(a class of 24 on 2 cores then trains at ~2/3 of its speed: BENCHMARKS 24).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gan_demo.families.gan import FAST_2D_STEPS  # noqa: E402  (ring8's default steps)
from gan_demo.ui.run_views import TICK_S  # noqa: E402  (the Train tab timer's interval before a tick sets one)
POLL_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("app.py did not answer in time")


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU seconds so far (/proc/PID/stat; its threads included, children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_cluster(nodes: int, cpus: float):
    """A simulated cluster of `nodes` nodes on this machine, each with `cpus` CPUs (the head is one of them)."""
    os.environ["PYTHONPATH"] = str(ROOT)  # the workers import gan_demo from this checkout
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=cpus)
    return cluster


class RestClient:
    """One visitor: the app's REST API over plain HTTP (POST /gradio_api/call/<name>, then its event stream)
    with one session hash and one kept-alive connection, as light on this machine as a browser's polls are
    on the server's (gradio_client's threads took ~0.7 of a core for 25 clients, from the app's two cores).
    predict() returns the result like gradio_client's; a file result is downloaded too."""

    def __init__(self, url: str):
        import secrets

        import httpx

        self.url = url.rstrip("/")
        self.session_hash = secrets.token_hex(8)
        self.http = httpx.Client(timeout=180)

    def predict(self, *data, api_name: str):
        import json

        name = api_name.strip("/")
        r = self.http.post(f"{self.url}/gradio_api/call/{name}", json={"data": list(data), "session_hash": self.session_hash})
        r.raise_for_status()
        kind = None
        with self.http.stream("GET", f"{self.url}/gradio_api/call/{name}/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    result = json.loads(line[5:] or "null")
                    if kind == "error":
                        raise RuntimeError(str(result))
                    value = result[0] if isinstance(result, list) and len(result) == 1 else result
                    if isinstance(value, dict) and value.get("url"):
                        self.http.get(value["url"]).raise_for_status()
                    return value
        raise RuntimeError(f"{api_name}: no final event")


class TrainTabView:
    """A visitor's open Train tab, as its page calls the tab's live-update events.

    The gr.Timer's tick (Train.on_beat) updates what changes while a run trains; when its answer changes the
    hidden full_due textbox, the page sends that textbox's change event (Train.on_full: the full update, the
    buttons and messages), and likewise for pictures_due (Train.on_pictures: an image run's extras); the hidden refresh button sends the same full update when the live route reports a
    new state (full()). If an event goes through Gradio's queue, the page joins it (POST /gradio_api/queue/join
    with the event's fn_index, its trigger's id and the session hash; the events' one input, the view's
    gr.State, is kept by the server and sent as null) and reads the session's event stream (GET
    /gradio_api/queue/data) to the event's process_completed message; if not (queue=False), it posts the same
    body to /gradio_api/run/predict and reads the answer from the reply. Each answer's timer update sets the next
    interval or stops the ticks (a run that ended); each picture it returns (a gradio FileData with a url, the
    <img> src) is fetched once. Shares the visitor's session hash and connection, so the tick shows the run that
    session started."""

    GRID = "train_grid"  # elem_id of the Samples picture, which the tick updates
    FULL_DUE = "train_full_due"  # elem_id of the hidden textbox whose change asks for the full update
    PICTURES_DUE = "train_pictures_due"  # ... whose change asks for an image run's extras
    REFRESH = "train_live_refresh"  # elem_id of the hidden button the page presses when the run's state changes
    LIVE_ROUTE = "train_live_route"  # elem_id of the hidden textbox that gives the page its live route

    def __init__(self, client: "RestClient", config: dict):
        self.client = client
        self.beat = self.wiring(config, self.GRID, "tick")  # (fn_index, trigger id, output ids, queued)
        self.timer_id = self.beat[1]
        self.full_change = self.wiring(config, self.GRID, "change", trigger=self.output_id(config, self.FULL_DUE))
        self.full_click = self.wiring(config, self.GRID, "click", trigger=self.output_id(config, self.REFRESH))
        self.full_due_id = self.output_id(config, self.FULL_DUE)
        self.pictures_due_id = self.output_id(config, self.PICTURES_DUE)
        self.pictures_change = self.wiring(config, "vae_reconstructions", "change", trigger=self.pictures_due_id)
        self.route_id = self.output_id(config, self.LIVE_ROUTE)
        self.interval = TICK_S  # the timer's value as built; the app's answers change it
        self.active = True  # as after Start (the tab's Start turns the timer on)
        self.shown: dict[int, str] = {}  # output component id -> url of the picture the page shows there
        self.route = ""  # the live route the page polls (given by Start's answer or a tick's)
        self.live_interval = TICK_S  # the route's X-Refresh
        self.have, self.state = "", None  # the step whose picture the page shows; the run's state the route said
        self.full_due = self.pictures_due = ""  # the hidden textboxes' values as the page holds them
        self.fulls = 0  # full updates asked for (by the tick's full_due, or by the route's new state)

    @staticmethod
    def output_id(config: dict, elem_id: str) -> int:
        """The id of the component with this elem_id in the app's /config."""
        return next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)

    @classmethod
    def wiring(cls, config: dict, elem_id: str, event: str, trigger: int | None = None) -> tuple[int, int, list[int], bool]:
        """(fn_index, its trigger's id, output ids, whether it goes through the queue) of the Train tab's event
        that `event` of `trigger` (any trigger when None) sends and that updates the component `elem_id`,
        from the app's /config."""
        wanted = cls.output_id(config, elem_id)
        for index, dep in enumerate(config["dependencies"]):
            targets = [t for t, e in dep["targets"] if e == event and (trigger is None or t == trigger)]
            if wanted in dep["outputs"] and targets:
                queued = dep.get("queue")
                return (dep.get("id", index), targets[0], dep["outputs"],
                        config.get("enable_queue", True) if queued is None else bool(queued))
        raise RuntimeError(f"no {event} event updating {elem_id} in the app's config")

    def tick(self, timeout_s: float = 120) -> dict[int, object]:
        """One tick, and the full update when its answer asks for it, as the page sends them: the output values
        by component id (the full update's over the tick's), their pictures fetched. Updates the interval and
        whether the page would tick again. Raises if no result came within timeout_s."""
        values = self._answer(self.beat, timeout_s)
        due = values.get(self.pictures_due_id)
        due = due.get("value") if isinstance(due, dict) else due
        if due not in (None, self.pictures_due):  # a change event only for a new value, as in the page
            self.pictures_due = due
            values.update(self._answer(self.pictures_change, timeout_s))
        due = values.get(self.full_due_id)
        due = due.get("value") if isinstance(due, dict) else due
        if due not in (None, self.full_due):
            self.full_due = due
            values.update(self.full(timeout_s, self.full_change))
        return values

    def full(self, timeout_s: float = 120, event=None) -> dict[int, object]:
        """The full update (the hidden refresh button's click unless `event` says otherwise)."""
        self.fulls += 1
        return self._answer(event or self.full_click, timeout_s)

    def _answer(self, event, timeout_s: float) -> dict[int, object]:
        fn_index, trigger, outputs, queued = event
        body = {"data": [None], "event_data": None, "fn_index": fn_index, "trigger_id": trigger,
                "session_hash": self.client.session_hash}
        output = self._queued(body, timeout_s) if queued else self._direct(body, timeout_s)
        http = self.client.http
        values = dict(zip(outputs, output))
        for component, value in values.items():
            if component == self.timer_id and value is not None:
                update = value if isinstance(value, dict) else {"value": value}
                if update.get("value") is not None:
                    self.interval = float(update["value"])
                if "active" in update:
                    self.active = bool(update["active"])
            picture = value.get("value", value) if isinstance(value, dict) and value.get("__type__") == "update" \
                else value
            if isinstance(picture, dict) and picture.get("url") and self.shown.get(component) != picture["url"]:
                http.get(picture["url"]).raise_for_status()
                self.shown[component] = picture["url"]
            if component == self.route_id and isinstance(picture, str) and picture != self.route:
                self.route, self.have, self.state = picture, "", None  # train_live.js follows the new address
        return values

    def poll_live(self) -> bool:
        """One poll of the live route, as train_live.js sends it; True when the run's state changed (the page
        then asks for the full update at once). Stops the polls (route "") when the run ended or is gone."""
        r = self.client.http.get(f"{self.client.url}{self.route}&have={self.have}")
        if r.status_code not in (200, 204):
            r.raise_for_status()
        self.live_interval = float(r.headers.get("X-Refresh", TICK_S))
        if r.status_code == 200:
            self.have = r.headers.get("X-Step", "")
        state = r.headers.get("X-State")
        changed = self.state is not None and state != self.state
        self.state = state
        if state in ("finished", "stopped", "diverged", "failed", "gone"):
            self.route = ""
        return changed

    def _direct(self, body: dict, timeout_s: float) -> list:
        """An event outside the queue, as the page sends it: POST /gradio_api/run/predict, the answer in the reply."""
        r = self.client.http.post(f"{self.client.url}/gradio_api/run/predict", json=body, timeout=timeout_s)
        r.raise_for_status()
        return r.json()["data"]

    def _queued(self, body: dict, timeout_s: float) -> list:
        """An event through the queue: join, then read the session's event stream to its process_completed."""
        import json

        deadline = time.monotonic() + timeout_s
        http, url = self.client.http, self.client.url
        r = http.post(f"{url}/gradio_api/queue/join", json=body)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        with http.stream("GET", f"{url}/gradio_api/queue/data",
                         params={"session_hash": self.client.session_hash}) as stream:
            for line in stream.iter_lines():
                if time.monotonic() > deadline:
                    break
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "unexpected_error":
                    raise RuntimeError(message.get("message"))
                if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                    if not message.get("success"):
                        raise RuntimeError(str(message.get("output")))
                    return message["output"]["data"]
        raise RuntimeError("the tick's event stream ended without its result")


def answered(what: str, calls: str, seconds: list[float], errors: list[str], elapsed: float, more: str = "") -> None:
    """Prints how many calls were answered, their rate and latency p50 / p95, and the first failure."""
    latency = (f"p50 {1000 * statistics.median(seconds):.0f} ms, p95 {1000 * percentile(seconds, 0.95):.0f} ms, "
               if seconds else "")
    print(f"{what}: {len(seconds)} {calls} answered ({len(seconds) / elapsed:.1f}/s), {latency}{len(errors)} failed{more}")
    if errors:
        print(f"  first failure: {errors[0]}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=24)
    parser.add_argument("--steps", type=int, default=FAST_2D_STEPS, help=f"default: ring8's ({FAST_2D_STEPS})")
    parser.add_argument("--limit", type=float, default=540, help="seconds before it stops and prints what it has")
    parser.add_argument("--ray-nodes", type=int, default=0, help="train on a simulated Ray cluster of this many nodes")
    parser.add_argument("--node-cpus", type=float, default=1.0, help="CPUs of each simulated node")
    parser.add_argument("--profile", metavar="OUT.json", default=None,
                        help="run the app through benchmarks/profiled_app.py: timing counters, each thread's CPU "
                             "and the pool thread's profile written to OUT.json when the app stops")
    parser.add_argument("--latencies", metavar="OUT.json", default=None,
                        help="write each bystander /generate call as [seconds since the start, its latency in s]")
    parser.add_argument("--views", action="store_true",
                        help="each visitor's Train tab open too: its live-update event at the page's rate")
    parser.add_argument("--view-parts", choices=("both", "route", "tick"), default="both",
                        help="with --views, what each tab sends: the live route's polls and the tab's Gradio event "
                             "(both, as the page does), or one alone (after the first tick; a cost split, not a page)")
    args = parser.parse_args()

    cluster = start_cluster(args.ray_nodes, args.node_cpus) if args.ray_nodes else None
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    os.environ.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    flags = ["--ray", cluster.address] if cluster is not None else []
    # stderr to a file: a pipe nobody reads would fill and stall the app
    log = tempfile.NamedTemporaryFile("w", prefix="class_of_24_app_", suffix=".log", delete=False)
    launcher = ["benchmarks/profiled_app.py", str(Path(args.profile).resolve())] if args.profile else ["app.py"]
    proc = subprocess.Popen([sys.executable, *launcher, "--port", str(port), *flags], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        wait_for_server(url, proc)
        clients = [RestClient(url) for _ in range(args.visitors)]
        bystander = RestClient(url)
        bystander.predict("ring8", 0, 1.0, None, api_name="/generate")  # warm: the sampler is built once
        config = clients[0].http.get(f"{url}config").json() if args.views else None
        views = [TrainTabView(client, config) for client in clients] if args.views else []
        ticks: list[float] = []  # each answered tick's seconds, from the join to its pictures fetched
        tick_errors: list[str] = []
        lives: list[float] = []  # each live route poll's seconds (its picture read)
        live_errors: list[str] = []
        barrier = threading.Barrier(args.visitors)
        results: dict[int, dict] = {}
        done = threading.Event()
        latencies: list[float] = []
        called_at: list[float] = []  # each bystander call's start, seconds after the visitors' start

        def visitor(i: int) -> None:
            client = clients[i]
            barrier.wait()
            t0 = time.monotonic()
            try:
                started = client.predict("ring8", args.steps, "nonsaturating", i, "", api_name="/train_start")
            except Exception as exc:  # refused ("busy") or failed
                results[i] = {"accepted": False, "why": str(exc)[:160]}
                return
            results[i] = {"accepted": True, "t0": t0}
            run_id = started["run_id"]
            view = views[i] if views else None
            next_poll = next_tick = next_live = time.monotonic()
            full_now = False
            while not done.is_set():
                if view is not None and view.route and next_live < next_poll and next_live <= next_tick \
                        and args.view_parts != "tick":
                    done.wait(max(0.0, next_live - time.monotonic()))
                    if done.is_set():
                        break
                    t = time.perf_counter()
                    try:
                        if view.poll_live():
                            full_now = True  # the page asks for the tab's full update at once
                            timer_next, next_tick = next_tick, time.monotonic()
                        lives.append(time.perf_counter() - t)
                    except Exception as exc:
                        live_errors.append(str(exc)[:160])
                    next_live = time.monotonic() + view.live_interval  # one request at a time, then its pace
                    continue
                if view is not None and (view.active or full_now) and next_tick < next_poll:
                    done.wait(max(0.0, next_tick - time.monotonic()))
                    if done.is_set():
                        break
                    t = time.perf_counter()
                    try:
                        view.full() if full_now else view.tick()
                        ticks.append(time.perf_counter() - t)
                    except Exception as exc:  # counted, not fatal: the page would show an error and tick on
                        tick_errors.append(str(exc)[:160])
                    # the page's timer fires every interval; a tick due while one is pending is not sent
                    now = time.monotonic()
                    if full_now:  # the full update was asked out of turn: the timer keeps its own pace
                        full_now, next_tick = False, timer_next
                    else:
                        next_tick += view.interval if args.view_parts != "route" else math.inf  # the first tick only
                    if next_tick < now:
                        next_tick += view.interval * math.ceil((now - next_tick) / view.interval)
                    continue
                done.wait(max(0.0, next_poll - time.monotonic()))
                if done.is_set():
                    break
                try:
                    status = client.predict(run_id, api_name="/train_poll")
                except Exception:
                    if done.is_set():  # the app stopped at the limit while this poll was on its way
                        break
                    raise
                now = time.monotonic()
                results[i].update(step=status["step"], state=status["state"], modes=status.get("modes_covered"),
                                  at=now)
                if status.get("modes_covered") == 8 and "all_modes_at" not in results[i]:
                    results[i]["all_modes_at"] = now - t0
                if status["state"] not in ("running", "paused"):
                    break
                next_poll = now + POLL_S

        def watch() -> None:
            seed = 0
            while not done.is_set():
                t = time.perf_counter()
                bystander.predict("ring8", seed, 1.0, None, api_name="/generate")
                latencies.append(time.perf_counter() - t)
                called_at.append(t - start_perf)
                seed += 1
                done.wait(0.25)

        threads = [threading.Thread(target=visitor, args=(i,), daemon=True) for i in range(args.visitors)]
        watcher = threading.Thread(target=watch, daemon=True)
        start, cpu_start = time.monotonic(), cpu_seconds(proc.pid)
        start_perf = time.perf_counter()
        own_start = time.process_time()
        for t in threads:
            t.start()
        watcher.start()
        for t in threads:
            t.join(max(0.0, args.limit - (time.monotonic() - start)))
        done.set()
        elapsed, cpu = time.monotonic() - start, cpu_seconds(proc.pid) - cpu_start
        own_cpu = time.process_time() - own_start
        watcher.join(30)

        accepted = [r for r in results.values() if r.get("accepted")]
        print(f"visitors {args.visitors}, accepted {len(accepted)}")
        for i in sorted(results):
            r = results[i]
            if not r.get("accepted"):
                print(f"  visitor {i:2d}: refused: {r['why']}")
                continue
            seconds = r.get("at", r["t0"]) - r["t0"]
            rate = r.get("step", 0) / seconds if seconds > 0 else 0.0
            r["rate"] = rate
            first = r.get("all_modes_at")
            print(f"  visitor {i:2d}: {r.get('state')} at step {r.get('step')}, {rate:.1f} steps/s, "
                  f"modes covered {r.get('modes')}, 8/8 first seen at {'-' if first is None else f'{first:.0f} s'}")
        total = sum(r.get("rate", 0.0) for r in accepted)
        print(f"class total: {total:.1f} steps/s")
        rates = [r["rate"] for r in accepted if "rate" in r]
        if rates:
            median = statistics.median(rates)
            print(f"fairness: slowest {min(rates):.1f}, median {median:.1f}, fastest {max(rates):.1f} steps/s; "
                  f"slowest / median {min(rates) / median if median else 0:.2f} (goal >= 0.5)")
        reached = sorted(r["all_modes_at"] for r in accepted if "all_modes_at" in r)
        if reached:
            print(f"8/8 modes first seen by {len(reached)} of {len(accepted)}: median {statistics.median(reached):.0f} s, "
                  f"last {reached[-1]:.0f} s (goal: all within 300 s)")
        finished = [r for r in accepted if r.get("state") == "finished"]
        all_modes = [r for r in finished if r.get("modes") == 8]
        if accepted and len(finished) == len(accepted):
            last = max(r["at"] for r in finished) - start
            print(f"all {len(finished)} finished in {last:.0f} s (within {POLL_S:.0f} s polling); "
                  f"{len(all_modes)} with 8/8 modes")
        else:
            print(f"after {elapsed:.0f} s: {len(finished)} of {len(accepted)} finished, {len(all_modes)} with 8/8 modes")
        if latencies:
            print(f"bystander /generate: {len(latencies)} calls, p50 {1000 * statistics.median(latencies):.0f} ms, "
                  f"p95 {1000 * percentile(latencies, 0.95):.0f} ms")
            if args.latencies:
                calls = [[round(at, 3), round(seconds, 4)] for at, seconds in zip(called_at, latencies)]
                Path(args.latencies).write_text(json.dumps(calls))
        if args.views:
            interval = statistics.median(v.interval for v in views)
            answered("Train tab live updates", "ticks", ticks, tick_errors, elapsed,
                     f" ({sum(v.fulls for v in views)} of them full updates); the tabs' last interval (median) "
                     f"{interval:.2f} s")
            answered("Train tab live route", "polls", lives, live_errors, elapsed)
        print(f"front end (app process) CPU: {cpu:.0f} s over {elapsed:.0f} s = {100 * cpu / elapsed:.0f}% of a core"
              f"{' (it trains the runs too)' if cluster is None else ' (the runs train in the cluster)'}; "
              f"load {os.getloadavg()[0]:.2f}")
        print(f"this benchmark's own clients' CPU: {own_cpu:.0f} s = {100 * own_cpu / elapsed:.0f}% of a core "
              f"(taken from the same cores)")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print(f"the app's log: {log.name}")
        if cluster is not None:
            cluster.shutdown()


if __name__ == "__main__":
    main()
