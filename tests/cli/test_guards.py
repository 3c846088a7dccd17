"""Guards that always hold (issue 18), through the real binary: a step never
outlives the pteflow that started it (SIGKILL of pteflow during a step, on
every memory guard), the cgroups of dead runs are removed by the next run
and those of live runs are not, and a stored result is reused only when it
fits the current limits."""
import json
import os
import pathlib
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import PTEFLOW, manifest_of, pid_alive, run_pteflow, tool, write_pipeline

GUARDS = ["cgroup2", "cgroup1", "rlimit", "watchdog"]
SPAWN_TREE_PIDS = 6  # tests/tools/spawn_tree.c: itself, A, B, C (setsid), D, E (setsid orphan)


def read_pids(path):
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def wait_for_pids(path, n, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = read_pids(path)
        if len(pids) >= n:
            return pids
        assert proc.poll() is None, f"pteflow ended early with {proc.returncode}"
        time.sleep(0.05)
    pytest.fail(f"the step's tree did not start: {read_pids(path)}")


def cgroup_mounts():
    """{"v1": memory hierarchy mount, "v2": cgroup2 mount} from this process's mountinfo."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, (fstype, _source, opts) = left.split(), right.split()[:3]
            if fstype == "cgroup2":
                mounts.setdefault("v2", fields[4])
            elif fstype == "cgroup" and "memory" in opts.split(","):
                mounts.setdefault("v1", fields[4])
    return mounts


def step_cgroup(pid):
    """The folder of the pteflow step cgroup that `pid` is in, or None (rlimit, watchdog)."""
    mounts = cgroup_mounts()
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            name = path.rsplit("/", 1)[-1]
            if not name.startswith("pteflow-"):
                continue
            key = "v2" if controllers == "" else "v1" if "memory" in controllers.split(",") else None
            if key in mounts:
                return pathlib.Path(mounts[key] + path)
    return None


def guard_or_skip(tmp_path, guard):
    """Skip, with pteflow's own reason, when this host lacks `guard` (cgroup v2 without a memory controller)."""
    p = write_pipeline(tmp_path, """\
        version: 1
        name: probe
        steps:
          - name: probe
            run: ["/bin/true"]
            limits: { memory: 64MiB }
        artifacts: []
    """, "probe.yaml")
    r = run_pteflow("run", p, "--out", tmp_path / "probe-out", "--memory-guard", guard, "--no-cache")
    if r.code == 3 and "is not available here" in r.err:
        pytest.skip(f"memory guard {guard} is not available on this host: {r.err.strip().splitlines()[-1]}")
    assert r.code == 0, r


def tree_command(tmp_path, pids, guard):
    """A step that never ends and records every pid of its tree, grandchild and setsid escapees included."""
    if guard != "rlimit":
        return [tool("spawn_tree"), str(pids)], SPAWN_TREE_PIDS
    # The tools are built with the sanitizers, whose shadow memory cannot be reserved under the RLIMIT_AS
    # backstop of "rlimit": the same tree from the shell (a grandchild in the group, a setsid child, a
    # setsid grandchild whose parent exits at once).
    script = tmp_path / "tree.sh"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        sleep 300 & echo $! >> {pids}
        setsid sleep 300 & echo $! >> {pids}
        ( setsid sleep 300 & echo $! >> {pids} )
        echo $$ >> {pids}
        exec sleep 300
    """))
    script.chmod(0o755)
    return [str(script)], 4


def start_run(tmp_path, name, guard, store, extra=""):
    """`pteflow run` of a never-ending tree in the background; returns (proc, pids, out)."""
    pids, out = tmp_path / f"{name}.pids", tmp_path / f"{name}-out"
    argv, n = tree_command(tmp_path, pids, guard)
    flag = tmp_path / f"{name}.second-run"
    quoted = " ".join(f"'{a}'" for a in argv)
    p = write_pipeline(tmp_path, f"""\
        version: 1
        name: {name}
        steps:
          - name: long
            run: ["/bin/sh", "-c", "echo partial > ${{out}}/partial.txt; if [ -e {flag} ]; then echo done > ${{out}}/done.txt; else exec {quoted}; fi"]
            limits: {{ memory: 256MiB, timeout: 5m }}
        artifacts: []
        {extra}
    """, f"{name}.yaml")
    env = dict(os.environ, PTEFLOW_STORE=str(store))
    env.pop("GITHUB_ACTIONS", None)
    with open(tmp_path / f"{name}.stderr", "w") as err:
        proc = subprocess.Popen([PTEFLOW, "run", str(p), "--out", str(out), "--memory-guard", guard],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    return proc, wait_for_pids(pids, n, proc), p, out, flag


@pytest.mark.parametrize("guard", GUARDS)
def test_sigkill_of_pteflow_during_a_step_leaves_no_process_of_it(tmp_path, guard):
    guard_or_skip(tmp_path, guard)
    store = tmp_path / "store"
    proc, pids, p, out, flag = start_run(tmp_path, "killed", guard, store)
    cgroup = step_cgroup(pids[0])
    if guard.startswith("cgroup"):
        assert cgroup is not None and cgroup.is_dir(), cgroup
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(2)
    alive = [pid for pid in pids if pid_alive(pid)]
    assert alive == [], f"processes of the step outlived pteflow: {alive}"
    if cgroup is not None:
        assert not cgroup.exists(), f"{cgroup} was left behind"
    # what the step wrote so far is left as it was; the store holds nothing of the killed run
    assert (out / "partial.txt").read_text() == "partial\n"
    assert (out / "logs" / "long.log").exists()
    assert not list((store / "entries").glob("*.json")) if (store / "entries").exists() else True
    r = run_pteflow("explain", p, "--out", out, "--json", env={"PTEFLOW_STORE": str(store)})
    assert r.code == 0, r
    assert json.loads(r.out)["steps"][0]["status"] == "miss"
    # the next run starts cleanly in the same folder and store
    flag.touch()
    r = run_pteflow("run", p, "--out", out, "--memory-guard", guard, env={"PTEFLOW_STORE": str(store)})
    assert r.code == 0, r
    assert (out / "done.txt").read_text() == "done\n"
    assert manifest_of(out)["status"] == "passed"


@pytest.mark.parametrize("guard", ["cgroup2", "cgroup1"])
def test_a_dead_runs_cgroup_is_removed_by_the_next_run_and_a_live_runs_is_not(tmp_path, guard):
    guard_or_skip(tmp_path, guard)
    store = tmp_path / "store"
    # A dead run: pteflow and the supervisor of its step both killed, so nothing cleaned up after them
    dead, dead_pids, _, _, _ = start_run(tmp_path, "dead", guard, store)
    dead_group = step_cgroup(dead_pids[0])
    assert dead_group is not None
    # pteflow's only child while the step runs is the step's supervisor
    supervisor = int(pathlib.Path(f"/proc/{dead.pid}/task/{dead.pid}/children").read_text().split()[0])
    dead.send_signal(signal.SIGSTOP)
    os.kill(supervisor, signal.SIGKILL)
    dead.send_signal(signal.SIGKILL)
    dead.wait(timeout=30)
    # Processes are stranded in the dead run's group now. Any pteflow that starts on this host from here
    # on (a test running in parallel) may remove it before the run below does: that is the behaviour
    # under test, so what is checked is that it is gone once the next run started, whoever removed it.
    stranded = [pid for pid in dead_pids if pid_alive(pid)]
    assert stranded or not dead_group.exists(), "the test needs processes stranded in the dead run's cgroup"
    parent = dead_group.parent
    # groups that look like pteflow's but are not a dead run of this user's, and one whose pid was reused
    foreign = parent / "pteflow-4194303-1-0"  # a pid above pid_max: never running
    other = parent / "pteflow-keep"
    reused = parent / f"pteflow-{os.getpid()}-1-0"
    for d in (foreign, other, reused):
        d.mkdir()
    os.chown(foreign, 65534, 65534)
    live = None
    try:
        # the next run removes the dead run's group (its processes first) before its step starts
        live, live_pids, _, _, _ = start_run(tmp_path, "live", guard, store)
        live_err = (tmp_path / "live.stderr").read_text()
        assert not dead_group.exists(), live_err
        assert [pid for pid in dead_pids if pid_alive(pid)] == []
        assert not reused.exists(), "a group whose pid now names another process must go"
        assert foreign.exists() and other.exists(), "another user's group, or one pteflow did not name, was removed"
        # another run starting beside a live one leaves the live one's group and processes alone
        live_group = step_cgroup(live_pids[0])
        r = run_pteflow("run", tmp_path / "probe.yaml", "--out", tmp_path / "next-out", "--memory-guard", guard,
                        env={"PTEFLOW_STORE": str(store)})
        assert r.code == 0, r
        assert "left by an earlier run" not in r.err, r.err
        assert live_group.is_dir(), "a live run's group was removed"
        assert all(pid_alive(pid) for pid in live_pids)
        assert live.poll() is None
    finally:
        if live is not None:
            live.send_signal(signal.SIGTERM)
            live.wait(timeout=60)
        for d in (foreign, other, reused):
            if d.exists():
                d.rmdir()


def limits_pipeline(path, memory=None, timeout=None, run=None):
    limits = ", ".join(x for x in (memory and f"memory: {memory}", timeout and f"timeout: {timeout}") if x)
    return write_pipeline(path.parent, f"""\
        version: 1
        name: limits
        steps:
          - name: export
            run: {json.dumps(run)}
            limits: {{ {limits} }}
        artifacts: []
    """, path.name)


def test_a_stored_step_beyond_the_current_memory_limit_runs_again_and_is_a_memory_kill(tmp_path):
    alloc = [tool("alloc"), "--mib", "2048", "--populate", "--hold-ms", "300"]
    p, out = tmp_path / "p.yaml", tmp_path / "out"
    env = {"PTEFLOW_STORE": str(tmp_path / "store")}
    limits_pipeline(p, "3GiB", "2m", alloc)
    r = run_pteflow("run", p, "--out", out, env=env)
    assert r.code == 0, r
    assert manifest_of(out)["steps"][0]["peak_memory_bytes"] > 1.5 * 2**30
    # a looser limit is no part of the fingerprint: still a hit
    limits_pipeline(p, "4GiB", "2m", alloc)
    r = run_pteflow("run", p, "--out", out, env=env)
    assert r.code == 0 and manifest_of(out)["steps"][0]["cache"]["status"] == "hit", r
    # under 1 GiB the stored 2 GiB run could not have finished: explain says so, the run runs it and kills it
    limits_pipeline(p, "1GiB", "2m", alloc)
    r = run_pteflow("explain", p, "--out", out, env=env)
    assert r.code == 0, r
    assert "miss" in r.out and "limits: the stored run peaked at" in r.out and "limits.memory 1.0 GiB" in r.out, r
    r = run_pteflow("explain", p, "--out", out, "--json", env=env)
    step = json.loads(r.out)["steps"][0]
    assert (step["status"], step["component"]) == ("miss", "limits"), step
    r = run_pteflow("run", p, "--out", out, env=env)
    assert r.code == 1, r
    assert "exceeded its memory limit" in r.err, r.err
    step = manifest_of(out)["steps"][0]
    assert step["guard"]["memory_kill"] is True
    assert step["cache"]["status"] == "miss" and step["cache"]["reason"].startswith("limits:"), step["cache"]


def test_a_stored_step_longer_than_the_current_timeout_runs_again_and_times_out(tmp_path):
    sleep = ["/bin/sh", "-c", "sleep 1.5"]
    p, out = tmp_path / "p.yaml", tmp_path / "out"
    env = {"PTEFLOW_STORE": str(tmp_path / "store")}
    limits_pipeline(p, timeout="1m", run=sleep)
    assert run_pteflow("run", p, "--out", out, env=env).code == 0
    limits_pipeline(p, timeout="1s", run=sleep)
    r = run_pteflow("explain", p, "--out", out, "--json", env=env)
    step = json.loads(r.out)["steps"][0]
    assert (step["status"], step["component"]) == ("miss", "limits"), step
    assert "longer than limits.timeout" in step["reason"], step
    r = run_pteflow("run", p, "--out", out, env=env)
    assert r.code == 1 and "timed out" in r.err, r
    assert manifest_of(out)["steps"][0]["cache"]["reason"].startswith("limits:")
