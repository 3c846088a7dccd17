"""Shared fixtures of the command-line tests: the real pteflow binary, the
source tree, the project's Python, and a helper that runs pteflow and keeps
everything it printed. ctest sets PTEFLOW_BIN, PTEFLOW_SOURCE_DIR,
PTEFLOW_BINARY_DIR and PTEFLOW_PYTHON."""
import json
import os
import pathlib
import contextlib
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("PTEFLOW_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINARY_DIR = pathlib.Path(os.environ.get("PTEFLOW_BINARY_DIR", SOURCE_DIR / "build"))
PTEFLOW = os.environ.get("PTEFLOW_BIN", str(BINARY_DIR / "pteflow"))
PYTHON = os.environ.get("PTEFLOW_PYTHON", sys.executable)

# Make tests/hub importable (the local Hub server and its fixture helpers).
sys.path.insert(0, str(SOURCE_DIR / "tests" / "hub"))


def tool(name):
    """Path of a helper program built from tests/tools/<name>.c."""
    return str(BINARY_DIR / "tests" / f"pf_tool_{name}")


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"<exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}>"


# Every pteflow a test starts gets an empty store of step outputs of its own unless the test names
# one (PTEFLOW_STORE in env=): one test's stored steps must never satisfy another's. The fallback for
# processes started without run_pteflow is one store per pytest process.
os.environ.setdefault("PTEFLOW_STORE", tempfile.mkdtemp(prefix="pteflow-test-store-"))


def run_pteflow(*args, env=None, cwd=None, timeout=600, input=None):
    full_env = dict(os.environ)
    full_env.pop("GITHUB_ACTIONS", None)
    if env:
        full_env.update(env)
    own_store = None
    if not env or "PTEFLOW_STORE" not in env:
        own_store = tempfile.mkdtemp(prefix="pteflow-store-")
        full_env["PTEFLOW_STORE"] = own_store
    try:
        proc = subprocess.run([PTEFLOW, *map(str, args)], capture_output=True, text=True, env=full_env,
                              cwd=cwd, timeout=timeout, input=input)
    finally:
        if own_store:
            shutil.rmtree(own_store, ignore_errors=True)
    return Result(proc)


def write_pipeline(tmp_path, body, name="p.yaml"):
    """Write a pipeline (dedented) into tmp_path; returns its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def manifest_of(out):
    return json.loads((pathlib.Path(out) / "manifest.json").read_text())


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has stopped running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def pteflow():
    return run_pteflow


def assert_prediction_holds(step, artifacts, admitted):
    """Issue 13: the prediction made before the step ran contains what it measured (resident peak,
    every file's size, each program's runtime memory read from its execution plan)."""
    pred = step["prediction"]
    peak = pred["peak_memory"]
    assert peak["actual"] == step["maxrss_bytes"] > 0
    assert peak["within"] is True, peak
    assert pred["used_for_admission"] is admitted
    assert pred["artifacts"], pred
    for a in pred["artifacts"]:
        assert a["size"]["actual"] == artifacts[a["path"]]["size_bytes"], a
        assert a["size"]["within"] is True, a
        assert abs(a["size"]["error_pct"]) < 5, a
        if a["kind"] == "pte":
            assert a["runtime_memory"]["actual"] > a["size"]["actual"]
            assert a["runtime_memory"]["within"] is True, a


@contextlib.contextmanager
def small_tmpfs(where, size):
    """A tmpfs of `size` (mount's syntax: "1m", "256k") at the new folder `where`, for full-disk tests;
    the test is skipped where mounting is not possible (not root, no mount permission)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True,
                       text=True)
    if m.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % m.stderr.strip())
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)])
