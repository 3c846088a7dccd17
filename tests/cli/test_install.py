"""Issue 23: pteflow outside this repository. A release build installed into a
temporary prefix runs a pipeline from a folder outside the checkout with only
the installed files (steps, requirements, schemas found from the binary's own
path); the Debian package built with CPack installs with dpkg into a scratch
root, declares its runtime libraries, and runs; action.yml passes structural
checks and actionlint (through a workflow that uses it), and its shell steps
run in order as the runner would run them."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import textwrap

import pytest
import yaml

from conftest import PYTHON, SOURCE_DIR

ACTION = SOURCE_DIR / "action.yml"


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def clean_env(**extra):
    """No path into the checkout or the build: only what an installed pteflow has."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PTEFLOW_") and k not in ("PYTHONPATH", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env["PTEFLOW_PYTHON"] = PYTHON      # the project's venv, as `pteflow setup` would print
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release build (no sanitizers, no tests) and its install into a prefix."""
    root = tmp_path_factory.mktemp("release")
    build, prefix = root / "build", root / "prefix"
    sh(["cmake", "-S", str(SOURCE_DIR), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DPTEFLOW_TESTS=OFF"])
    sh(["cmake", "--build", str(build), "-j2"])
    sh(["cmake", "--install", str(build), "--prefix", str(prefix)])
    return build, prefix


def test_install_carries_steps_schemas_requirements_and_pipelines(release):
    _, prefix = release
    share = prefix / "share" / "pteflow"
    for rel in ("python/pteflow_steps/__init__.py", "python/pteflow_steps/export_causal_lm.py",
                "python/pteflow_steps/hf_configs/gpt2.json", "python/requirements.txt", "python/pyproject.toml",
                "schemas/manifest.schema.json", "schemas/pipeline.schema.json", "pipelines/demo.yaml"):
        assert (share / rel).is_file(), rel
    assert not list(share.rglob("__pycache__"))
    v = sh([str(prefix / "bin" / "pteflow"), "version", "--json"], env=clean_env(), cwd="/")
    assert json.loads(v.stdout)["steps"] == str(share / "python")
    # The installed requirements name the same environment as the checkout's setup script.
    s = sh([str(prefix / "bin" / "pteflow"), "setup", "--check", "--json"], env=clean_env())
    info = json.loads(s.stdout)
    assert info["requirements"] == str(share / "python" / "requirements.txt")
    assert os.path.realpath(info["python"]) == os.path.realpath(PYTHON) or "venv-" in info["venv"]


def test_installed_pteflow_runs_a_pipeline_from_another_repository(release, tmp_path):
    """A model repository's own pipeline (no PYTHONPATH, no path into pteflow's source): the demo,
    run by the installed binary from a folder outside the checkout."""
    _, prefix = release
    repo = tmp_path / "model-repo"
    repo.mkdir()
    # The installed demo pipeline as a model repository would hold it: without the PYTHONPATH line that
    # points into pteflow's own tree (pteflow puts its installed steps there itself).
    demo = (prefix / "share" / "pteflow" / "pipelines" / "demo.yaml").read_text()
    own = "\n".join(ln for ln in demo.splitlines() if "PYTHONPATH" not in ln)
    assert own != demo
    (repo / "export.yaml").write_text(own + "\n")
    r = subprocess.run([str(prefix / "bin" / "pteflow"), "run", "export.yaml", "--out", "out"], cwd=repo,
                       capture_output=True, text=True, env=clean_env(PTEFLOW_STORE=str(tmp_path / "store")),
                       timeout=1500)
    assert r.returncode == 0, r.stderr[-4000:]
    m = json.loads((repo / "out" / "manifest.json").read_text())
    assert m["status"] == "passed"
    # The steps imported pteflow_steps from the prefix, not from the checkout.
    for step in m["steps"]:
        assert step["result"]["versions"]["pteflow_steps"] == str(prefix / "share" / "pteflow" / "python" /
                                                                  "pteflow_steps"), step["result"]["versions"]
    v = sh([str(prefix / "bin" / "pteflow"), "validate", *map(str, sorted(
        (prefix / "share" / "pteflow" / "pipelines").glob("*.yaml")))], env=clean_env())
    assert "ok" in v.stdout


def test_debian_package_declares_its_libraries_installs_and_runs(release, tmp_path):
    build, _ = release
    if not shutil.which("dpkg-deb") or not shutil.which("dpkg-shlibdeps"):
        pytest.skip("dpkg-deb and dpkg-shlibdeps (dpkg-dev) are needed to build the package")
    sh(["cpack", "-G", "DEB", "-B", str(tmp_path / "pkg")], cwd=build)
    debs = list((tmp_path / "pkg").glob("pteflow_*.deb"))
    assert len(debs) == 1, list((tmp_path / "pkg").iterdir())
    deb = debs[0]
    depends = sh(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    for lib in ("libcurl4", "libgit2", "libcjson1", "libyaml-0-2", "libssl3", "python3-venv"):
        assert lib in depends, depends
    # dpkg -i into a scratch root (its own database): the files land under root/usr.
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    (admin / "status").write_text("")
    sh(["dpkg", f"--root={root}", f"--admindir={admin}", "--force-depends", "--force-not-root",
        "--force-script-chrootless", "--no-triggers", "-i", str(deb)])
    assert "pteflow" in sh(["dpkg", f"--admindir={admin}", "-l", "pteflow"]).stdout
    binary = root / "usr" / "bin" / "pteflow"
    v = sh([str(binary), "version", "--json"], env=clean_env())
    info = json.loads(v.stdout)
    assert info["steps"] == str(root / "usr" / "share" / "pteflow" / "python")
    val = sh([str(binary), "validate", str(root / "usr" / "share" / "pteflow" / "pipelines" / "gpt2.yaml")],
             env=clean_env())
    assert "ok" in val.stdout


def test_steps_install_alone_with_pip(tmp_path):
    """pyproject.toml: `pip install ./python` gives an importable pteflow_steps with its data files."""
    target = tmp_path / "site"
    src = tmp_path / "src"        # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(SOURCE_DIR / "python", src, ignore=shutil.ignore_patterns("__pycache__"))
    sh([PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
        "--target", str(target), str(src)], cwd=tmp_path)
    assert (target / "pteflow_steps" / "hf_configs" / "gpt2.json").is_file()
    r = sh([PYTHON, "-c", "import pteflow_steps.export_causal_lm as m, sys; print(m.__file__)"],
           env=clean_env(PYTHONPATH=str(target)), cwd=tmp_path)
    assert r.stdout.strip().startswith(str(target))


# ---------------------------------------------------------------------------
# action.yml
# ---------------------------------------------------------------------------

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_action():
    return yaml.safe_load(ACTION.read_text())


def test_action_is_a_well_formed_composite_action():
    a = load_action()
    assert a["runs"]["using"] == "composite"
    inputs, steps = a["inputs"], a["runs"]["steps"]
    assert {"pipeline", "target", "memory-guard", "sign-key"} <= set(inputs)
    assert {"manifest", "status", "artifacts"} <= set(a["outputs"])
    ids = {s.get("id") for s in steps}
    text = ACTION.read_text()
    for ref in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text):
        assert ref in inputs, ref
    for sid in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text):
        assert sid in ids, sid
    for s in steps:
        assert ("run" in s) != ("uses" in s), s
        if "run" in s:
            assert s.get("shell") == "bash", s            # composite run steps must name their shell
            assert "inputs." not in s["run"]              # inputs reach scripts through env, never spliced
    for name, spec in inputs.items():
        assert spec.get("description"), name


def test_actionlint_accepts_a_workflow_that_uses_the_action(tmp_path):
    actionlint = pathlib.Path(PYTHON).parent / "actionlint"
    if not actionlint.exists():
        actionlint = shutil.which("actionlint")
    if not actionlint:
        pytest.skip("actionlint is not installed next to the project's Python")
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, repo / "action.yml")
    (repo / ".github" / "workflows" / "use.yml").write_text(textwrap.dedent("""\
        name: use
        on: push
        jobs:
          export:
            runs-on: ubuntu-24.04
            steps:
              - uses: actions/checkout@v4
              - id: pteflow
                uses: ./
                with:
                  pipeline: pipelines/demo.yaml
                  memory-guard: auto
                  sign-key: ${{ secrets.PTEFLOW_SIGNING_KEY }}
              - run: echo "${{ steps.pteflow.outputs.status }} ${{ steps.pteflow.outputs.manifest }}"
        """))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    r = subprocess.run([str(actionlint), "-no-color"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # And it can fail: an input the action does not declare.
    wf = repo / ".github" / "workflows" / "use.yml"
    wf.write_text(wf.read_text().replace("memory-guard: auto", "memory-gaurd: auto"))
    bad = subprocess.run([str(actionlint), "-no-color"], cwd=repo, capture_output=True, text=True)
    assert bad.returncode != 0 and "memory-gaurd" in bad.stdout


def run_action(inputs, workspace, prefix, tmp_path):
    """Run action.yml's steps in order as the runner does: each run step's expressions replaced from
    the inputs, github and steps contexts, its env set, GITHUB_OUTPUT/GITHUB_ENV files read back;
    `uses:` steps (cache, upload) are the runner's own and are recorded, not run."""
    a = load_action()
    ctx_inputs = {k: str(v.get("default", "")) for k, v in a["inputs"].items()}
    ctx_inputs.update(inputs)
    outputs, env_file_vars, skipped, logs = {}, {}, [], []
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()

    def value(expr):
        if expr.startswith("inputs."):
            return ctx_inputs[expr[len("inputs."):]]
        if expr == "github.action_path":
            return str(SOURCE_DIR)
        if expr == "github.token":
            return "ghs_not_used"
        if expr in ("github.action_repository", "github.action_ref", "runner.os", "github.job"):
            return {"runner.os": "Linux", "github.job": "export"}.get(expr, "")
        m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if m:
            return outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError(f"unknown expression in action.yml: {expr}")

    def subst(text):
        return EXPR.sub(lambda m: value(m.group(1)), str(text))

    for step in a["runs"]["steps"]:
        if "uses" in step:
            skipped.append(step["uses"])
            continue
        out_file = tmp_path / f"out-{len(logs)}"
        env_file = tmp_path / f"env-{len(logs)}"
        out_file.write_text("")
        env_file.write_text("")
        env = clean_env(GITHUB_OUTPUT=str(out_file), GITHUB_ENV=str(env_file), RUNNER_TEMP=str(runner_temp),
                        GITHUB_WORKSPACE=str(workspace), **env_file_vars)
        env.update({k: subst(v) for k, v in (step.get("env") or {}).items()})
        r = subprocess.run(["bash", "-e", "-c", subst(step["run"])], cwd=workspace, env=env, capture_output=True,
                           text=True, timeout=1500)
        logs.append((step["name"], r))
        outputs[step.get("id", "")] = parse_kv(out_file.read_text())   # kept by the runner even on failure
        if r.returncode != 0:
            break
        env_file_vars.update(parse_kv(env_file.read_text()))
    return outputs, logs, skipped


def parse_kv(text):
    """GITHUB_OUTPUT syntax: name=value lines and name<<DELIM heredocs."""
    out, lines, i = {}, text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delim = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


def test_action_steps_run_in_order_and_set_their_outputs(release, tmp_path):
    _, prefix = release
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "p.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: action-smoke
        steps:
          - name: write
            run: ["sh", "-c", "printf 'hello' > \\"$PTEFLOW_OUT/hello.txt\\""]
        artifacts:
          - { path: hello.txt, kind: file, min_size: 5 }
        """))
    key = tmp_path / "k.pem"
    sh([str(prefix / "bin" / "pteflow"), "keygen", str(key)], env=clean_env())
    secret = key.read_text()
    outputs, logs, skipped = run_action({"pipeline": "p.yaml", "install": "prefix", "pteflow-prefix": str(prefix),
                                         "sign-key": secret, "memory-guard": "watchdog"}, ws, prefix, tmp_path)
    names = [n for n, _ in logs]
    assert names == ["Install pteflow", "Set up the Python environment", "Run the pipeline"], logs[-1][1].stderr
    assert all(r.returncode == 0 for _, r in logs), logs[-1][1].stdout + logs[-1][1].stderr
    assert skipped == ["actions/cache@v4", "actions/upload-artifact@v4"]
    inst = outputs["install"]
    assert inst["pteflow"] == str(prefix / "bin" / "pteflow") and re.fullmatch(r"[0-9a-f]{16}",
                                                                               inst["requirements-hash"])
    run = outputs["run"]
    assert run["status"] == "passed" and run["manifest"] == "pteflow-out/manifest.json"
    assert run["artifacts"].splitlines() == ["pteflow-out/hello.txt"]
    # The key was masked line by line before use, never printed, and its file is gone.
    out = logs[-1][1].stdout + logs[-1][1].stderr
    body = [ln for ln in secret.splitlines() if ln and not ln.startswith("-----")]
    assert all(f"::add-mask::{ln}" in out for ln in body)
    assert not list((tmp_path / "runner-temp").glob("pteflow-key.*"))
    v = sh([str(prefix / "bin" / "pteflow"), "verify", "pteflow-out/manifest.json", "--provenance",
            "pteflow-out/provenance.intoto.jsonl", "--key", str(tmp_path / "k.pub.pem")], cwd=ws, env=clean_env())
    assert v.returncode == 0
    # A failing gate fails the step, with the outputs still written.
    (ws / "p.yaml").write_text((ws / "p.yaml").read_text().replace("min_size: 5", "min_size: 6B"))
    shutil.rmtree(ws / "pteflow-out")
    second = tmp_path / "second"
    second.mkdir()
    outputs, logs, _ = run_action({"pipeline": "p.yaml", "install": "prefix", "pteflow-prefix": str(prefix)},
                                  ws, prefix, second)
    assert logs[-1][0] == "Run the pipeline" and logs[-1][1].returncode == 1
    assert outputs["run"]["status"] == "failed" and outputs["run"]["manifest"] == "pteflow-out/manifest.json"
