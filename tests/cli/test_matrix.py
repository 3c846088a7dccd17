"""`pteflow matrix` through the real binary: the JSON shape GitHub's strategy.matrix
takes, one entry per target, memory figures, runner choice by memory need, and errors."""
import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("PTEFLOW_BIN")
SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
FIXTURES = SRC / "tests" / "resources" / "pipelines"
REPO_PIPELINES = sorted((SRC / "pipelines").glob("*.yaml"))
KEYS = {"pipeline", "target", "name", "memory", "runner"}

pytestmark = pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set: run through ctest")


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    return subprocess.run([BIN, "matrix", *map(str, args)], capture_output=True, text=True, env=env, timeout=30)


def matrix(*args):
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1, "one line, for $GITHUB_OUTPUT"
    doc = json.loads(r.stdout)
    assert list(doc) == ["include"]
    for e in doc["include"]:
        assert set(e) == KEYS and all(isinstance(v, str) for v in e.values())
    return doc["include"], r


def pipeline(tmp_path, name, body):
    p = tmp_path / f"{name}.yaml"
    p.write_text(f"version: 1\nname: {name}\nsteps: [{{name: s, run: [x]}}]\n" + body)
    return p


def test_one_entry_per_target():
    full = FIXTURES / "valid" / "full.yaml"
    entries, _ = matrix(full)
    assert entries == [
        {"pipeline": str(full), "target": "int8-seq512", "name": "tiny-llama-int8/int8-seq512", "memory": "6GiB",
         "runner": "ubuntu-latest"},
        {"pipeline": str(full), "target": "8da4w-seq1024", "name": "tiny-llama-int8/8da4w-seq1024",
         "memory": "20GiB", "runner": "ubuntu-latest-32gb"},
    ]


def test_pipeline_without_targets_and_several_files():
    minimal, shell = FIXTURES / "valid" / "minimal.yaml", FIXTURES / "valid" / "shell.yaml"
    entries, _ = matrix(minimal, shell)
    assert entries == [
        {"pipeline": str(minimal), "target": "", "name": "minimal", "memory": "", "runner": "ubuntu-latest"},
        {"pipeline": str(shell), "target": "", "name": "shell-step", "memory": "512MiB", "runner": "ubuntu-latest"},
    ]


def test_memory_is_the_largest_limit_or_expectation(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("version: 1\nname: m\nlimits: { memory: 1GiB }\nsteps:\n"
                 "  - { name: a, run: [x], limits: { expect: 1.5GB } }\n"
                 "  - { name: b, run: [x], limits: { memory: 1.2GB } }\n")
    entries, _ = matrix(p)
    assert entries[0]["memory"] == "1.5GB"


@pytest.mark.parametrize("memory,runner", [
    ("14GiB", "ubuntu-latest"), ("15GiB", "ubuntu-latest-32gb"), ("30GiB", "ubuntu-latest-32gb"),
    ("31GiB", "ubuntu-latest-64gb"), ("61GiB", "ubuntu-latest-128gb"), ("125GiB", "ubuntu-latest-256gb"),
])
def test_runner_by_memory(tmp_path, memory, runner):
    entries, r = matrix(pipeline(tmp_path, "p", f"limits: {{ memory: {memory} }}\n"))
    assert entries[0]["runner"] == runner
    assert entries[0]["memory"] == memory
    assert r.stderr == ""


def test_beyond_every_runner_warns(tmp_path):
    entries, r = matrix(pipeline(tmp_path, "p", "limits: { expect: 300GiB }\n"))
    assert entries[0]["runner"] == "ubuntu-latest-256gb"
    assert "no standard GitHub runner" in r.stderr


def test_runner_default_and_target_runner(tmp_path):
    p = pipeline(tmp_path, "p", "limits: { memory: 2GiB }\ntargets:\n  - name: a\n  - name: b\n    runner: gpu-box\n"
                 "  - name: c\n    limits: { memory: 40GiB }\n")
    entries, _ = matrix(p, "--runner-default", "self-hosted")
    assert [(e["target"], e["runner"], e["memory"]) for e in entries] == [
        ("a", "self-hosted", "2GiB"), ("b", "gpu-box", "2GiB"), ("c", "ubuntu-latest-64gb", "40GiB")]
    entries, _ = matrix("--runner-default=mine", p)
    assert entries[0]["runner"] == "mine"


def test_invalid_or_missing_pipeline(tmp_path):
    r = run(FIXTURES / "valid" / "minimal.yaml", FIXTURES / "invalid" / "unknown_key_step.yaml")
    assert r.returncode == 2 and r.stdout == ""
    assert "unknown_key_step.yaml:5:5: unknown key" in r.stderr
    r = run(tmp_path / "absent.yaml")
    assert r.returncode == 3 and r.stdout == ""
    assert run().returncode == 2
    assert run("--runner-default").returncode == 2
    assert run("--nope", FIXTURES / "valid" / "minimal.yaml").returncode == 2


def test_help():
    r = run("--help")
    assert r.returncode == 0
    for word in ("strategy.matrix", "14 GiB", "16 GB", "--runner-default", "exit codes"):
        assert word in r.stdout


@pytest.mark.skipif(not REPO_PIPELINES, reason="pipelines/ holds no *.yaml yet: nothing of the repository to fan out")
def test_repo_pipelines():
    entries, _ = matrix(*REPO_PIPELINES)
    assert len(entries) >= len(REPO_PIPELINES)
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"matrix names repeat: {names}"
    for e in entries:
        assert e["runner"]
