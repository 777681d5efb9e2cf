"""Runs on a real Ray cluster (gan_demo.training.remote): the proxy matches an in-process Trainer, a killed worker and a
removed node lose at most the last checkpoint, session expiry frees the actors, and the app without --ray
never imports ray."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")  # no Ray call may join a cluster left by another test
ray = pytest.importorskip("ray")

from gan_demo.training.pool import RunPools  # noqa: E402
from gan_demo.training.remote import Placement, RayRuns, RemoteRun, RunHost  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402
from tests.configs import ring_cfg, toy_cfg  # noqa: E402

pytestmark = pytest.mark.slow  # real clusters / several processes: seconds each

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 90  # the longest any condition below is waited for (a worker process starts and imports torch)


def wait_for(condition, what: str, timeout: float = WAIT_S, every: float = 0.05):
    """Poll condition() until it is true; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def runs(local_ray):
    # Checkpoints often, so the kill test is short; production pulls every 200 steps or 10 s.
    r = RayRuns(Placement(num_cpus=1, every_steps=20, every_s=0.5, poll_s=0.1), device="cpu")
    yield r
    r.close()


def test_app_without_ray_never_imports_it():
    code = ("import os, sys; os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'\n"
            "from gan_demo.ui.app import AppContext, build_demo\n"
            "build_demo(AppContext.create(device='cpu'))\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n"
            "assert 'gan_demo.training.remote' not in sys.modules\n"
            "print('ok')\n")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S,
                         env=env)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_a_run_through_the_proxy_has_the_in_process_numbers(runs, tmp_path):
    cfg = toy_cfg(steps=30)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the actor (Ray gives it one thread per CPU reserved)
    try:
        local = Trainer(cfg)
        RunPools().start(local)  # as the app trains it in-process: a pool of one (so does the actor)
        local.join(WAIT_S)
        assert local.state == "finished" and local.pool_note is None
    finally:
        torch.set_num_threads(threads)
    remote = runs.make_run(cfg, run_id="run-0123456789abcdef")
    assert remote.run_id == "run-0123456789abcdef" and remote.state == "idle"
    remote.start()
    remote.join(WAIT_S)
    assert not remote.running and remote.state == "finished" and remote.step == 30
    snap, want = remote.snapshot(), local.snapshot()
    assert snap["step"] == want["step"] == 30
    for name in ("step", *want["series"]):
        assert snap["history"][name] == want["history"][name], name
    assert torch.equal(remote.sample_fixed(), local.sample_fixed())  # 2D points come as they are
    z = torch.randn(5, local.cfg.model.z_dim)
    assert torch.allclose(remote.generate(z), local.generate(z), atol=1e-6)  # threads may sum in another order
    # Save: the same files, written on the front end into a folder the server named.
    a, b = remote.save(tmp_path / "remote"), local.save(tmp_path / "local")
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    # Explore reads the sampling nets from the pulled checkpoint, on the front end.
    net = remote.family.decoder_net()
    with torch.no_grad():
        assert torch.allclose(net(z.clone(), None), local.family.decoder_net()(z.clone(), None), atol=1e-6)
    assert remote.dataset.name == "ring8" and remote.dataset.modes.shape == (8, 2) and len(remote.dataset) > 0
    remote.close()


def test_pause_resume_stop_and_live_change_through_the_proxy(runs):
    run = runs.make_run(toy_cfg(steps=10**6))
    run.start()
    wait_for(lambda: run.step >= 3, "3 steps")
    run.pause()
    assert run.state == "paused" and run.paused_at is not None
    run.change(lr_d=0.0005)
    run.resume()
    assert run.state == "running" and run.paused_at is None
    wait_for(lambda: any(e.get("lr_d") == 0.0005 for e in run.cfg.schedule), "the change in the schedule")
    assert run._live_values()["lr_d"] == 0.0005
    run.stop()
    run.join(WAIT_S)
    assert not run.running and run.state == "stopped"
    picture = run.sample_fixed()
    assert picture.shape[1] == 2 and torch.isfinite(picture).all()
    run.close()
    # A run started paused takes no step before it is resumed (its host pauses it before any loop sees it).
    held = runs.make_run(toy_cfg(steps=10**6))
    held.start(paused=True)
    assert held.state == "paused" and held.paused_at is not None
    held.pause()  # returns once its host's loop has seen the pause: any step it took would be counted by then
    assert held._refresh()["step"] == 0 and held.state == "paused"
    held.resume()
    wait_for(lambda: held.step >= 3, "3 steps after the resume")
    held.stop()
    held.join(WAIT_S)
    held.close()


def test_a_killed_worker_loses_at_most_the_last_checkpoint(runs):
    run = runs.make_run(toy_cfg(steps=10**6), run_id="run-00000000000000aa")
    run.start()
    wait_for(lambda: (run.checkpoint_step or 0) >= 40, "a checkpoint at step 40 or later")
    pid, ckpt_step = run.host_pid(), run.checkpoint_step
    os.kill(pid, signal.SIGKILL)
    # The checkpoint thread notices the dead host and starts a new one from the checkpoint.
    wait_for(lambda: run.recoveries == 1, "the run's recovery")
    assert run.run_id == "run-00000000000000aa"
    assert "worker was lost" in run.message and f"checkpoint at step {ckpt_step:,}" in run.message
    restarted = run.snapshot()
    assert restarted["history"]["step"][0] == 1  # the history came back with the weights
    wait_for(lambda: run.step > ckpt_step + 5 and run.state == "running", "training on after the recovery")
    assert run.host_pid() != pid
    # A paused run whose worker dies comes back paused at its checkpoint's step: the new host starts it paused, so
    # its loop takes no step first.
    run.pause()
    pid = run.host_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: run.recoveries == 2, "the paused run's recovery")
    back_at = int(re.search(r"checkpoint at step ([\d,]+)", run.message).group(1).replace(",", ""))
    run.pause()  # returns once the new host's loop has seen the pause: any step it took would be counted by then
    assert run.state == "paused" and run._refresh()["step"] == back_at
    run.stop()
    run.join(WAIT_S)
    run.close()


def test_runs_the_app_would_pool_share_one_actor_and_come_back_together(runs):
    from gan_demo.ui.sessions import SessionRegistry

    registry = SessionRegistry(max_runs=2, pools=runs.pools)  # as app.py sets it up with --ray
    registry.make_run, registry.make_pair = runs.make_run, runs.make_pair
    registry.on_drop.append(runs.forget_session)
    try:
        sessions = [registry.get(f"student-{i}") for i in range(3)]
        group = [registry.start(s, toy_cfg(steps=10**6, seed=i), "cpu") for i, s in enumerate(sessions)]
        host = group[0]._group
        assert all(run._group is host for run in group) and len({run.host_pid() for run in group}) == 1
        kinds = {registry.pools.pool_of(run) for run in group}  # priced as one pool of their kind
        assert len(kinds) == 1 and kinds.pop().hosts() == [host]
        assert registry.slots_in_use() == pytest.approx(1.0)  # one pool of three tiny runs: one slot, as in-process
        wait_for(lambda: all(run.pool_size == 3 for run in group), "the three runs to train as one pool")
        wait_for(lambda: all(run.step >= 5 for run in group), "every pooled run to advance")
        wait_for(lambda: all((run.checkpoint_step or 0) >= 20 for run in group), "a checkpoint of every run")
        before = {run.run_id: run.checkpoint_step for run in group}
        pid = group[0].host_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(run.recoveries == 1 for run in group), "every run's recovery", every=0.2)
        assert len({run.host_pid() for run in group}) == 1 and group[0].host_pid() != pid
        for run in group:  # each from its own checkpoint, saying so
            found = re.search(r"checkpoint at step ([\d,]+)", run.message)
            assert "worker was lost" in run.message and found, run.message
            assert int(found.group(1).replace(",", "")) >= before[run.run_id]
        restored = {run.run_id: int(re.search(r"checkpoint at step ([\d,]+)", run.message).group(1).replace(",", ""))
                    for run in group}
        wait_for(lambda: all(run.step > restored[run.run_id] + 5 and run.state == "running" for run in group),
                 "every run to train on after the recovery")
        wait_for(lambda: all(run.pool_size == 3 for run in group), "the three runs to be pooled again")
    finally:
        registry.close()
    wait_for(lambda: _dead(group[0]._host), "the pool's actor to end with its last run")


def test_vae_runs_pool_in_one_actor_too(runs):
    """2D VAEs pool in-process (training/stacked.StackedVAE); on Ray they share one actor's pool the same way."""
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.families.vae import VAESettings

    def vae(seed: int) -> RunConfig:
        return RunConfig(family="vae", data=DataConfig(dataset="ring8", n_points=1000),
                         model=ModelConfig(width=32, depth=2), vae=VAESettings(),
                         train=TrainConfig(batch_size=64, steps=10**6, seed=seed, device="cpu"))

    group = [runs.make_run(vae(seed)) for seed in range(2)]
    try:
        assert group[0]._group is group[1]._group and group[0].pool_key is not None
        for run in group:
            run.start()
        wait_for(lambda: all(run.pool_size == 2 for run in group), "the two VAEs to train as one pool")
        wait_for(lambda: all(run.step >= 5 for run in group), "both pooled VAEs to advance")
        assert all(run.family.name == "vae" for run in group)
    finally:
        for run in group:
            run.stop()
            run.close()
    wait_for(lambda: _dead(group[0]._host), "the pool's actor to end with its last run")
    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 2, "its CPU to be free again")


def test_a_comparison_whose_worker_dies_comes_back_paced(runs):
    pair = runs.make_pair(toy_cfg(steps=10**6), toy_cfg(steps=10**6, lr_d=0.0005))
    a, b = pair.runs["A"], pair.runs["B"]
    pair.start()
    wait_for(lambda: min(a.checkpoint_step or 0, b.checkpoint_step or 0) >= 20, "a checkpoint of both runs")
    pid = a.host_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: a.recoveries == b.recoveries == 1, "both runs' recovery", every=0.2)
    assert a._host is b._host and a.host_pid() != pid
    assert a.paced and b.paced and a.pool_size == b.pool_size == 0  # paced there, so each trains alone
    resumed = max(a.step, b.step)
    wait_for(lambda: min(a.step, b.step) > resumed + 10, "both runs to train on after the recovery")
    pair.pause()
    wait_for(lambda: a.state == b.state == "paused", "the comparison to pause")
    # Paced: neither ran ahead (each proxy's step is its last status read, so read until they settle).
    wait_for(lambda: abs(a.step - b.step) <= 1, "both paused runs' steps to read within one of each other")
    for run in (a, b):
        run.stop()
        run.join(WAIT_S)
        run.close()


def test_a_session_on_ray_trains_compares_and_frees_its_actors(local_ray, tmp_path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gan_demo.ui.app import AppContext

    # Workers of the tests before end asynchronously; admission reads Ray's free CPUs, so wait for them back.
    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 2, "the earlier tests' workers to free their CPUs")
    ctx = AppContext.create(device="cpu", ray="auto")
    registry = ctx.registry
    try:
        _session_on_ray(ctx, registry, tmp_path)
    finally:
        registry.close()
        registry.make_run.__self__.close()  # the app's RayRuns: its checkpoint thread ends with the test


def _session_on_ray(ctx, registry, tmp_path):
    session = registry.get("visitor")
    registry.start(session, toy_cfg(steps=10**6), ctx.device)
    run = session.trainer
    assert isinstance(run, RemoteRun) and run.run_id == session.run_id
    wait_for(lambda: run.step >= 2, "2 steps")
    # What the Train tab, the API and Explore read of a run works on the proxy.
    from gan_demo.ui.run_views import LiveView, progress_picture

    picture = progress_picture(run, LiveView())
    assert picture.size == (512, 512)
    sampler = ctx.catalog.sampler("current run", session)  # Explore on the live run: nets from its checkpoint
    assert sampler.trainer is run and sampler.step >= 2
    assert sampler.generate(torch.zeros(1, sampler.z_dim)).shape == (1, 2)
    from gan_demo.ui.tabs.lab import LAYERS, LabHandlers, in_lab, status_text

    assert not in_lab(run) and "ring8" in status_text(run)  # the 2D lab steps local runs only, and says so
    assert "trains on other machines of the server (its Ray cluster)" in status_text(run)
    _, _, graph, _ = LabHandlers(ctx).refresh(["heat map"], None, SimpleNamespace(session_hash="visitor"))
    assert "non-saturating" in graph and 'data-state="updating"' not in graph  # its loss, no step highlighted
    # A new run replaces the session's run: it joins the same pool's actor, and the old one leaves it at once.
    replaced, replaced_id = run._host, run.run_id
    registry.start(session, toy_cfg(steps=10**6), ctx.device)
    assert session.trainer is not run and run.state == "stopped" and not run.running
    run = session.trainer
    assert run._host is replaced and registry.pools.pool_of(run).hosts() == [run._group]
    wait_for(lambda: ray.get(replaced.run_ids.remote(), timeout=WAIT_S) == [run.run_id],
             f"the replaced run {replaced_id} to leave its actor")
    # A comparison: runs A and B in one actor, paced together, stepped by hand, saved.
    pair = registry.start_pair(session, toy_cfg(steps=10**6), toy_cfg(steps=10**6, lr_d=0.0005), ctx.device)
    a, b = pair.runs["A"], pair.runs["B"]
    assert {a.run_id, b.run_id} == set(session.pair_ids.values()) and a._host is b._host
    wait_for(lambda: min(a.step, b.step) >= 5, "both runs of the comparison to take 5 steps")
    pair.pause()
    wait_for(lambda: a.state == b.state == "paused", "the comparison to pause")
    # lockstep: neither runs ahead. Each proxy's step is the status it last read from the actor, so one may
    # still show a step from before the pause: paused runs' steps settle, a run ahead would not.
    wait_for(lambda: abs(a.step - b.step) <= 1, "both paused runs' steps to read within one of each other")
    before = {"A": a.step, "B": b.step}
    records = pair.step()
    # (a step that was in flight when Pause came may end first, as in-process)
    assert set(records) == {"A", "B"} and records["A"]["step"] == a.step > before["A"]
    saved = pair.save(tmp_path / "pair")
    assert (saved / "A" / "model.safetensors").is_file() and (saved / "comparison.json").is_file()
    host = run._host
    pair_host = a._host
    registry.drop("visitor")
    wait_for(lambda: _dead(host) and _dead(pair_host), "the dropped session's actors to end")
    # The API's /train_* on Ray (once the visitor's actors have freed the cluster's 2 CPUs): a client's session
    # hash (any string) is a dictionary key only (the actors are unnamed; the run id is the server's).
    from gan_demo.ui.api import Runs

    api, request = Runs(ctx), SimpleNamespace(session_hash="../../etc/passwd ray://x")
    started = api.train_start("ring8", 50_000, "hinge", 3, '{"width": 16, "depth": 2, "batch_size": 64}', request)
    api_run = registry.get(request.session_hash).trainer
    assert isinstance(api_run, RemoteRun) and re.fullmatch(r"run-[0-9a-f]{16}", started["run_id"])
    wait_for(lambda: api.train_poll(started["run_id"], request)["step"] >= 2, "the API's run to take 2 steps")
    assert api.train_stop(started["run_id"], request)["state"] in ("stopping", "stopped")
    registry.drop(request.session_hash)
    wait_for(lambda: _dead(api_run._host), "the API session's actor to end")
    # The 2D lab's step mode with no run: the run it starts lives in this process (the lab steps its nets by hand).
    lab, request = LabHandlers(ctx), SimpleNamespace(session_hash="lab visitor")
    picture, note, _, _, _ = lab.g_step(list(LAYERS), "ring8", None, None, "nonsaturating", 1e-3, 1e-3, 50,
                                        request=request)
    stepped = registry.get(request.session_hash).trainer
    assert isinstance(stepped, Trainer) and in_lab(stepped) and picture is not None
    assert "Started a 2D run" in note and stepped.state == "paused" and stepped.step == 1
    lab.d_step(list(LAYERS), "ring8", None, None, "nonsaturating", 1e-3, 1e-3, 50, request=request)
    assert registry.get(request.session_hash).trainer is stepped and stepped.step == 1  # D alone: not a step
    stepped.resume()
    stepped.join(60)
    assert stepped.state == "finished" and stepped.step == 50
    registry.drop(request.session_hash)


def _dead(host) -> bool:
    """Whether an actor has ended (ray.kill reaches it a moment after it returns)."""
    try:
        ray.get(host.pid.remote(), timeout=WAIT_S)
    except ray.exceptions.RayActorError:
        return True
    return False


def _start_within(registry, session, cfg, timeout: float = 30.0):
    """registry.start in a thread: (the run, or None; the Busy message, or None). Fails if the start neither
    returns nor refuses within timeout seconds (a run waiting for a worker Ray cannot place)."""
    import threading

    from gan_demo.ui.sessions import Busy

    out: dict = {}

    def start():
        try:
            out["run"] = registry.start(session, cfg, "cpu")
        except Busy as e:
            out["busy"] = str(e)
        except Exception as e:  # shown in the failure below
            out["error"] = e

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the start neither began nor was refused within {timeout} s")
    assert "error" not in out, repr(out.get("error"))
    return out.get("run"), out.get("busy")


def test_a_run_needing_a_new_worker_on_a_full_cluster_is_refused_at_once(local_ray):
    """The cluster's 2 CPUs held by two pool workers of one kind: a run of another kind, or one more of that
    kind past its workers' room, is refused at once with a sentence; a run that fits an existing worker
    still starts; once a worker ends, the refused kind starts."""
    from gan_demo.ui.sessions import SessionRegistry

    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 2, "the earlier tests' workers to end")
    runs = RayRuns(Placement(num_cpus=1, pool_runs=2), device="cpu")
    registry = SessionRegistry(max_runs=100, pools=runs.pools)  # slots never refuse here: the cluster does
    registry.make_run, registry.make_pair = runs.make_run, runs.make_pair
    registry.on_drop.append(runs.forget_session)
    try:
        kind_a = [_start_within(registry, registry.get(f"a-{i}"), toy_cfg(steps=10**6, seed=i), WAIT_S)[0]
                  for i in range(3)]  # two in the first worker, one in a second: both CPUs held
        assert all(kind_a) and len({run._group for run in kind_a}) == 2
        wait_for(lambda: ray.available_resources().get("CPU", 0) < 1, "the cluster to see its CPUs held")
        fits, busy = _start_within(registry, registry.get("a-3"), toy_cfg(steps=10**6, seed=3), WAIT_S)
        assert busy is None and fits._group is kind_a[2]._group  # room in a worker of its kind: admitted
        held = registry.slots_in_use()
        for who, cfg in (("b-0", ring_cfg(steps=10**6)), ("a-4", toy_cfg(steps=10**6, seed=4))):
            run, busy = _start_within(registry, registry.get(who), cfg)
            assert run is None and busy is not None, who
            assert busy.startswith("busy:") and "CPU" in busy and "new worker" in busy, busy
            assert "should free in about" in busy or "try again" in busy, busy
            print(busy)
            assert registry.get(who).trainer is None and registry.get(who).starting == 0
            assert registry.slots_in_use() == pytest.approx(held)  # a refused run holds no slot
        assert sum(len(hosts) for hosts in runs._pool_hosts.values()) == 2  # no worker left waiting for a place
        registry.drop("a-2")
        registry.drop("a-3")  # the second worker's runs: it ends, its CPU frees
        wait_for(lambda: ray.available_resources().get("CPU", 0) >= 1, "the second worker's CPU to free")
        run, busy = _start_within(registry, registry.get("b-0"), ring_cfg(steps=10**6), WAIT_S)
        assert busy is None and run is not None
        wait_for(lambda: run.step >= 2, "the run of the other kind to train")
    finally:
        registry.close()
        runs.close()


def test_a_worker_ray_cannot_place_in_time_fails_its_run_and_is_given_up(local_ray):
    """A new worker that Ray has not placed within Placement.place_s (a full cluster that the check did not
    foresee: here a host built past RayRuns.new_group's check) fails its run with a sentence, leaves no run
    behind in it, and is ended, so it never takes the CPU that frees later."""
    from gan_demo.training.budget import NoRoom
    from gan_demo.training.remote import Host

    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 2, "the earlier tests' workers to end")
    fillers = [ray.remote(num_cpus=1)(RunHost).remote() for _ in range(2)]
    runs = RayRuns(Placement(num_cpus=1, place_s=2.0), device="cpu")
    try:
        ray.get([f.pid.remote() for f in fillers], timeout=WAIT_S)
        wait_for(lambda: ray.available_resources().get("CPU", 0) < 1, "the cluster to see its CPUs held")
        with pytest.raises(NoRoom, match="busy: every CPU of the cluster"):
            runs.new_group()  # the check refuses at once
        host = Host(runs)
        started = time.monotonic()
        with pytest.raises(NoRoom, match="could not place a new worker for this run within 2 s"):
            RemoteRun(runs, toy_cfg(), "cpu", host=host)
        assert time.monotonic() - started < WAIT_S and host.members == []
        ray.kill(fillers.pop())
        assert _dead(host.actor)
        wait_for(lambda: ray.available_resources().get("CPU", 0) >= 1, "the filler's CPU to free")
        runs.placement.place_s = WAIT_S  # a worker process starting on a loaded machine may take seconds
        run = runs.make_run(toy_cfg(steps=10**6))  # the freed CPU went to no stale worker: a new run gets it
        run.start()
        wait_for(lambda: run.step >= 2, "the new run to train")
        run.close()
    finally:
        for f in fillers:
            ray.kill(f)
        runs.close()


def test_a_run_asking_a_gpu_share_no_gpu_has_left_is_refused_at_once():
    """Runs that ask a share of a GPU: the second 0.6 share of a (declared) GPU is refused at once, saying the GPU
    is full, though CPUs are free; Ray only counts the share (the run itself trains on the CPU here)."""
    from gan_demo.training.budget import NoRoom

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    runs = RayRuns(Placement(num_cpus=1, num_gpus=0.6), device="cpu")
    try:
        run = runs.make_run(toy_cfg(steps=10**6))
        run.start()
        wait_for(lambda: ray.available_resources().get("GPU", 0) < 0.6, "the cluster to see the GPU share held")
        with pytest.raises(NoRoom, match=r"busy: no GPU of the cluster \(1 in all\) has a 0.6 share free.*"
                                         r"needs a new worker \(1 CPU and 0.6 GPU on one machine\)"):
            runs.make_run(ring_cfg(steps=10**6))  # another kind of pool: a new worker
        assert ray.available_resources().get("CPU", 0) >= 1  # refused for the GPU, not the CPUs
        run.close()
    finally:
        runs.close()
        ray.shutdown()


def test_a_removed_node_loses_at_most_the_last_checkpoint():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    runs = None
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        # The head's CPU is taken first, so the run lands on the worker node.
        holder = ray.remote(num_cpus=1)(RunHost).remote()  # any actor importable on the workers
        ray.get(holder.pid.remote(), timeout=WAIT_S)
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        runs = RayRuns(Placement(num_cpus=1, every_steps=20, every_s=0.5, poll_s=0.1), device="cpu")
        run = runs.make_run(toy_cfg(steps=10**6))
        assert run.host_node() == worker.node_id
        run.start()
        wait_for(lambda: (run.checkpoint_step or 0) >= 20, "a checkpoint at step 20 or later")
        ray.kill(holder)  # the head has room again
        cluster.remove_node(worker)
        wait_for(lambda: run.recoveries == 1, "the run's recovery on the head")
        assert run.host_node() != worker.node_id
        ckpt_step = run.checkpoint_step
        wait_for(lambda: run.step > ckpt_step + 5 and run.state == "running", "training on, on the head")
        assert "worker was lost" in run.message
        run.stop()
        run.join(WAIT_S)
        run.close()
    finally:
        if runs is not None:
            runs.close()
        ray.shutdown()
        cluster.shutdown()


def test_a_class_of_24_on_two_nodes_is_admitted_whatever_its_hosts_and_a_crowd_is_refused():
    """24 ring8 runs at defaults on a 2-node cluster with the default budget (2 slots): all admitted, also when a
    student presses Start again (the old run still holds its place, so a third pool host opens), priced as one
    pool of their kind from the estimate (no timing), and the class's growth is refused at the same count
    every time."""
    from ray.cluster_utils import Cluster

    from gan_demo.core.config import ModelConfig, RunConfig, TrainConfig
    from gan_demo.ui.sessions import Busy, SessionRegistry

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    runs = registry = None
    try:
        cluster.add_node(num_cpus=2)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes(timeout=WAIT_S)
        runs = RayRuns(Placement(), device="cpu")  # defaults: 12 runs per pool host
        registry = SessionRegistry(max_runs=2, pools=runs.pools)  # app.py's default budget, set up as with --ray
        registry.make_run, registry.make_pair = runs.make_run, runs.make_pair
        registry.on_drop.append(runs.forget_session)
        # ring8 at width 128 and batch 256 (the sizes these counts were worked out for), kept training
        cfg = RunConfig(model=ModelConfig(width=128), train=TrainConfig(steps=10**6, device="cpu", batch_size=256))
        sessions = [registry.get(f"student-{i}") for i in range(24)]
        for s in sessions:
            registry.start(s, cfg, "cpu")
        restarted = registry.start(sessions[0], cfg, "cpu")  # pressed Start again: its old run still ends
        assert len(runs._pool_hosts[restarted.pool_key]) == 3
        assert registry.slots_in_use() <= 2.0 + 1e-9
        crowd, refused = 0, None
        while refused is None and crowd < 24:
            try:
                registry.start(registry.get(f"late-{crowd}"), cfg, "cpu")
                crowd += 1
            except Busy as e:
                refused = str(e)
        # One pool of n ring8 runs (width 128, batch 256) holds max(1, n x the estimated step / POOL_SLOT_S) slots; the
        # estimate: 289 MFLOPs / POOL_FLOPS_PER_S + POOL_RUN_OVERHEAD_S = 7.1 ms a run, so 2 slots hold 28.
        assert refused is not None and crowd == 4, (crowd, refused)
        assert "busy: 28 runs" in refused and ("slot should free" in refused or "try again" in refused)
    finally:
        if registry is not None:
            registry.close()
        if runs is not None:
            runs.close()
        ray.shutdown()
        cluster.shutdown()

