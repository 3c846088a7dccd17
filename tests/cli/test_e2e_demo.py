"""End to end through the real binary with real ExecuTorch exports: the
embedded demo pipeline (tiny random Llama, int8, XNNPACK, numerical check)
produces a .pte that passes structure, gates and the check, a manifest that
validates against its schema and that `pteflow verify` accepts; then failures
injected for real: a 0-byte .pte, a truncated .pte, an export with
delegation disabled, and an export over its memory limit."""
import json
import os
import pathlib
import shutil
import textwrap
import time

import jsonschema
import pytest

from conftest import PYTHON, SOURCE_DIR, assert_prediction_holds, run_pteflow

PIPELINES = SOURCE_DIR / "pipelines"
SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
STEPS_PATH = str(SOURCE_DIR / "python")


def manifest_of(out):
    return json.loads((pathlib.Path(out) / "manifest.json").read_text())


def gate(artifact, name):
    return next(g for g in artifact["gates"] if g["name"] == name)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """The store the demo's first run fills: the incremental-run tests below restore from it."""
    return tmp_path_factory.mktemp("demo-store")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_store):
    out = tmp_path_factory.mktemp("demo") / "out"
    r = run_pteflow("run", PIPELINES / "demo.yaml", "--python", PYTHON, "--out", out, timeout=1500,
                    env={"PTEFLOW_STORE": str(demo_store)})
    return out, r


def test_demo_passes_every_gate_and_the_numerical_check(demo):
    out, r = demo
    assert r.code == 0, r
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    assert m["status"] == "passed" and m["all_gates_passed"] is True
    assert m["runtime"] == "ExecuTorch"
    pte = next(a for a in m["artifacts"] if a["path"] == "model.pte")
    assert pte["passed"] and pte["size_bytes"] > 10_000
    assert "XnnpackBackend" in pte["structure"]["backends"]
    assert [meth["name"] for meth in pte["structure"]["methods"]] == ["forward"]
    assert all(g["passed"] for g in pte["gates"])
    assert pte["produced_by"] == "export"
    steps = {s["name"]: s for s in m["steps"]}
    assert steps["export"]["status"] == "success" and steps["check"]["status"] == "success"
    assert steps["export"]["peak_memory_bytes"] > 50 * 2**20
    check = steps["check"]["result"]
    assert check is not None and check.get("ok") is True, check
    errors = check["programs"][0]["errors"]
    assert errors["max_abs_error"] <= errors["bound"]
    assert check["programs"][0]["timing"]["decode_tokens_per_s"] > 0
    assert set(m["tool_versions"]) >= {"python", "torch", "executorch"}
    # issue 17: the guide's checklist (jq '.prd_compliant, .runtime, .pte_size_gb'), and every KPI reported
    assert m["prd_compliant"] is True and m["pte_size_gb"] == pte["size_bytes"] / 1e9
    assert m["pte_size_gb_path"] == "model.pte"
    assert m["kpi"]["passed"] and steps["kpi"]["status"] == "success"
    assert {g["name"] for g in m["kpi"]["gates"]} == {
        "measured", "crash", "ttft_max", "decode_min_tps", "prefill_min_tps", "load_max", "runtime_memory_max",
        "soak_turns", "soak_max_growth"}
    assert len(m["kpi"]["measured"]["turns"]) >= 20


def test_demo_curves_end_at_the_recorded_peak_and_are_labelled_with_phases(demo):
    """Issue 22: each step's memory series tops at the peak the manifest records, the Python steps
    mark their phases, and `pteflow report` draws one curve per step (the page is kept in the build
    tree's test-artifacts/ for people to look at)."""
    out, r = demo
    assert r.code == 0, r
    m = manifest_of(out)
    steps = {s["name"]: s for s in m["steps"]}
    for s in m["steps"]:
        assert max(s["memory"]["bytes"]) == s["peak_memory_bytes"], s["name"]
        assert len(s["memory"]["bytes"]) >= 2
    assert [p["name"] for p in steps["export"]["phases"]] == ["load_quantize", "export", "lower", "serialize"]
    assert [p["name"] for p in steps["check"]["phases"]] == ["load", "run", "compare"]
    html = out / "report.html"
    rep = run_pteflow("report", out / "manifest.json")
    assert rep.code == 0, rep
    page = html.read_text()
    assert page.count('<svg class="mem"') == len(m["steps"]) and page.count('class="predicted"') == 1
    artifacts = pathlib.Path(os.environ.get("PTEFLOW_BINARY_DIR", SOURCE_DIR / "build")) / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(html, artifacts / "demo-report.html")


def test_demo_prediction_contains_the_measured_figures(demo):
    out, r = demo
    assert r.code == 0, r
    m = manifest_of(out)
    steps = {s["name"]: s for s in m["steps"]}
    assert "prediction" not in steps["check"]  # not an export step
    assert steps["export"]["prediction"]["estimator"] == "export_llm"
    # demo.yaml sets limits.expect: the prediction is recorded, not used for admission
    assert_prediction_holds(steps["export"], {a["path"]: a for a in m["artifacts"]}, admitted=False)
    assert "predicted peak memory" in r.err


def test_demo_output_verifies_and_inspects(demo):
    out, r = demo
    assert r.code == 0, r
    v = run_pteflow("verify", out / "manifest.json")
    assert v.code == 0, v
    assert "OK" in v.out and "model.pte" in v.out
    i = run_pteflow("inspect", out / "model.pte", "--json")
    assert i.code == 0, i
    info = json.loads(i.out)
    assert "XnnpackBackend" in json.dumps(info)


def one_step_pipeline(tmp_path, command, extra_artifact="", limits="{ timeout: 10m }"):
    body = f"""\
        version: 1
        name: injected
        steps:
          - name: export
            run: {json.dumps(command)}
            limits: {limits}
        artifacts:
          - {{ path: model.pte, kind: pte, methods: [forward], backends: [XnnpackBackend] }}
        {extra_artifact}
    """
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(body))
    return p


def test_export_that_writes_zero_bytes_fails_with_the_diagnosis(tmp_path):
    p = one_step_pipeline(tmp_path, [PYTHON, "-c", "import sys; open(sys.argv[1], 'wb').close()",
                                     "${out}/model.pte"])
    r = run_pteflow("run", p, "--out", tmp_path / "out")
    assert r.code == 1, r
    assert '"model.pte" is empty' in r.err and "wrote nothing" in r.err
    assert manifest_of(tmp_path / "out")["status"] == "failed"


def test_export_that_writes_a_truncated_pte_fails_with_the_diagnosis(tmp_path, demo):
    out, r = demo
    assert r.code == 0, r
    real = out / "model.pte"
    keep = real.stat().st_size * 2 // 3
    src = tmp_path / "real.pte"
    shutil.copy(real, src)
    p = one_step_pipeline(tmp_path, [PYTHON, "-c",
                                     "import sys; d=open(sys.argv[1],'rb').read(); "
                                     "open(sys.argv[2],'wb').write(d[:int(sys.argv[3])])",
                                     str(src), "${out}/model.pte", str(keep)])
    r = run_pteflow("run", p, "--out", tmp_path / "out")
    assert r.code == 1, r
    assert "model.pte" in r.err and "truncated" in r.err, r.err
    art = manifest_of(tmp_path / "out")["artifacts"][0]
    assert gate(art, "structure")["passed"] is False


def test_export_without_delegation_fails_the_backends_gate(tmp_path):
    p = one_step_pipeline(tmp_path, ["${python}", "-m", "pteflow_steps.export_llm", "--random-config", "tiny",
                                     "--seed", "0", "--max-seq-len", "32", "--quant", "none", "--no-xnnpack",
                                     "--out", "${out}/model.pte"])
    r = run_pteflow("run", p, "--python", PYTHON, "--out", tmp_path / "out", timeout=1200)
    assert r.code == 1, r
    assert "XnnpackBackend" in r.err and "not lowered" in r.err, r.err
    m = manifest_of(tmp_path / "out")
    art = m["artifacts"][0]
    assert gate(art, "structure")["passed"] is True
    assert gate(art, "backends")["passed"] is False
    assert m["steps"][0]["status"] == "success"


def test_export_over_its_memory_limit_is_reported_as_a_memory_kill(tmp_path):
    p = one_step_pipeline(tmp_path, ["${python}", "-m", "pteflow_steps.export_llm", "--random-config", "tiny",
                                     "--seed", "0", "--max-seq-len", "32", "--quant", "int8", "--xnnpack",
                                     "--out", "${out}/model.pte"],
                          limits="{ memory: 160MiB, timeout: 10m }")
    r = run_pteflow("run", p, "--python", PYTHON, "--out", tmp_path / "out", timeout=1200)
    assert r.code == 1, r
    assert 'step "export" was killed: it exceeded its memory limit of 160.0 MiB' in r.err, r.err
    step = manifest_of(tmp_path / "out")["steps"][0]
    assert step["guard"]["memory_kill"] is True
    assert step["guard"]["limit_bytes"] == 160 * 2**20


def test_demo_again_with_nothing_changed_restores_every_step_in_seconds(demo, demo_store):
    out, first = demo
    assert first.code == 0, first
    before = manifest_of(out)
    t0 = time.monotonic()
    r = run_pteflow("run", PIPELINES / "demo.yaml", "--python", PYTHON, "--out", out,
                    env={"PTEFLOW_STORE": str(demo_store)})
    elapsed = time.monotonic() - t0
    assert r.code == 0, r
    assert elapsed < 3.0, f"a no-change re-run took {elapsed:.1f} s"
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    steps = {s["name"]: s for s in m["steps"]}
    assert all(s["cached"] and s["cache"]["status"] == "hit" for s in steps.values()), steps
    assert r.out.count(" cached ") == 3, r.out
    # every gate ran again on the restored .pte, and it is the stored run's bytes
    pte = next(a for a in m["artifacts"] if a["path"] == "model.pte")
    assert pte["passed"] and all(g["passed"] for g in pte["gates"]) and pte["structure"]["methods"]
    assert pte["sha256"] == next(a for a in before["artifacts"] if a["path"] == "model.pte")["sha256"]
    assert steps["check"]["result"]["ok"] is True
    assert steps["export"]["peak_memory_bytes"] == before["steps"][0]["peak_memory_bytes"]
    v = run_pteflow("verify", out / "manifest.json")
    assert v.code == 0, v


def test_demo_a_changed_value_or_step_file_reruns_only_the_check(tmp_path, demo, demo_store):
    """A checkout elsewhere (the same files): restored there too; then one vars: value of the check,
    then one byte of check.py: each time explain names it and only the check runs again."""
    out0, first = demo
    assert first.code == 0, first
    root = tmp_path / "checkout"
    shutil.copytree(SOURCE_DIR / "python", root / "python", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pipelines").mkdir()
    pipeline = root / "pipelines" / "demo.yaml"
    pipeline.write_text((PIPELINES / "demo.yaml").read_text())
    env = {"PTEFLOW_STORE": str(demo_store)}
    out = tmp_path / "out"

    def explained():
        e = run_pteflow("explain", pipeline, "--python", PYTHON, "--out", out, "--json", env=env)
        assert e.code == 0, e
        return {s["name"]: s for s in json.loads(e.out)["steps"]}

    def ran():
        r = run_pteflow("run", pipeline, "--python", PYTHON, "--out", out, timeout=1200, env=env)
        assert r.code == 0, r
        return {s["name"]: s["cached"] for s in manifest_of(out)["steps"]}

    assert ran() == {"export": True, "check": True, "kpi": True}

    pipeline.write_text(pipeline.read_text().replace("atol: 0.01", "atol: 0.02"))
    e = explained()
    assert e["export"]["status"] == "hit" and e["check"]["status"] == "miss", e
    assert e["check"]["component"] == "command" and '"0.01" -> "0.02"' in e["check"]["reason"], e["check"]
    assert ran() == {"export": True, "check": False, "kpi": True}

    with open(root / "python" / "pteflow_steps" / "check.py", "a") as f:
        f.write("# one more byte\n")
    e = explained()
    assert e["export"]["status"] == "hit" and e["check"]["status"] == "miss", e
    assert e["check"]["component"] == "steps" and "pteflow_steps/check.py" in e["check"]["reason"], e["check"]
    assert ran() == {"export": True, "check": False, "kpi": True}
