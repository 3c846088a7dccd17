"""Runtime KPI gates (issue 17) through the real binary: a step with `kpi:`
runs python -m pteflow_steps.kpi on a tiny committed LLM program
(tests/resources/pte/tiny-llama-kpi.pte, 1 layer, context 64) under the
memory guard. An impossible ttft_max fails the run with exit 1 naming the
gate; a session made to leak (the step's fault injection) is caught by the
soak while the same session without it passes; a runtime process killed by
SIGSEGV is reported as a crash with its turn and the manifest is still
written; `pteflow verify` fails a manifest whose KPI gates failed, or whose
recorded verdict was edited. Each run is about 8 s of Python start-up and
torch import; four runs in all."""
import json

import jsonschema
import pytest

from conftest import PYTHON, SOURCE_DIR, manifest_of, run_pteflow, write_pipeline

SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
PTE = SOURCE_DIR / "tests" / "resources" / "pte" / "tiny-llama-kpi.pte"
LOOSE = "decode_min_tps: 1, prefill_min_tps: 1, load_max: 30s, runtime_memory_max: 3GB"


def kpi_pipeline(tmp_path, gates, extra_args=""):
    return write_pipeline(tmp_path, f"""\
        version: 1
        name: kpi-test
        limits: {{ memory: 3GiB, timeout: 3m }}
        steps:
          - name: measure
            run: ["${{python}}", "-m", "pteflow_steps.kpi", "--pte", "{PTE}", "--max-seq-len", "64",
                  "--prompt-len", "8", "--decode-tokens", "8", "--threads", "1",
                  "--out", "${{out}}/kpi.json"{extra_args}]
            env: {{ PYTHONPATH: "{SOURCE_DIR / 'python'}" }}
            kpi: {{ {gates} }}
        artifacts:
          - {{ path: kpi.json, kind: file }}
        """)


def run(tmp_path, gates, extra_args="", env=None):
    out = tmp_path / "out"
    r = run_pteflow("run", kpi_pipeline(tmp_path, gates, extra_args), "--python", PYTHON, "--out", out,
                    "--kpi-record", tmp_path / "records.json", timeout=300, env=env)
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    return r, m, out


def gates_of(m):
    return {g["name"]: g for g in m["kpi"]["gates"]}


@pytest.fixture(scope="module")
def passing(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kpi-pass")
    summary = tmp / "summary.md"
    summary.write_text("")
    r, m, out = run(tmp, f"{LOOSE}, ttft_max: 5s, soak: {{ turns: 8, max_growth: 16MiB }}",
                    env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    return r, m, out, summary.read_text()


def test_loose_gates_pass_and_every_kpi_is_recorded(passing):
    r, m, out, summary = passing
    assert r.code == 0, r
    k = m["kpi"]
    assert k["passed"] and k["step"] == "measure" and k["failure"] is None
    g = gates_of(m)
    assert set(g) == {"measured", "crash", "ttft_max", "decode_min_tps", "prefill_min_tps", "load_max",
                      "runtime_memory_max", "soak_turns", "soak_max_growth"}
    assert all(x["passed"] for x in g.values())
    assert 0 < g["ttft_max"]["value"] < 5000 and g["decode_min_tps"]["value"] > 1
    assert g["soak_turns"]["value"] >= 8 and g["crash"]["value"] == 0
    # the host the figures stand for, and the thread count they were taken with
    assert k["host"]["threads"] == 1 and k["host"]["cpu_model"] and "proxy for a phone" in k["host"]["note"]
    turns = k["measured"]["turns"]
    assert len(turns) >= 8 and all(t["rss_bytes"] > 0 and t["ttft_ms"] > 0 for t in turns)
    # 8 + 8 positions per turn in a context of 64: the fifth turn starts a fresh session
    assert [t["session"] for t in turns[:5]] == [0, 0, 0, 0, 1]
    # no numerical check step here: the run passed, but it is not PRD-compliant, and says why
    assert m["prd_compliant"] is False
    assert m["prd_checks"] == {"artifact_gates": True, "numerical_check": False, "kpi_gates": True}
    assert m["pte_size_gb"] is None
    assert "gate decode_min_tps" in r.out
    assert "### Runtime KPIs" in summary and "`ttft_max`" in summary


def test_kpi_record_is_executorch_benchmark_v3(passing):
    _, m, out, _ = passing
    records = json.loads((out.parent / "records.json").read_text())
    by_name = {r["metric"]["name"]: r for r in records}
    assert {"token_per_sec", "first_token_latency(ms)", "model_load_time(ms)",
            "peak_inference_mem_usage(mb)"} <= set(by_name)
    tps = by_name["token_per_sec"]
    assert tps["benchmark"]["name"] == "ExecuTorch" and tps["benchmark"]["mode"] == "inference"
    assert tps["model"]["name"] == "kpi-test" and {"backend", "quantization"} <= set(tps["model"])
    assert tps["metric"]["benchmark_values"] == [m["kpi"]["measured"]["summary"]["decode_tps"]]
    assert tps["metric"]["target_value"] == 1
    assert tps["runners"][0]["name"] == m["kpi"]["host"]["cpu_model"] and tps["runners"][0]["threads"] == 1
    assert "FAILURE_REPORT" not in by_name


def test_verify_reports_the_kpi_gates_of_a_passing_run(passing):
    _, _, out, _ = passing
    r = run_pteflow("verify", out / "manifest.json")
    assert r.code == 0, r
    assert "OK  KPI ttft_max" in r.out and "KPI gates passed" in r.out


def test_verify_fails_a_manifest_whose_recorded_kpi_verdict_was_edited(passing, tmp_path):
    _, m, out, _ = passing
    for g in m["kpi"]["gates"]:
        if g["name"] == "ttft_max":
            g["value"] = g["limit"] * 2  # a slower figure, still marked passed
    (out / "edited.json").write_text(json.dumps(m))
    r = run_pteflow("verify", out / "edited.json", "--json")
    assert r.code == 1, r
    rep = json.loads(r.out)
    bad = [k for k in rep["kpi"] if k["status"] == "FAILED"]
    assert [k["name"] for k in bad] == ["ttft_max"] and "does not meet its limit" in bad[0]["detail"]


def test_an_impossible_ttft_max_fails_the_run_naming_the_gate(tmp_path):
    r, m, out = run(tmp_path, f"{LOOSE}, ttft_max: 0.001ms")
    assert r.code == 1, r
    assert "KPI gate ttft_max failed" in r.err and "proxy for a phone" in r.err
    assert m["status"] == "failed" and m["failure"].startswith("KPI gate ttft_max failed")
    g = gates_of(m)
    assert g["ttft_max"]["passed"] is False and g["ttft_max"]["value"] > 0.001
    assert all(x["passed"] for n, x in g.items() if n != "ttft_max")
    assert m["prd_compliant"] is False and m["prd_checks"]["kpi_gates"] is False
    v = run_pteflow("verify", out / "manifest.json")
    assert v.code == 1, v
    assert "FAILED  KPI ttft_max" in v.out and "1 of" in v.out and "KPI gates failed" in v.out


def test_a_leaking_session_is_caught_by_the_soak(tmp_path):
    # 4 MB more resident after every turn; the passing run above is the same session without the leak
    r, m, _ = run(tmp_path, f"{LOOSE}, soak: {{ turns: 8, max_growth: 16MiB }}", ', "--test-leak-bytes", "4000000"')
    assert r.code == 1, r
    assert "KPI gate soak_max_growth failed" in r.err
    g = gates_of(m)["soak_max_growth"]
    assert g["passed"] is False and g["value"] > 16 * 2**20
    assert m["kpi"]["measured"]["summary"]["rss_slope_bytes_per_turn"] > 3_000_000


def test_a_crashing_runtime_is_reported_with_its_turn_and_the_manifest_written(tmp_path):
    r, m, out = run(tmp_path, f"{LOOSE}, soak: {{ turns: 8 }}", ', "--test-crash-turn", "3"')
    assert r.code == 1, r
    assert "KPI gate crash failed" in r.err and "crashed in turn 3 (SIGSEGV)" in r.err
    crash = m["kpi"]["measured"]["crash"]
    assert crash["turn"] == 3 and crash["signal"] == "SIGSEGV"
    assert len(m["kpi"]["measured"]["turns"]) == 2
    g = gates_of(m)
    assert g["crash"]["passed"] is False and g["soak_turns"]["passed"] is False
    assert m["steps"][0]["status"] == "success"  # the measurement itself finished: the gate says what failed
    assert (out / "kpi.json").is_file()
    records = json.loads((tmp_path / "records.json").read_text())
    failure = [x for x in records if x["metric"]["name"] == "FAILURE_REPORT"]
    assert failure and "turn 3" in failure[0]["benchmark"]["extra_info"]["job_report"]


def test_kpi_record_without_a_kpi_step_is_bad_usage_before_anything_runs(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: no-kpi
        steps:
          - name: touch
            run: ["touch", "${out}/ran"]
        """)
    r = run_pteflow("run", p, "--out", tmp_path / "out", "--kpi-record", tmp_path / "r.json")
    assert r.code == 2, r
    assert "has no step with a kpi: block" in r.err
    assert not (tmp_path / "out" / "ran").exists() and not (tmp_path / "r.json").exists()
