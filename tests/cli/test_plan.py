"""`pteflow plan` through the real binary, and the estimator behind it
(python/pteflow_steps/estimate.py): predictions before anything runs, beside
the gates; config.json fetched alone from the local Hub (no weights); exit
codes (0, 1 with --strict and a breach, 2 usage/invalid, 3 environment); the
1B predictions against the figures the README records; a failed estimate
never fails a run. No export runs here: the e2e tests check the intervals
against real exports (test_e2e_demo.py, test_e2e_models.py, test_steps.py)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PYTHON, SOURCE_DIR, run_pteflow
from hubfixture import LocalHub, write_repo

PIPELINES = SOURCE_DIR / "pipelines"
MiB = 1024 * 1024
TOKEN = "hf_PlanTestToken0123456789"

# The published config.json of meta-llama/Llama-3.2-1B-Instruct (the fields that matter here).
LLAMA_1B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 64, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
}

# Measured figures the README records (bench/bench_export.sh, bench/bench_pipeline_1b.py; the peaks since
# export_llm's memory levers (issue 21): the largest stage PTEFLOW_DEBUG_MEMORY=1 printed, and the 8da4w
# run's maximum RSS). bench_pipeline_1b.py's export peak (4777 MiB, bf16 checkpoint) predates the levers
# and was not measured again, so it is no longer held against the prediction.
RECORDED_1B = {
    "int8_int4emb_pte": 1_402_876_416, "int8_int4emb_peak": 3021 * MiB,
    "8da4w_int4emb_pte": 860_216_832, "8da4w_int4emb_peak": 2865 * MiB,
    "pipeline_pte": 1_402_614_016,
    "int8_int8emb_pte": 1_501_890_048,
}


def estimate(*step_args, model_dir=None):
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    cmd = [PYTHON, "-m", "pteflow_steps.estimate", "--json"]
    if model_dir:
        cmd += ["--model-dir", str(model_dir)]
    r = subprocess.run(cmd + ["--", *map(str, step_args)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def within(iv, v):
    return iv["low"] <= v <= iv["high"]


def plan_json(*args, **kw):
    r = run_pteflow("plan", *args, "--json", "--python", PYTHON, **kw)
    assert r.code == 0, r
    return json.loads(r.out)


def steps_of(doc, i=0):
    return {s["name"]: s for s in doc["plans"][i]["steps"]}


def test_help_matches_help_command():
    r = run_pteflow("plan", "--help")
    assert r.code == 0 and r.out.startswith("usage: pteflow plan")
    assert "--strict" in r.out and "exit codes" in r.out
    assert run_pteflow("help", "plan").out == r.out


def test_demo_is_planned_without_network_or_output(tmp_path):
    out = tmp_path / "never"
    r = run_pteflow("plan", PIPELINES / "demo.yaml", "--python", PYTHON, "--out", out, env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert r.code == 0, r
    assert "step     export: peak memory" in r.out and "model.pte" in r.out
    assert "check: not an export step" in r.out
    assert "verdict  0 breaches" in r.out
    assert not out.exists()  # nothing written, nothing run
    doc = plan_json(PIPELINES / "demo.yaml")
    p = doc["plans"][0]
    assert p["model"] is None and p["breaches"] == 0
    exp = steps_of(doc)["export"]
    assert exp["predicted"] and exp["estimator"] == "export_llm"
    assert exp["model"]["quant"] == "int8" and exp["model"]["max_seq_len"] == 128  # the pipeline's vars
    assert exp["peak_memory"]["low"] <= exp["peak_memory"]["point"] <= exp["peak_memory"]["high"]
    art = next(a for a in p["artifacts"] if a["path"] == "model.pte")
    assert art["step"] == "export" and art["max_size"] == 16_000_000
    assert 10_000 < art["size"]["point"] < 16_000_000
    assert art["runtime_memory"]["point"] > art["size"]["point"]
    assert steps_of(doc)["check"]["predicted"] is False


def write_pipeline(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(text))
    return p


DEMO_LIKE = """\
    version: 1
    name: planned
    limits: {{ memory: {memory}, timeout: 10m }}
    steps:
      - name: export
        run: ["${{python}}", "-m", "pteflow_steps.export_llm", "--random-config", "tiny", "--quant", "int8",
              "--max-seq-len", "128", "--out", "${{out}}/model.pte"]
    artifacts:
      - {{ path: model.pte, kind: pte, max_size: {max_size} }}
"""


def test_predicted_size_over_max_size_is_a_breach_and_strict_exits_1(tmp_path):
    p = write_pipeline(tmp_path, DEMO_LIKE.format(memory="4GiB", max_size="100KB"))
    r = run_pteflow("plan", p, "--python", PYTHON)
    assert r.code == 0, r
    assert "gate     model.pte: max 100KB" in r.out and "BREACH" in r.out
    r = run_pteflow("plan", p, "--python", PYTHON, "--strict")
    assert r.code == 1, r
    assert "1 predicted breach" in r.err
    doc = plan_json(p)
    assert doc["breaches"] == 1
    assert doc["plans"][0]["artifacts"][0]["breach"] is True


def test_predicted_peak_over_the_memory_limit_is_a_breach(tmp_path):
    p = write_pipeline(tmp_path, DEMO_LIKE.format(memory="300MiB", max_size="16MB"))
    r = run_pteflow("plan", p, "--python", PYTHON, "--strict")
    assert r.code == 1, r
    assert "limit 300.0 MiB: BREACH" in r.out
    p = write_pipeline(tmp_path, DEMO_LIKE.format(memory="1GiB", max_size="16MB"))
    doc = plan_json(p)  # the interval (about 0.65 to 1.1 GiB) crosses 1 GiB: at risk, not a breach
    exp = steps_of(doc)["export"]
    assert exp["breach"] is False and exp["at_risk"] is True
    assert run_pteflow("plan", p, "--python", PYTHON, "--strict").code == 0


def test_every_target_is_planned_with_its_own_options(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: two-targets
        vars: { quant: none }
        steps:
          - name: export
            run: ["${python}", "-m", "pteflow_steps.export_llm", "--random-config", "tiny", "--quant", "${vars.quant}",
                  "--out", "${out}/model.pte"]
        artifacts:
          - { path: model.pte, kind: pte, max_size: 400KB }
        targets:
          - { name: fp32, vars: { quant: none } }
          - { name: int8, vars: { quant: int8 } }
    """)
    doc = plan_json(p, "--out", tmp_path / "o")
    assert [pl["target"] for pl in doc["plans"]] == ["fp32", "int8"]
    fp32, int8 = (pl["artifacts"][0] for pl in doc["plans"])
    assert fp32["size"]["point"] > int8["size"]["point"]
    assert fp32["breach"] is True and int8["breach"] is False  # tiny fp32 is about 650 kB, int8 about 330 kB
    assert doc["breaches"] == 1
    one = plan_json(p, "--target", "int8")
    assert len(one["plans"]) == 1 and one["breaches"] == 0


def test_usage_and_invalid_pipelines_exit_2(tmp_path):
    assert run_pteflow("plan").code == 2
    assert run_pteflow("plan", PIPELINES / "demo.yaml", "--bogus").code == 2
    bad = write_pipeline(tmp_path, "version: 1\nname: x\nsteps: []\nbogus: 1\n")
    r = run_pteflow("plan", bad)
    assert r.code == 2 and "p.yaml" in r.err
    r = run_pteflow("plan", PIPELINES / "minilm.yaml", "--target", "nope")
    assert r.code == 2, r


def hub_root_with(tmp_path, repo, files, gated=False):
    root = tmp_path / "hubroot"
    write_repo(str(root), repo, files, meta={"gated": "manual"} if gated else None)
    return root


def test_config_json_is_fetched_alone_never_the_weights(tmp_path):
    """A Llama checkpoint on the local Hub with a 64 MiB weight file: plan asks for config.json only."""
    repo = "org/tiny-llama"
    cfg = {"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 160,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": False}
    root = hub_root_with(tmp_path, repo, {"config.json": json.dumps(cfg), "model.safetensors": b"\0" * (64 * MiB)})
    p = write_pipeline(tmp_path, f"""\
        version: 1
        name: hub-plan
        model: {{ hf: {repo}, include: ["config.json", "*.safetensors"] }}
        steps:
          - name: export
            run: ["${{python}}", "-m", "pteflow_steps.export_llm", "--model-dir", "${{model.dir}}", "--quant", "int8",
                  "--max-seq-len", "128", "--out", "${{out}}/model.pte"]
            limits: {{ memory: 2GiB }}
        artifacts:
          - {{ path: model.pte, kind: pte, max_size: 16MB }}
    """)
    cache = tmp_path / "cache"
    with LocalHub(str(root), python=PYTHON) as hub:
        env = hub.env(HF_HUB_CACHE=str(cache), HF_HOME=str(tmp_path / "home"))
        r = run_pteflow("plan", p, "--json", "--python", PYTHON, env=env)
        log = hub.log()
    assert r.code == 0, r
    doc = json.loads(r.out)
    plan = doc["plans"][0]
    assert plan["model"]["repo"] == repo and plan["model"]["config_only"] is True
    assert len(plan["model"]["commit"]) == 40
    exp = steps_of(doc)["export"]
    assert exp["predicted"], exp
    assert exp["model"]["vocab_size"] == 512 and exp["model"]["layers"] == 2  # read from the fetched config.json
    paths = json.dumps(log)
    assert "config.json" in paths and "model.safetensors" not in paths  # the listing is asked for, never the file
    snap = next((cache / "models--org--tiny-llama" / "snapshots").iterdir())
    assert (snap / "config.json").is_file() and not (snap / "model.safetensors").exists()
    blobs = list((cache / "models--org--tiny-llama" / "blobs").iterdir())
    assert sum(b.stat().st_size for b in blobs) < 10_000


def test_unreachable_hub_is_an_environment_error(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: hub-down
        model: { hf: org/absent }
        steps:
          - name: export
            run: ["${python}", "-m", "pteflow_steps.export_llm", "--model-dir", "${model.dir}", "--out", "${out}/m.pte"]
        artifacts:
          - { path: m.pte, kind: pte }
    """)
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "c"), "HF_HOME": str(tmp_path / "h"),
           "PTEFLOW_HUB_MAX_RETRIES": "0", "PTEFLOW_HUB_RETRY_BUDGET_S": "1"}
    r = run_pteflow("plan", p, "--python", PYTHON, env=env)
    assert r.code == 3, r
    assert "config.json" in r.err


def test_missing_interpreter_is_an_environment_error(tmp_path):
    p = write_pipeline(tmp_path, DEMO_LIKE.format(memory="4GiB", max_size="16MB"))
    r = run_pteflow("plan", p, "--python", str(tmp_path / "no-python"))
    assert r.code == 3, r


def test_production_pipeline_1b_intervals_contain_the_recorded_figures(tmp_path):
    """pipelines/llama3.2-1b.yaml as committed, its config.json from a gated local Hub: the
    predicted .pte and peak contain what bench_export.sh and bench_pipeline_1b.py measured."""
    repo = "meta-llama/Llama-3.2-1B-Instruct"
    root = hub_root_with(tmp_path, repo, {"config.json": json.dumps(LLAMA_1B_CONFIG),
                                          "model.safetensors": b"\0" * 4096}, gated=True)
    with LocalHub(str(root), token=TOKEN, approved=[repo], python=PYTHON) as hub:
        env = hub.env(token=TOKEN, HF_HUB_CACHE=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "home"))
        r = run_pteflow("plan", PIPELINES / "llama3.2-1b.yaml", "--target", "int8-seq512", "--json", "--strict",
                        "--python", PYTHON, env=env)
        violations = hub.violations()
    assert violations == []
    assert r.code == 0, r
    assert TOKEN not in r.out + r.err
    doc = json.loads(r.out)
    exp = steps_of(doc)["export"]
    assert exp["model"]["quant"] == "int8" and exp["model"]["embedding_quant"] == "int4"
    assert exp["model"]["max_seq_len"] == 512
    peak = exp["peak_memory"]
    assert within(peak, RECORDED_1B["int8_int4emb_peak"]), peak
    art = next(a for a in doc["plans"][0]["artifacts"] if a["path"] == "llama3.2-1b.pte")
    for key in ("int8_int4emb_pte", "pipeline_pte"):
        assert within(art["size"], RECORDED_1B[key]), (key, art["size"])
        assert abs(art["size"]["point"] - RECORDED_1B[key]) / RECORDED_1B[key] < 0.001
    assert art["breach"] is False and art["max_size"] == 1_500_000_000
    # The guard: 6 GiB for the export, predicted peak under it.
    assert exp["memory_limit_bytes"] == 6 * 1024**3 and exp["breach"] is False


@pytest.mark.parametrize("quant,emb,pte_key,peak_key", [
    ("8da4w", "int4", "8da4w_int4emb_pte", "8da4w_int4emb_peak"),
    ("int8", "int8", "int8_int8emb_pte", None),
])
def test_estimator_1b_other_recorded_variants(quant, emb, pte_key, peak_key):
    e = estimate("-m", "pteflow_steps.export_llm", "--random-config", "llama3.2-1b", "--quant", quant,
                 "--embedding-quant", emb, "--max-seq-len", "512", "--xnnpack", "--out", "/nonexistent/x.pte")
    size = e["artifacts"][0]["size"]
    assert within(size, RECORDED_1B[pte_key]), size
    assert abs(size["point"] - RECORDED_1B[pte_key]) / RECORDED_1B[pte_key] < 0.001
    if peak_key:
        assert within(e["peak_memory"], RECORDED_1B[peak_key])


# bench/bench_big_models.py, one run each (README "Big models on small machines"): the export's maximum RSS
# and the .pte of the real 3B and 8B shapes, 8da4w + int4 embedding, seq 512, XNNPACK.
RECORDED_BIG = {
    "llama3.2-3b": {"pte": 2_055_257_728, "peak": 6_258_819_072},
    "llama3.1-8b": {"pte": 4_552_102_912, "peak": 12_461_416_448},
}


@pytest.mark.parametrize("config", sorted(RECORDED_BIG))
def test_estimator_big_shapes_contain_the_measured_figures(config):
    e = estimate("-m", "pteflow_steps.export_llm", "--random-config", config, "--quant", "8da4w",
                 "--group-size", "32", "--embedding-quant", "int4", "--max-seq-len", "512", "--xnnpack",
                 "--out", "/nonexistent/x.pte")
    rec = RECORDED_BIG[config]
    size = e["artifacts"][0]["size"]
    assert abs(size["point"] - rec["pte"]) / rec["pte"] < 0.001, size
    assert within(e["peak_memory"], rec["peak"]), (e["peak_memory"], rec["peak"])
    # the step's peak is its largest stage, and the targets hold for the prediction's point
    stages = e["model"]["peak_by_stage"]
    assert e["peak_memory"]["point"] == pytest.approx(max(stages.values()), abs=2)
    assert e["peak_memory"]["point"] < (7 if config == "llama3.2-3b" else 14) * 1024**3


def test_estimator_random_configs_mirror_the_model_package():
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from pteflow_steps import estimate, llama
        for name, cfg in llama.RANDOM_CONFIGS.items():
            mine = estimate.RANDOM_CONFIGS[name]
            for k, v in mine.items():
                assert getattr(cfg, k) == v, (name, k, getattr(cfg, k), v)
        assert set(estimate.RANDOM_CONFIGS) == set(llama.RANDOM_CONFIGS)
        print("ok")
    """)
    r = subprocess.run([PYTHON, "-c", code, str(SOURCE_DIR / "python")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_estimator_reads_options_with_the_steps_own_parser():
    e = estimate("-m", "pteflow_steps.export_llm", "--random-config", "tiny", "--out", "/x/m.pte")
    assert e["model"]["quant"] == "none" and e["model"]["max_seq_len"] == 128 and e["model"]["dtype"] == "fp32"
    e8 = estimate("-m", "pteflow_steps.export_llm", "--random-config", "tiny", "--quant", "int8", "--out", "/x/m.pte")
    assert e8["artifacts"][0]["size"]["point"] < e["artifacts"][0]["size"]["point"]
    n = estimate("-m", "pteflow_steps.check", "--export-result", "x.json")
    assert n["estimable"] is False
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    r = subprocess.run([PYTHON, "-m", "pteflow_steps.estimate", "--json", "--", "-m", "pteflow_steps.export_llm",
                        "--random-config", "tiny"], capture_output=True, text=True, env=env)  # no --out: the step refuses
    assert r.returncode == 1 and "arguments of export_llm are invalid" in r.stderr


def test_a_failed_estimate_never_fails_a_run(tmp_path):
    """The estimator cannot read a config.json that is not there: run warns once and the step runs
    (and fails for its own reason); the manifest carries no prediction for it."""
    p = write_pipeline(tmp_path, """\
        version: 1
        name: no-estimate
        steps:
          - name: export
            run: ["${python}", "-m", "pteflow_steps.export_llm", "--model-dir", "${out}/absent", "--out", "${out}/m.pte"]
        artifacts:
          - { path: m.pte, kind: pte }
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--python", PYTHON, "--out", out, timeout=600)
    assert r.code == 1, r
    assert 'step "export": no prediction' in r.err and "runs as before" in r.err
    assert "has no config.json" in r.err  # the step's own failure, not the estimator's
    m = json.loads((out / "manifest.json").read_text())
    assert "prediction" not in m["steps"][0]
    assert m["steps"][0]["status"] == "failed"


def test_run_admits_a_step_without_expect_on_the_predicted_high_bound(tmp_path):
    """No limits.expect: the prediction's upper bound (about 1.1 GiB for the tiny int8 export) is the
    admission figure; with 200 MiB available the step is refused before it starts."""
    p = write_pipeline(tmp_path, DEMO_LIKE.format(memory="4GiB", max_size="16MB"))
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--python", PYTHON, "--out", out, env={"PTEFLOW_TEST_MEMAVAILABLE": str(200 * MiB)})
    assert r.code == 1, r
    assert "upper bound of pteflow's prediction" in r.err and "limits.expect" in r.err
    m = json.loads((out / "manifest.json").read_text())
    step = m["steps"][0]
    assert step["status"] == "skipped" and step["exit_code"] is None
    assert step["prediction"]["used_for_admission"] is True
    assert step["prediction"]["peak_memory"]["actual"] is None  # it never ran
    assert not (out / "model.pte").exists()


# --- export_causal_lm: any transformers decoder-only causal LM (issue 16) ---------------------------

HF_CONFIGS = SOURCE_DIR / "python" / "pteflow_steps" / "hf_configs"
# Measured (bench/bench_causal_lm.py --only full; estimate.py MEASURED): pipelines/gpt2.yaml's export of a
# full-size random GPT-2 124M checkpoint (int8, seq 1024, --bundle, --etrecord).
RECORDED_GPT2 = {"pte": 281_921_988, "bpte": 285_139_296, "peak": 3_870_000_000}


def transformers_counts(names):
    """Parameters of each hf_configs/<name>.json as transformers counts them on the meta device."""
    code = textwrap.dedent("""
        import json, sys, torch
        from transformers import AutoConfig, AutoModelForCausalLM
        out = {}
        for path in sys.argv[1:]:
            d = json.load(open(path))
            cfg = AutoConfig.for_model(d.pop("model_type"), **{k: v for k, v in d.items() if k != "architectures"})
            with torch.device("meta"):
                m = AutoModelForCausalLM.from_config(cfg)
            out[path] = m.num_parameters()
        print(json.dumps(out))
    """)
    paths = [str(HF_CONFIGS / f"{n}.json") for n in names]
    r = subprocess.run([PYTHON, "-c", code, *paths], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    return {n: counts[p] for n, p in zip(names, paths)}


def test_estimator_causal_lm_counts_what_transformers_builds():
    """The model comes from config.json alone, built on the meta device: the parameter count is
    transformers' own (tied tables once), GPT-2 124M exactly; int8 linears make the .pte smaller than
    the float32 weights, the embedding quantization smaller still."""
    names = ["gpt2", "smollm2-135m", "qwen3-0.6b", "gemma3-1b"]
    counts = transformers_counts(names)
    assert counts["gpt2"] == 124_439_808
    for n in names:
        e = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / f"{n}.json", "--quant",
                     "int8", "--max-seq-len", "512", "--out", "/nonexistent/m.pte")
        assert e["estimable"] is True and e["step"] == "export_causal_lm", e
        assert e["model"]["parameters"] == counts[n], (n, e["model"])
        assert e["model"]["float_weight_bytes"] == 4 * counts[n]
        size = e["artifacts"][0]["size"]["point"]
        assert counts[n] < size < 4 * counts[n], (n, size)  # int8 linears (+ a quantized lm_head), float tables
        emb = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / f"{n}.json", "--quant",
                       "int8", "--embedding-quant", "int8", "--max-seq-len", "512", "--out", "/nonexistent/m.pte")
        assert emb["artifacts"][0]["size"]["point"] < size
    g = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / "gpt2.json", "--quant", "int8",
                 "--layers", "2", "--out", "/nonexistent/m.pte")
    assert g["model"]["layers"] == 2 and g["model"]["parameters"] == counts["gpt2"] - 10 * 7_087_872


def test_estimator_causal_lm_gpt2_contains_the_recorded_export():
    """pipelines/gpt2.yaml's options on GPT-2 124M's config.json: the measured .pte, .bpte and peak."""
    e = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / "gpt2.json", "--quant", "int8",
                 "--max-seq-len", "1024", "--xnnpack", "--bundle", "/nonexistent/gpt2.bpte", "--etrecord",
                 "/nonexistent/gpt2.etrecord", "--out", "/nonexistent/gpt2.pte")
    arts = {os.path.basename(a["path"]): a for a in e["artifacts"]}
    assert arts["gpt2.pte"]["kind"] == "pte" and arts["gpt2.bpte"]["kind"] == "bpte"
    for name, key in (("gpt2.pte", "pte"), ("gpt2.bpte", "bpte")):
        size = arts[name]["size"]
        assert within(size, RECORDED_GPT2[key]), (name, size)
        assert abs(size["point"] - RECORDED_GPT2[key]) / RECORDED_GPT2[key] < 0.01, (name, size)
    assert within(e["peak_memory"], RECORDED_GPT2["peak"]), e["peak_memory"]
    plain = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / "gpt2.json", "--quant",
                     "int8", "--max-seq-len", "1024", "--out", "/nonexistent/gpt2.pte")
    assert plain["peak_memory"]["point"] < e["peak_memory"]["point"]  # the bundle and the ETRecord cost memory
    assert [a["kind"] for a in plain["artifacts"]] == ["pte"]


def test_causal_lm_prediction_contains_a_real_tiny_export(tmp_path):
    """The step run directly (tiny GPT-2, int8, a bundle): its .pte and .bpte sizes, its own peak RSS and the
    program's runtime memory as `pteflow inspect` reads it all fall inside the estimator's intervals."""
    out = tmp_path / "model.pte"
    args = ["--random-config", "gpt2", "--seed", "0", "--quant", "int8", "--max-seq-len", "64", "--xnnpack",
            "--bundle", str(tmp_path / "model.bpte"), "--out", str(out)]
    e = estimate("-m", "pteflow_steps.export_causal_lm", *args)
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    r = subprocess.run([PYTHON, "-m", "pteflow_steps.export_causal_lm", *args], capture_output=True, text=True,
                       env=env, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((tmp_path / "model.export_causal_lm.json").read_text())
    assert within(e["peak_memory"], result["peak_rss_bytes"]), (e["peak_memory"], result["peak_rss_bytes"])
    arts = {os.path.basename(a["path"]): a for a in e["artifacts"]}
    assert set(arts) == {"model.pte", "model.bpte"}
    for name, a in arts.items():
        actual = (tmp_path / name).stat().st_size
        assert within(a["size"], actual), (name, a["size"], actual)
        assert abs(a["size"]["point"] - actual) / actual < 0.05, (name, a["size"], actual)
    insp = run_pteflow("inspect", "--json", out)
    assert insp.code == 0, insp
    runtime = json.loads(insp.out)["runtime_memory_bytes"]
    assert within(arts["model.pte"]["runtime_memory"], runtime), (arts["model.pte"]["runtime_memory"], runtime)
    assert e["model"]["parameters"] == result["parameters"]


@pytest.mark.parametrize("config,words", [
    ({"model_type": "t5", "vocab_size": 512, "d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 128},
     ["'t5'", "encoder-decoder"]),
    ({"model_type": "no-such-architecture", "vocab_size": 512}, ["'no-such-architecture'", "not known"]),
    ({"model_type": "bert", "vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 128, "use_cache": False}, ["'bert'", "use_cache"]),
    ({"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
      "num_attention_heads": 4, "auto_map": {"AutoModelForCausalLM": "modeling_x.X"}}, ["trust_remote_code"]),
])
def test_causal_lm_the_step_would_refuse_is_not_estimable_with_its_reason(tmp_path, config, words):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    r = subprocess.run([PYTHON, "-m", "pteflow_steps.estimate", "--json", "--", "-m",
                        "pteflow_steps.export_causal_lm", "--config-json", str(path), "--quant", "int8", "--out",
                        str(tmp_path / "m.pte")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    e = json.loads(r.stdout)
    assert e["estimable"] is False and e["step"] == "export_causal_lm"
    for w in words:
        assert w in e["reason"], e


def test_causal_lm_sliding_window_past_the_window_is_not_estimable():
    e = estimate("-m", "pteflow_steps.export_causal_lm", "--config-json", HF_CONFIGS / "gemma3-1b.json",
                 "--max-seq-len", "1024", "--out", "/nonexistent/m.pte")
    assert e["estimable"] is False and "sliding-window" in e["reason"] and "--max-seq-len 512" in e["reason"]


@pytest.mark.parametrize("pipeline,repo,gated,target", [
    ("gpt2.yaml", "openai-community/gpt2", False, None),
    ("smollm2-135m.yaml", "HuggingFaceTB/SmolLM2-135M-Instruct", False, "int8-seq1024"),
    ("qwen3-0.6b.yaml", "Qwen/Qwen3-0.6B", False, None),
    ("gemma3-1b.yaml", "google/gemma-3-1b-it", True, None),
])
def test_causal_lm_pipelines_are_planned_from_config_json_alone(tmp_path, pipeline, repo, gated, target):
    """The shipped pipelines as committed, each model's real config.json served alone by a local Hub (a stub
    weight file beside it is never fetched): every export is predicted, inside its gates; GPT-2's
    prediction contains what its export measured."""
    name = {"gpt2.yaml": "gpt2", "smollm2-135m.yaml": "smollm2-135m", "qwen3-0.6b.yaml": "qwen3-0.6b",
            "gemma3-1b.yaml": "gemma3-1b"}[pipeline]
    cfg = (HF_CONFIGS / f"{name}.json").read_text()
    root = hub_root_with(tmp_path, repo, {"config.json": cfg, "model.safetensors": b"\0" * 4096}, gated=gated)
    args = ["--target", target] if target else []
    with LocalHub(str(root), token=TOKEN if gated else None, approved=[repo] if gated else (),
                  python=PYTHON) as hub:
        env = hub.env(token=TOKEN if gated else None, HF_HUB_CACHE=str(tmp_path / "cache"),
                      HF_HOME=str(tmp_path / "home"))
        r = run_pteflow("plan", PIPELINES / pipeline, *args, "--json", "--strict", "--python", PYTHON, env=env)
        log = hub.log()
    assert r.code == 0, r
    assert "model.safetensors" not in json.dumps(log)
    doc = json.loads(r.out)
    exp = steps_of(doc)["export"]
    assert exp["predicted"] and exp["estimator"] == "export_causal_lm", exp
    assert exp["breach"] is False and exp["at_risk"] is False, exp
    assert steps_of(doc)["check"]["predicted"] is False
    arts = {a["path"]: a for a in doc["plans"][0]["artifacts"]}
    pte = next(a for p, a in arts.items() if p.endswith(".pte"))
    assert pte["breach"] is False and pte["runtime_memory"]["point"] > pte["size"]["point"]
    if name == "gpt2":
        assert within(pte["size"], RECORDED_GPT2["pte"]) and within(exp["peak_memory"], RECORDED_GPT2["peak"])
        assert within(arts["gpt2.bpte"]["size"], RECORDED_GPT2["bpte"])


def test_causal_lm_archs_every_target_is_planned():
    """tests/resources/pipelines/e2e/causal-lm-archs.yaml: one prediction per architecture target, each
    with that target's options (qwen3-8da4w smaller than qwen3), all inside the 16 MB gate."""
    doc = plan_json(SOURCE_DIR / "tests" / "resources" / "pipelines" / "e2e" / "causal-lm-archs.yaml")
    plans = {p["target"]: p for p in doc["plans"]}
    assert set(plans) == {"llama", "qwen2", "qwen3", "qwen3-8da4w", "gemma3_text", "phi3", "mistral", "gpt2",
                          "smollm3"}
    sizes = {}
    for name, p in plans.items():
        exp = {s["name"]: s for s in p["steps"]}["export"]
        assert exp["predicted"] and exp["estimator"] == "export_causal_lm", (name, exp)
        assert exp["model"]["max_seq_len"] == 64 and exp["breach"] is False, (name, exp)
        art = p["artifacts"][0]
        assert art["breach"] is False and 10_000 < art["size"]["point"] < 16_000_000, (name, art)
        sizes[name] = art["size"]["point"]
    assert plans["gemma3_text"]["steps"][0]["model"]["family"] == "gemma3_text"
    assert sizes["qwen3-8da4w"] < sizes["qwen3"]
    assert doc["breaches"] == 0
