#!/usr/bin/env python3
"""Which Hugging Face causal-LM architectures export_causal_lm exports and
checks: for each model_type, a tiny seeded config (transformers' defaults for
that architecture, shrunk: hidden 64, 2 layers, 4 heads, vocabulary 512),
export (int8 + XNNPACK, seq 32) then the numerical check against
transformers' eager model. Prints a Markdown table (status, max abs error,
reason of a refusal or failure) for the README.

usage: PYTHONPATH=python python bench/arch_sweep.py [--python PY] [--out DIR] [MODEL_TYPE...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT = ["llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi", "phi3", "gemma",
           "gemma2", "gemma3_text", "gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "stablelm", "starcoder2",
           "olmo", "olmo2", "granite", "cohere", "smollm3", "deepseek_v3", "ernie4_5", "glm"]

SHRINK = {
    "hidden_size": 64, "n_embd": 64, "d_model": 64, "intermediate_size": 128, "ffn_dim": 128, "n_inner": 128,
    "num_hidden_layers": 2, "n_layer": 2, "num_layers": 2, "num_attention_heads": 4, "n_head": 4,
    "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512, "n_positions": 512,
    "head_dim": 16, "num_experts": 4, "num_local_experts": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
    "moe_intermediate_size": 64, "shared_expert_intermediate_size": 64, "first_k_dense_replace": 1,
    "kv_lora_rank": 32, "q_lora_rank": 32, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 16,
    "n_group": 1, "topk_group": 1, "rotary_dim": 8, "partial_rotary_factor": 0.5,
    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "sliding_window": None,
}


def tiny_config(model_type):
    from transformers import AutoConfig

    base = AutoConfig.for_model(model_type).to_dict()
    d = {"model_type": model_type}
    for k, v in SHRINK.items():
        if k in base:
            d[k] = v
    if model_type == "gpt_neox":
        d["rotary_pct"] = 0.25
    lt = base.get("layer_types")
    if isinstance(lt, list) and lt:
        d["layer_types"] = [lt[i % len(lt)] for i in range(2)]
        if any("sliding" in str(t) for t in lt):
            d["sliding_window"] = 64
    if base.get("mlp_only_layers") is not None:
        d["mlp_only_layers"] = []
    return d


def run(cmd, env, timeout):
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        return r.returncode, r.stdout + r.stderr, time.perf_counter() - t
    except subprocess.TimeoutExpired:
        return 124, "timed out", time.perf_counter() - t


def last_error(text):
    lines = [ln for ln in text.splitlines() if ": error: " in ln]
    return lines[-1].split(": error: ", 1)[1][:160] if lines else text.strip().splitlines()[-1][:160]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--out", default=None)
    p.add_argument("--quant", default="int8")
    p.add_argument("types", nargs="*")
    a = p.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="arch-sweep-")
    env = dict(os.environ)
    rows = []
    for mt in a.types or DEFAULT:
        d = os.path.join(out, mt)
        os.makedirs(d, exist_ok=True)
        try:
            cfg = tiny_config(mt)
        except Exception as e:  # the installed transformers does not know it
            rows.append((mt, "unknown", "", "", f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
            continue
        cj = os.path.join(d, "config.json")
        with open(cj, "w") as f:
            json.dump(cfg, f)
        code, text, dt = run([a.python, "-m", "pteflow_steps.export_causal_lm", "--config-json", cj, "--quant",
                              a.quant, "--max-seq-len", "32", "--out", os.path.join(d, "model.pte")], env, 1200)
        if code != 0:
            rows.append((mt, "refused" if "Traceback" not in text else "crashed", f"{dt:.0f}", "", last_error(text)))
            continue
        code, text, dt2 = run([a.python, "-m", "pteflow_steps.check", "--export-result",
                               os.path.join(d, "model.export_causal_lm.json"), "--atol", "0.02", "--rtol", "0.02",
                               "--decode-tokens", "16"], env, 1200)
        err = ""
        try:
            with open(os.path.join(d, "model.export_causal_lm.check.json")) as f:
                err = "%.2g" % json.load(f)["programs"][0]["errors"]["max_abs_error"]
        except Exception:
            pass
        rows.append((mt, "pass" if code == 0 else "check failed", f"{dt:.0f}", err,
                     "" if code == 0 else last_error(text)))
        print(rows[-1], file=sys.stderr, flush=True)
    print("| model_type | result | export s | max abs error | reason |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
