"""Issue 16 through the real binary: seeded tiny configs of the architectures
named by the issue that test_causal_lm_hub.py does not run (qwen2, qwen3 8da4w,
phi3, mistral, smollm3 with an int4 embedding) exported by pteflow_steps.export_causal_lm (transformers' own modeling
code, int8 + XNNPACK; qwen3 also 8da4w), checked numerically against
transformers' eager model, inside the intervals `plan` predicted; a program
that generates from its metadata methods alone; and architectures the step
cannot export refused with a named reason, never a traceback."""
import json
import subprocess
import textwrap

import jsonschema
import pytest

from conftest import PYTHON, SOURCE_DIR, assert_prediction_holds, manifest_of, run_pteflow

ARCHS = SOURCE_DIR / "tests" / "resources" / "pipelines" / "e2e" / "causal-lm-archs.yaml"
SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
STEPS_PATH = str(SOURCE_DIR / "python")
# llama, qwen3, gemma3_text and gpt2 run through the binary in test_causal_lm_hub.py, in their real layouts
# (SmolLM2-135M is a llama; Qwen3-0.6B, Gemma 3 1B, GPT-2 124M), so here only the rest, to keep the suite
# short; every target of the pipeline is planned in test_plan.py and `pteflow run --target` runs any of them.
TARGETS = ["qwen2", "qwen3-8da4w", "phi3", "mistral", "smollm3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each target run once; the tests below read the results."""
    done = {}

    def get(target):
        if target not in done:
            out = tmp_path_factory.mktemp(target) / "out"
            r = run_pteflow("run", ARCHS, "--target", target, "--python", PYTHON, "--out", out, timeout=1500)
            done[target] = (out, r)
        return done[target]

    return get


@pytest.mark.parametrize("target", TARGETS)
def test_architecture_exports_checks_and_matches_its_prediction(runs, target):
    out, r = runs(target)
    assert r.code == 0, r
    assert "Traceback" not in r.err
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    assert m["status"] == "passed" and m["all_gates_passed"] is True
    steps = {s["name"]: s for s in m["steps"]}
    res = steps["export"]["result"]
    arch = target.split("-")[0]
    assert res["model_type"] == arch
    assert res["source"]["kind"] == "causal_lm" and res["source"]["random_config"] == arch
    assert res["quantization"]["mode"] == ("8da4w" if target.endswith("8da4w") else "int8")
    assert res["quantization"]["embedding"]["mode"] == {"gemma3_text": "int8", "smollm3": "int4"}.get(target, "none")
    assert res["delegation"]["backends"].get("XnnpackBackend", 0) >= 1
    md = res["metadata"]
    assert md["get_max_seq_len"] == 64 and md["get_max_context_len"] == 64
    assert md["get_vocab_size"] == 512 and md["get_eos_ids"] == [2] and md["get_bos_id"] == 1
    assert md["use_kv_cache"] is True and md["enable_dynamic_shape"] is True
    # Every metadata method is a method of the program.
    assert set(md) <= set(res["methods"]) and "forward" in res["methods"]
    check = steps["check"]["result"]
    assert check["pass"] is True
    errors = check["programs"][0]["errors"]
    assert errors["max_abs_error"] <= errors["bound"] and errors["compared_values"] > 0
    assert check["programs"][0]["timing"]["decode_tokens"] == 24
    arts = {a["path"]: a for a in m["artifacts"]}
    assert "XnnpackBackend" in arts["model.pte"]["structure"]["backends"]
    assert_prediction_holds(steps["export"], arts, admitted=True)


def test_program_generates_from_its_metadata_alone(runs, tmp_path):
    """Only the .pte: the runner reads get_max_seq_len, get_max_context_len, get_eos_ids... from the
    program's own constant methods and generates until the context is full."""
    out, r = runs("qwen2")
    assert r.code == 0, r
    pte = tmp_path / "alone.pte"
    pte.write_bytes((out / "model.pte").read_bytes())       # nothing else beside it
    g = subprocess.run([PYTHON, "-m", "pteflow_steps.generate", "--pte", str(pte), "--prompt-ids",
                        ",".join(str(i) for i in range(3, 3 + 60)), "--max-new-tokens", "50", "--json"],
                       capture_output=True, text=True, env={"PYTHONPATH": STEPS_PATH, "PATH": "/usr/bin:/bin"},
                       timeout=600)
    assert g.returncode == 0, g.stderr
    res = json.loads(g.stdout.strip().splitlines()[-1])
    md = res["metadata"]
    assert md["get_max_context_len"] == 64 and md["get_max_seq_len"] == 64
    # 60 prompt tokens in a context of 64: prefill, then 4 decode calls fill it, and the 5th token is
    # the last one the context allows (or an EOS stopped it earlier).
    assert res["timing"]["stopped_by"] in ("context", "eos")
    assert 1 <= len(res["tokens"]) <= 5
    assert all(0 <= t < md["get_vocab_size"] for t in res["tokens"])


REFUSALS = {
    "t5": ('{"model_type": "t5", "vocab_size": 128, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, '
           '"num_heads": 4, "is_encoder_decoder": true}', "encoder-decoder"),
    "unknown": ('{"model_type": "no_such_architecture", "vocab_size": 128}', "not known to the installed transformers"),
    "remote-code": ('{"model_type": "llama", "auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}, '
                    '"vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, '
                    '"num_attention_heads": 4}', "trust_remote_code"),
    "bert": ('{"model_type": "bert", "vocab_size": 128, "hidden_size": 32, "num_hidden_layers": 1, '
             '"num_attention_heads": 4, "intermediate_size": 64}', "could not trace model_type 'bert'"),
    "sliding-window": ('{"model_type": "gemma3_text", "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, '
                       '"num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, '
                       '"sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"], '
                       '"pad_token_id": 0}', "sliding-window attention over 16 tokens"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_unsupported_architecture_is_refused_with_a_reason(tmp_path, name):
    config, reason = REFUSALS[name]
    (tmp_path / "config.json").write_text(config)
    pipe = tmp_path / "p.yaml"
    pipe.write_text(textwrap.dedent(f"""\
        version: 1
        name: refuse-{name}
        steps:
          - name: export
            run: ["${{python}}", "-m", "pteflow_steps.export_causal_lm", "--config-json", "${{pipeline.dir}}/config.json",
                  "--max-seq-len", "64", "--out", "${{out}}/model.pte"]
            env: {{ PYTHONPATH: "{STEPS_PATH}" }}
            limits: {{ memory: 3GiB, timeout: 10m }}
        artifacts:
          - {{ path: model.pte, kind: pte }}
        """))
    out = tmp_path / "out"
    r = run_pteflow("run", pipe, "--python", PYTHON, "--out", out, timeout=600)
    assert r.code == 1, r
    log = (out / "logs" / "export.log").read_text() if (out / "logs" / "export.log").exists() else r.err
    text = r.err + log
    assert reason in text, text[-3000:]
    assert "Traceback" not in text
    m = manifest_of(out)
    assert m["status"] == "failed"
    step = m["steps"][0]
    assert step["status"] == "failed" and step["exit_code"] == 1 and step["log"]["path"] == "logs/export.log"
    last = [ln for ln in log.splitlines() if ln.strip()][-1]
    assert last.startswith("pteflow_steps.export_causal_lm: error: ") and reason in last
