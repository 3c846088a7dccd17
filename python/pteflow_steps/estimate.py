"""pteflow estimator: predict an export step's .pte/.ptd sizes, its peak
memory and the runtime memory of what it writes, before anything runs.

usage: python -m pteflow_steps.estimate [--json] [--result FILE] [--model-dir DIR] -- -m pteflow_steps.STEP ARGS...

The arguments after "--" are a step's command line as pteflow would run it
(after "${python}"). The estimator reads them with the step's OWN
parse_args (the step modules import nothing heavy at the top), so it sees
exactly the options the step will see: defaults, --quant, --dtype,
--group-size, --embedding-quant, --max-seq-len, --layers, LoRA ranks. That is
why this is one module beside the steps rather than an --estimate flag in
each: one file holds the model and its constants, and a step's parser stays
the single source of its options. The model's shape comes from its
config.json (--model-dir, or the step's own --model-dir), from the random
configs of pteflow_steps.llama (mirrored here so no torch import is needed;
tests/cli/test_plan.py checks they agree), or, for export_module, from the
module class built on torch's meta device (no weights, no checkpoint needed).

Output (--json): {"estimable": bool, "step", "reason"?, "model", "artifacts":
[{"path", "kind", "size": I, "runtime_memory": I?}], "peak_memory": I,
"notes": [...]}, where I = {"low", "point", "high"} in bytes. Exit 0 when the
JSON was written (estimable or not), 2 for bad usage of the estimator itself.
Non-export steps (check, make_checkpoint...) are "estimable": false.

THE MODEL
=========
Size of a .pte = sum over tensors of (elements x bytes per element after
quantization, as quant.py and XNNPACK store them) + the constants the model
adds (norms, RoPE tables, position ids) + a program overhead (flatbuffer,
delegate headers, 128-byte segment alignment) per program and per layer.
Bytes per element, from the Llama-3.2-1B-shaped exports (both reproduced to
the byte by this model, see MEASURED):
  fp32 4, bf16 2;
  int8 linear (int8 per-channel weights): 1 + 4 bytes (fp32 scale) per row;
  8da4w linear: 0.5 + 2 bytes (bf16 scale, XNNPACK qb4w) per group;
  int8 embedding: 1 + 4 bytes per row; int4 embedding: 0.5 + 4 bytes per 32;
  zero points are not stored (symmetric); KV caches are memory-planned, not stored.

Peak memory of the export step (resident memory of the export process, what
/usr/bin/time, the watchdog and pteflow's maxrss_bytes measure) =
  BASE[step] (the process after importing torch, executorch, XNNPACK, torchao
  and, for the encoder, transformers) + K[path] x W, where W is the bytes of
  the model's weights as they sit in memory during export (torchao keeps int4
  weights unpacked in int8: 1 byte per element + fp32 scales per group). On
  the streamed path (llm_source.build quantizes layer by layer) the float
  model never exists whole; without quantization (or with bf16/LoRA) W is
  the whole float model, with the smaller K_FLOAT measured on MiniLM.
Runtime memory of a .pte = the file's program and segment data + the planned
memory of its method (KV caches, activations at the longest sequence).

Intervals: each figure carries its own relative spread (SPREAD) around the
point, wide enough to contain every measurement in MEASURED; for sizes the
spread is tight (weights are counted exactly), for peaks it is +-15% plus a
fixed term for the noise of a busy 2-core host.

WHERE EACH CONSTANT COMES FROM
==============================
All measured with torch 2.15.0 / executorch 1.5.1 on a 2-core host; "tiny"
runs by `python -m pteflow_steps.<step>` under /usr/bin/time -v with the
options of pipelines/*.yaml and tests/cli/test_steps.py (bench/bench_predict.py
repeats them); the 1B figures are the README's (bench_export.sh,
bench_pipeline_1b.py).

| constant                 | value           | measured on                                                   |
|--------------------------|-----------------|---------------------------------------------------------------|
| bytes per element        | see THE MODEL   | 1B int8+int4 emb 1,402,876,416 B, 8da4w 860,216,832 B, int8+int8 emb 1,501,890,048 B: reproduced to 992 B |
| OVERHEAD_LLM             | 6,500 + 24,800/layer | tiny 1 layer (247,296 B), demo 2 layers (331,008 B), 1B 16 layers |
| OVERHEAD_LLM_PORTABLE    | 6,000 + 16,600/layer | tiny fp32 without XNNPACK, 2 layers (651,072 B)          |
| OVERHEAD_ENCODER         | 20,000 + 12,000/layer | MiniLM fp32 (89,947,008 B) and int8 (58,195,328 B), seq 128 |
| OVERHEAD_MODULE          | 4,500           | SmallCNN checkpoint (26,024 B)                                 |
| OVERHEAD_LORA_PTE, _ADAPTER | 6,000 + 16,800/layer, 1,050/adapter | lora.yaml: 48,432 B and 66,944 B          |
| OVERHEAD_PTD, KEY_BYTES  | 4,096, 250/key  | lora.yaml base_weights.ptd (619,648 B)                         |
| BASE_PEAK                | 885-1000 MiB    | peak RSS of the tiny exports: 891-936 MiB; MiniLM 1117-1121 MiB |
| K_QUANT                  | 2.63            | 1B int8 4855 MiB, 8da4w 5141 MiB (2.67 and 2.55 alone), before the memory levers: used when they are off (PTEFLOW_EXPORT_LOW_MEMORY=0, no XNNPACK) |
| K_LLM_FLOAT_LAYER, K_LLM_LOWER, K_LLM_EMIT | 0.4, 1.26, 1.58 | export_llm's stages with the levers (PTEFLOW_DEBUG_MEMORY=1), 1B int8 + int4 emb: build 2478, lower 2775, to_executorch 3021 MiB |
| K_FLOAT                  | 1.4             | MiniLM fp32 (weights 87 MiB); weakly constrained              |
| planned activations      | llm_activation_bytes, encoder 3.6 x seq x hidden x 4 + 2 x heads x seq^2 x 4 | `pteflow inspect` of the tiny Llamas, MiniLM seq 16/128, the 1B shape with 1 layer (271,059,008 B) |
| K_QUANT check            | 2.63            | 1B shape, 1 layer, int8 + int4 emb, seq 512: 2453 MiB measured, 2480 predicted |

export_causal_lm (transformers' own modeling code; bench/bench_causal_lm.py --stages, which also
prints the prediction error of every row). The model's shape is transformers' causal LM built from
config.json on the meta device (GPT-2's Conv1D counted as the nn.Linear the step makes of it), so
every architecture transformers knows is counted the same way. Random checkpoints store identical
tensors once (zero biases, unit norms: GPT-2 124M 0.16% smaller than its tensors), real ones do not;
the sizes below are of random checkpoints and the model counts every tensor.

| constant                 | value           | measured on                                                   |
|--------------------------|-----------------|---------------------------------------------------------------|
| OVERHEAD_CAUSAL_LM       | 22,000 + 24,200/layer | tiny llama/qwen2/phi3/mistral/smollm3 (2 layers, 69,952-70,464 B), SmolLM2-135M 30 layers (747,136 B) |
| OVERHEAD_CAUSAL_LM_ARCH  | gpt2 -8,700, qwen3 +2,600, gemma3_text +9,100 per layer | the tiny exports of those (52,736, 75,456, 88,444 B) |
| sizes, all               | -               | GPT-2 124M int8 281,921,988 B (+0.13%), SmolLM2 int8+int8 emb 164,694,656 B (+0.00%), Qwen3 2 layers 48,483,584 B (+0.03%), Gemma 3 2 layers 72,852,736 B (+0.05%), tiny +0.01..+0.14% |
| OVERHEAD_BUNDLE(_CASE)   | 400, 100/case   | GPT-2 .bpte 285,139,296 B = .pte + 2 x (8 x 16 + 8 x 50257 x 4) + 604 |
| BASE_PEAK causal         | 1010 MiB        | tiny exports 998-1023 MiB                                      |
| K_CAUSAL_CKPT            | 0.86 x checkpoint | build stage: GPT-2 fp32 1884 MiB; SmolLM2 bf16 1546 (predicted 1744), Gemma 3 2 layers 1280 (1354) |
| K_CAUSAL_LOWER, _LAYER_SEQ2 | 1.35 x Q + 11.9 x L x S^2 x 4 | lower stage: SmolLM2 (30 layers, seq 1024) 2652 MiB, GPT-2 (12 layers, no bundle or ETRecord) 1946 MiB; check: Qwen3 2 layers 1115 (1096), Gemma 3 2 layers 1116 (1128) |
| K_CAUSAL_ETRECORD        | 2.93 x Q        | GPT-2 --etrecord: to_executorch stage 2734 vs 1946 MiB without  |
| K_CAUSAL_BUNDLE          | 3.54 x .pte     | GPT-2 --bundle: serialize stage 3686 MiB (the run's peak)        |
| K_CAUSAL_SCORES          | 3.5             | planned memory, `pteflow inspect`: tiny llama 369,280 B, tiny GPT-2 426,368, Qwen3 2 layers 82,317,440, GPT-2 478,482,880, SmolLM2 428,319,744 |

Why stages and not one sum for this step: PTEFLOW_DEBUG_MEMORY=1 shows the float model's peak
(loading) and the lowering's peak at different times (the float model is deleted before lowering), and
a BundledProgram's serialization on top of what lowering left; a sum of the three over-predicts every
measured run, the largest stage matches them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from typing import Dict, List, Optional

MiB = 1024 * 1024

# ---------------------------------------------------------------------------
# Measured constants. Each names the measurement it comes from (MEASURED below).
# ---------------------------------------------------------------------------

# Program overhead of a .pte beyond its tensors: flatbuffer, XNNPACK blob
# headers and graphs, segment alignment. bytes = A + B x layers.
OVERHEAD_LLM = (6_500, 24_800)         # XNNPACK: tiny 1 layer 30,976 B, demo 2 layers 55,808 B, 1B 16 layers 404,992 B
OVERHEAD_LLM_PORTABLE = (6_000, 16_600)  # no XNNPACK: tiny 2 layers 39,232 B
OVERHEAD_ENCODER = (20_000, 12_000)    # MiniLM fp32 and int8, 6 layers: about 82,000 and 98,000 B
OVERHEAD_MODULE = 4_500                # SmallCNN: 4,352 B
OVERHEAD_LORA_PTE = (6_000, 16_800)    # LoRA base program, 2 layers: 39,728 B
OVERHEAD_LORA_ADAPTER = 1_050          # per adapted linear in the LoRA program: 4 adapters, 4,176 B
OVERHEAD_PTD = 4_096                   # FlatTensor header + key table (per key: KEY_BYTES)
KEY_BYTES = 250

# Export peak: the step's process after its imports (RSS), per step.
BASE_PEAK = {
    "export_llm": 905 * MiB,       # tiny exports (int8, 8da4w, bf16, fp32; 1-2 layers): 895-921 MiB
    "export_lora": 925 * MiB,      # LoRA pipeline export (two tiny programs): 936 MiB
    "export_encoder": 1000 * MiB,  # + transformers; MiniLM fp32/int8 seq 16/128: 1117-1121 MiB with W
    "export_module": 885 * MiB,    # SmallCNN: 891 MiB
}
# Multiples of the in-memory weight bytes W at the peak (to_executorch/serialize
# holds the edge program, the XNNPACK blobs and the serialized program at once).
K_QUANT = 2.63    # 1B int8 (4855 MiB, W 1481 MiB) and 8da4w (5141 MiB, W 1665 MiB): 2.67 and 2.55
# export_llm with its memory levers (XNNPACK, quantized, fp32; see llm_low_memory_stages), measured with
# PTEFLOW_DEBUG_MEMORY=1 on the 1B shape int8 + int4 embedding, seq 512 (MEASURED):
K_LLM_FLOAT_LAYER = 0.4   # build: 2478 MiB (Q 1481 MiB, the last layer's float32 232 MiB replacing its quantized form)
K_LLM_LOWER = 1.26        # lower: 2775 MiB with Q 1481 MiB
K_LLM_EMIT = 1.58         # to_executorch: 3021 MiB (the step's peak) with a 1,402,876,416-byte program
K_FLOAT = 1.4     # MiniLM fp32 (W 87 MiB): the tiny exports cannot separate it from BASE; an fp32
                  # 1B-class export is an extrapolation (see the README's Predictions section)
# export_causal_lm (transformers' modeling code, whole float32 model loaded, then quantized in place).
BASE_PEAK["export_causal_lm"] = 1010 * MiB  # + transformers; tiny configs int8/8da4w seq 64: 998-1023 MiB
# Peak of each stage of export_causal_lm (causal_lm_peak_stages), from PTEFLOW_DEBUG_MEMORY=1 runs
# (bench/bench_causal_lm.py --stages; MEASURED). F = float32 weights, C = checkpoint file bytes,
# Q = weights as quantized in memory, L = layers, S = --max-seq-len, P = the .pte's size.
K_CAUSAL_CKPT = 0.86        # build: BASE + F + 0.86 C (the checkpoint's pages stay mapped while it loads):
                            # GPT-2 fp32 checkpoint 1884 MiB (fits); SmolLM2 bf16 1546 (+12%), Gemma 3 2 layers 1280 (+5%)
K_CAUSAL_LOWER = 1.35      # lower: BASE + 1.35 Q + 11.9 L S^2 4 bytes (per-layer masks and copies of seq x seq
K_CAUSAL_LAYER_SEQ2 = 11.9  # tensors while lowering): SmolLM2 (30 layers, seq 1024) 2652 MiB, GPT-2 (12) 1946 MiB
K_CAUSAL_ETRECORD = 2.93    # --etrecord: + 2.93 Q (the edge program kept for the record): GPT-2 2734 vs 1946 MiB
K_CAUSAL_BUNDLE = 3.54      # --bundle: + 3.54 P while the BundledProgram is serialized: GPT-2 3686 vs 2734 MiB
K_CAUSAL_SCORES = 3.5       # planned memory: KV + logits + 3.5 x heads x T x S x 4 (attention scores, softmax)
OVERHEAD_CAUSAL_LM = (22_000, 24_200)        # tiny 2 layers about 70,200 B; SmolLM2 30 layers 747,136 B
OVERHEAD_CAUSAL_LM_ARCH = {"gpt2": -8_700, "qwen3": 2_600, "gemma3_text": 9_100}  # per layer, tiny 2-layer exports
OVERHEAD_CAUSAL_LM_PORTABLE = (6_000, 16_600)  # no XNNPACK: not measured for this step; export_llm's
OVERHEAD_BUNDLE = 400                        # GPT-2 .bpte - .pte - 2 cases' tensors = 604 B
OVERHEAD_BUNDLE_CASE = 100
# Relative spreads: (low, high) factors applied to the point.
SPREAD_SIZE = (0.97, 1.03)
SPREAD_SIZE_SMALL = 16_000             # +- bytes for programs whose overhead dominates
SPREAD_PEAK = (0.85, 1.15)
SPREAD_PEAK_FIXED = 100 * MiB          # busy-host noise in the import baseline
SPREAD_RUNTIME = (0.8, 1.25)           # planned memory: tiny Llamas -12%..+3%, MiniLM +1..+2%, 1B 1 layer +20%
SPREAD_RUNTIME_MODULE = (0.5, 3.0)     # a generic module's activations are not modelled (input bytes only)

MEASURED = [
    # (what, figure, source)
    ("Llama-3.2-1B shape, int8 linears + int4 embedding, seq 512: .pte", 1_402_876_416,
     "README Measured figures / bench/bench_export.sh"),
    ("same, peak RSS before the memory levers (PTEFLOW_EXPORT_LOW_MEMORY=0 today)", 4855 * MiB,
     "README / bench/bench_export.sh"),
    ("same, peak RSS with the memory levers (to_executorch stage)", 3021 * MiB,
     "README Big models on small machines / PTEFLOW_DEBUG_MEMORY=1"),
    ("Llama-3.2-1B shape, 8da4w + int4 embedding, seq 512: .pte", 860_216_832, "README / bench/bench_export.sh"),
    ("same, peak RSS before the memory levers", 5141 * MiB, "README / bench/bench_export.sh"),
    ("same, peak RSS with the memory levers", 2865 * MiB, "README Big models on small machines / /usr/bin/time"),
    ("pipelines/llama3.2-1b.yaml end to end (bf16 checkpoint): .pte", 1_402_614_016,
     "README / bench/bench_pipeline_1b.py"),
    ("same, export cgroup peak before the memory levers", 4777 * MiB, "README / bench/bench_pipeline_1b.py"),
    ("int8 linears + int8 embedding (1B shape): .pte", 1_501_890_048, "pipelines/llama3.2-1b.yaml comment"),
    ("Llama-3.2-3B shape, 8da4w + int4 embedding, seq 512: .pte", 2_055_257_728, "bench/bench_big_models.py"),
    ("same, export peak RSS", 6_258_819_072, "bench/bench_big_models.py"),
    ("Llama-3.1-8B shape, 8da4w + int4 embedding, seq 512: .pte", 4_552_102_912, "bench/bench_big_models.py"),
    ("same, export peak RSS", 12_461_416_448, "bench/bench_big_models.py"),
    ("export_causal_lm GPT-2 124M random checkpoint, int8, seq 1024, --bundle --etrecord: .pte", 281_921_988,
     "bench/bench_causal_lm.py --only full --stages"),
    ("same, .bpte", 285_139_296, "bench/bench_causal_lm.py"),
    ("same, peak RSS (serialize stage)", 3686 * MiB, "bench/bench_causal_lm.py --stages"),
    ("export_causal_lm SmolLM2-135M bf16 checkpoint, int8 + int8 embedding, seq 1024: .pte", 164_694_656,
     "bench/bench_causal_lm.py --stages (with the padding_idx fix, see the report)"),
    ("same, peak RSS (lower stage)", 2652 * MiB, "bench/bench_causal_lm.py --stages"),
]

# pteflow_steps.llama.RANDOM_CONFIGS, the fields that set tensor shapes (no torch import here).
RANDOM_CONFIGS = {
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=None, tie_word_embeddings=False),
    "llama3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama3.2-3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                        num_attention_heads=24, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    "llama3.1-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
}

EXPORT_STEPS = ("export_llm", "export_encoder", "export_lora", "export_module", "export_causal_lm")


class EstimateError(Exception):
    """The estimate cannot be made (said in one line)."""


def interval(point: float, spread=(1.0, 1.0), fixed: float = 0.0) -> Dict[str, int]:
    p = max(0.0, point)
    return {"low": int(max(0.0, p * spread[0] - fixed)), "point": int(round(p)), "high": int(math.ceil(p * spread[1] + fixed))}


def size_interval(point: float) -> Dict[str, int]:
    return interval(point, SPREAD_SIZE, SPREAD_SIZE_SMALL)


# ---------------------------------------------------------------------------
# Bytes per tensor after quantization (quant.py + what XNNPACK serializes)
# ---------------------------------------------------------------------------

def linear_bytes(out_f: int, in_f: int, quant: str, group_size: int, float_bytes: int) -> int:
    n = out_f * in_f
    if quant == "int8":
        return n + 4 * out_f
    if quant == "8da4w":
        if group_size <= 0 or in_f % group_size:
            return n * float_bytes            # quant._filter leaves it in float
        return n // 2 + 2 * (n // group_size)
    return n * float_bytes


def linear_mem_bytes(out_f: int, in_f: int, quant: str, group_size: int, float_bytes: int) -> int:
    """The same weight as torchao holds it during export (int4 unpacked to int8, fp32 scales, int8 zero points)."""
    n = out_f * in_f
    if quant == "int8":
        return n + 5 * out_f
    if quant == "8da4w" and group_size > 0 and in_f % group_size == 0:
        return n + 5 * (n // group_size)
    return n * float_bytes


def embedding_bytes(rows: int, cols: int, mode: str, float_bytes: int) -> int:
    n = rows * cols
    if mode == "int8":
        return n + 4 * rows
    if mode == "int4":
        return n // 2 + 4 * (n // 32)
    return n * float_bytes


def embedding_mem_bytes(rows: int, cols: int, mode: str, float_bytes: int) -> int:
    n = rows * cols
    if mode == "int8":
        return n + 5 * rows
    if mode == "int4":
        return n + 5 * (n // 32)
    return n * float_bytes


# ---------------------------------------------------------------------------
# Model shapes
# ---------------------------------------------------------------------------

def llama_dims(model_dir: Optional[str], random_config: Optional[str], layers: int) -> dict:
    if model_dir:
        path = os.path.join(model_dir, "config.json")
        try:
            with open(path, "r", encoding="utf-8") as f:
                hf = json.load(f)
        except OSError as e:
            raise EstimateError(f"cannot read '{path}': {e.strerror}") from None
        except ValueError as e:
            raise EstimateError(f"'{path}' is not JSON: {e}") from None
        if hf.get("model_type", "llama") != "llama":
            raise EstimateError(f"model_type '{hf.get('model_type')}' in '{path}' is not a Llama-family model")
        try:
            d = dict(vocab_size=int(hf["vocab_size"]), hidden_size=int(hf["hidden_size"]),
                     intermediate_size=int(hf["intermediate_size"]), num_hidden_layers=int(hf["num_hidden_layers"]),
                     num_attention_heads=int(hf["num_attention_heads"]),
                     num_key_value_heads=int(hf.get("num_key_value_heads") or hf["num_attention_heads"]),
                     head_dim=hf.get("head_dim"), tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)))
        except (KeyError, TypeError, ValueError) as e:
            raise EstimateError(f"'{path}' lacks a usable {e} for a Llama model") from None
    else:
        d = dict(RANDOM_CONFIGS[random_config or "tiny"])
    if layers:
        d["num_hidden_layers"] = int(layers)
    if not d.get("head_dim"):
        d["head_dim"] = d["hidden_size"] // d["num_attention_heads"]
    return d


def llama_tensors(d: dict, lora_rank: int = 0, lora_targets=("q_proj", "v_proj")):
    """[(name, kind, out, in)] of the package's Llama: kind linear / embedding / norm / lora."""
    h, i, hd = d["hidden_size"], d["intermediate_size"], d["head_dim"]
    nh, nkv, v = d["num_attention_heads"], d["num_key_value_heads"], d["vocab_size"]
    t = [("embed_tokens", "embedding", v, h)]
    for _ in range(d["num_hidden_layers"]):
        for name, o, n in (("q_proj", nh * hd, h), ("k_proj", nkv * hd, h), ("v_proj", nkv * hd, h),
                           ("o_proj", h, nh * hd), ("gate_proj", i, h), ("up_proj", i, h), ("down_proj", h, i)):
            t.append((name, "linear", o, n))
            if lora_rank and name in lora_targets:
                t.append((name + ".lora_a", "lora", lora_rank, n))
                t.append((name + ".lora_b", "lora", o, lora_rank))
        t.append(("norm", "norm", h, 1))
        t.append(("norm", "norm", h, 1))
    t.append(("norm", "norm", h, 1))
    t.append(("lm_head", "lm_head", v, h))
    return t


def parameter_count(tensors, tied: bool) -> int:
    return sum(o * n for name, kind, o, n in tensors if not (kind == "lm_head" and tied))


# ---------------------------------------------------------------------------
# Per step
# ---------------------------------------------------------------------------

def estimate_llm(a) -> dict:
    d = llama_dims(a.model_dir, a.random_config, a.layers)
    fb = 2 if a.dtype == "bf16" else 4
    quant, emb_q, gs, seq = a.quant, a.embedding_quant, a.group_size, a.max_seq_len
    tensors = llama_tensors(d)
    tied = d["tie_word_embeddings"]
    size = mem = 0
    for name, kind, o, n in tensors:
        if kind == "embedding":
            size += embedding_bytes(o, n, emb_q, fb)
            mem += embedding_mem_bytes(o, n, emb_q, fb)
        elif kind in ("linear", "lm_head"):
            lb = linear_bytes(o, n, quant, gs, fb)
            if kind == "lm_head" and tied and quant == "none" and emb_q == "none":
                # One parameter in the graph: the table stays a constant for the embedding and XNNPACK packs
                # its own copy for the linear; without XNNPACK it is stored once.
                size += lb if a.xnnpack else 0
                continue
            size += lb
            mem += linear_mem_bytes(o, n, quant, gs, fb)
        else:
            size += o * n * 4 if kind == "norm" else o * n * fb
            mem += o * n * 4
    L = d["num_hidden_layers"]
    # RoPE cos/sin [seq, head_dim] in the model dtype and the int64 position ids: constants of the program.
    size += 2 * seq * d["head_dim"] * fb + 8 * seq
    ov = OVERHEAD_LLM if a.xnnpack else OVERHEAD_LLM_PORTABLE
    pte = size + ov[0] + ov[1] * L
    # Streamed quantization (llm_source.build): the float32 embedding table is in memory while the
    # layers are quantized; otherwise the float model exists whole before quantizing.
    streamed = quant != "none" and a.dtype == "fp32"
    stages = None
    if streamed:
        w = mem   # the float32 embedding table is quantized (or kept) before export starts
        k = K_QUANT
    else:
        w = sum(o * n for _, kind, o, n in tensors if not (kind == "lm_head" and tied)) * fb
        if quant != "none" or emb_q != "none":
            w += mem
        k = K_FLOAT
    peak = BASE_PEAK["export_llm"] + k * w
    if streamed and a.xnnpack and os.environ.get("PTEFLOW_EXPORT_LOW_MEMORY", "1") != "0":
        stages = llm_low_memory_stages(d, tensors, quant, emb_q, gs, w, pte)
        peak = max(stages.values())
    kv = 2 * L * d["num_key_value_heads"] * seq * d["head_dim"] * fb
    planned = kv + llm_activation_bytes(d, seq, fb)
    model_extra = {"peak_by_stage": {k2: int(v) for k2, v in stages.items()}} if stages else {}
    return {
        "model": {"family": "llama", "parameters": parameter_count(tensors, tied), "layers": L, **model_extra,
                  "hidden_size": d["hidden_size"], "vocab_size": d["vocab_size"], "tied_embeddings": tied,
                  "quant": quant, "embedding_quant": emb_q, "group_size": gs, "dtype": a.dtype, "max_seq_len": seq,
                  "weight_bytes_in_memory": int(w)},
        "artifacts": [artifact(a.out, "pte", pte, planned)],
        "peak_memory": interval(peak, SPREAD_PEAK, SPREAD_PEAK_FIXED),
    }


def llm_low_memory_stages(d: dict, tensors, quant: str, emb_q: str, gs: int, w: int, pte: int) -> dict:
    """Resident peak of each stage of export_llm with its memory levers (quantized while it loads,
    lowering that keeps one copy of each weight; python/pteflow_steps/lowering.py). w = the weights
    as torchao holds them, pte = the program's size. The step's peak is the largest."""
    base = BASE_PEAK["export_llm"]
    h, v = d["hidden_size"], d["vocab_size"]
    tied = d["tie_word_embeddings"]
    layer = [(o, n) for _, kind, o, n in tensors if kind == "linear"]
    per_layer = layer[: len(layer) // max(1, d["num_hidden_layers"])]
    float_layer = 4 * sum(o * n for o, n in per_layer)
    table = 4 * v * h
    q_head = linear_mem_bytes(v, h, quant, gs, 4)
    q_emb = embedding_mem_bytes(v, h, emb_q, 4)
    stages = {
        # the float32 table as it is written, then its quantized copies (a tied lm_head's and its own)
        "build_embedding": base + table + (q_head if tied else 0) + (q_emb if emb_q != "none" else 0),
        # every layer quantized but the last, which is in float32 while it is quantized
        "build_layers": base + (w - (0 if tied else q_head)) + K_LLM_FLOAT_LAYER * float_layer,
        # lowering: the weights, the delegate data as it is made (each weight released once its
        # partition's is), and ExecuTorch's graph copies
        "lower": base + K_LLM_LOWER * w,
        # to_executorch: the program's constants and delegate data gathered for emission
        "to_executorch": base + K_LLM_EMIT * pte,
    }
    if not tied:
        # an untied lm_head is the last tensor written: float32 whole, with every layer quantized
        stages["build_lm_head"] = base + w - q_head + table + q_head
    return stages


def llm_activation_bytes(d: dict, seq: int, fb: int) -> int:
    """Planned activations of one forward over `seq` tokens (the dynamic upper bound): the float32
    logits [seq, vocab], the attention scores [heads, seq, seq] and 6.5 hidden-sized [seq, hidden]
    tensors between the delegated blocks (XNNPACK keeps its own intermediates out of the plan).
    Measured (KV caches added): demo -4%, tiny 1 layer +3%, LoRA +2.5%, bf16 -2%, portable -12%;
    the 1B shape with 1 layer +20% (there the scores stay inside XNNPACK; the logits, 97% of it, fit)."""
    logits = seq * d["vocab_size"] * 4
    scores = d["num_attention_heads"] * seq * seq * 4
    hidden = int(6.5 * seq * d["hidden_size"] * fb)
    return logits + scores + hidden


def artifact(path: str, kind: str, size: float, planned: Optional[float], spread=SPREAD_RUNTIME) -> dict:
    out = {"path": os.path.abspath(path), "kind": kind, "size": size_interval(size)}
    if planned is not None and kind == "pte":
        # Runtime: the whole file (program + segments) + the arenas; only the arenas are uncertain.
        out["planned_memory"] = interval(planned, spread)
        lo, hi = size_interval(size), interval(planned, spread)
        out["runtime_memory"] = {"low": lo["low"] + hi["low"], "point": lo["point"] + hi["point"],
                                 "high": lo["high"] + hi["high"]}
    return out


def estimate_lora(a) -> dict:
    d = llama_dims(a.model_dir, a.random_config, a.layers)
    seq = a.max_seq_len
    base = llama_tensors(d)
    lora = llama_tensors(d, a.lora_rank)
    tied = d["tie_word_embeddings"]
    L = d["num_hidden_layers"]
    base_w = sum(o * n for _, kind, o, n in base if not (kind == "lm_head" and tied)) * 4
    lora_w = sum(o * n for _, kind, o, n in lora if kind == "lora") * 4
    n_keys = sum(1 for _, kind, _, _ in base if kind != "lm_head" or not tied)
    rope = 2 * seq * d["head_dim"] * 4 + 8 * seq
    overhead = OVERHEAD_LORA_PTE[0] + OVERHEAD_LORA_PTE[1] * L
    n_adapted = sum(1 for _, kind, _, _ in lora if kind == "lora") // 2
    ptd = base_w + OVERHEAD_PTD + KEY_BYTES * n_keys
    planned = 2 * L * d["num_key_value_heads"] * seq * d["head_dim"] * 4 + llm_activation_bytes(d, seq, 4)
    out_dir = a.out_dir
    arts = [artifact(os.path.join(out_dir, f"{a.name}_base.pte"), "pte", rope + overhead, planned),
            artifact(os.path.join(out_dir, f"{a.name}_lora.pte"), "pte",
                     rope + overhead + lora_w + OVERHEAD_LORA_ADAPTER * n_adapted, planned),
            artifact(os.path.join(out_dir, a.data_name + ".ptd"), "ptd", ptd, None)]
    # Two models built and exported one after the other; the .ptd bytes are held across both.
    w = base_w + lora_w + base_w
    return {"model": {"family": "llama", "parameters": parameter_count(lora, tied), "layers": L,
                      "lora_rank": a.lora_rank, "max_seq_len": seq, "weight_bytes_in_memory": int(w)},
            "artifacts": arts,
            "peak_memory": interval(BASE_PEAK["export_lora"] + K_FLOAT * w, SPREAD_PEAK, SPREAD_PEAK_FIXED)}


def estimate_encoder(a) -> dict:
    path = os.path.join(a.model_dir, "config.json")
    try:
        with open(path, "r", encoding="utf-8") as f:
            c = json.load(f)
    except OSError as e:
        raise EstimateError(f"cannot read '{path}': {e.strerror}") from None
    except ValueError as e:
        raise EstimateError(f"'{path}' is not JSON: {e}") from None
    try:
        v, h, L = int(c["vocab_size"]), int(c["hidden_size"]), int(c["num_hidden_layers"])
        i = int(c.get("intermediate_size", 4 * h))
        pos = int(c.get("max_position_embeddings", 512))
        types = int(c.get("type_vocab_size", 2))
    except (KeyError, TypeError, ValueError) as e:
        raise EstimateError(f"'{path}' lacks a usable {e} for a BERT-family encoder") from None
    seq = a.seq_len
    # Position and token-type lookups of a fixed-length input are constant-folded by export:
    # [seq, hidden] rows of each are stored instead of the tables (MiniLM seq 16 vs 128: +344,064 B).
    emb = v * h * 4 + 2 * seq * h * 4 + 2 * h * 4
    lin_shapes = [(h, h)] * 4 + [(i, h), (h, i)]
    size = emb
    mem = emb
    for _ in range(L):
        for o, n in lin_shapes:
            size += linear_bytes(o, n, a.quant, 0, 4) + 4 * o      # + bias
            mem += linear_mem_bytes(o, n, a.quant, 0, 4) + 4 * o
        size += 4 * h * 4                                         # two LayerNorms
        mem += 4 * h * 4
    overhead = OVERHEAD_ENCODER[0] + OVERHEAD_ENCODER[1] * L
    float_w = (v + pos + types) * h * 4 + L * (sum(o * n + o for o, n in lin_shapes) * 4 + 16 * h)
    w = float_w + (mem if a.quant != "none" else 0)
    heads = int(c.get("num_attention_heads", max(1, h // 64)))
    # fitted on MiniLM seq 16 (111,760 B) and 128 (2,228,816 B): +1% and +2%
    planned = int(3.6 * seq * h * 4) + 2 * heads * seq * seq * 4
    return {"model": {"family": c.get("model_type", "bert"), "parameters": int(float_w // 4), "layers": L,
                      "hidden_size": h, "quant": a.quant, "seq_len": seq, "weight_bytes_in_memory": int(w)},
            "artifacts": [artifact(a.out, "pte", size + overhead, planned)],
            "peak_memory": interval(BASE_PEAK["export_encoder"] + K_FLOAT * w, SPREAD_PEAK, SPREAD_PEAK_FIXED)}


def estimate_module(a) -> dict:
    if a.torchscript:
        raise EstimateError("a TorchScript source has no module definition to count from; give limits.expect")
    from .export_module import load_class, parse_shape

    import torch

    cls = load_class(a.module)
    with torch.device("meta"):
        m = cls()
    n_float = n_other = 0
    lin = 0
    for mod in m.modules():
        own = list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
        if a.xnnpack and isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            continue                      # folded into the convolution before it (XNNPACK's fusion pass)
        for _, p in own:
            if p.dtype.is_floating_point:
                n_float += p.numel()
            else:
                n_other += p.numel() * p.element_size()
        if isinstance(mod, torch.nn.Linear):
            lin += mod.weight.numel()
        if a.xnnpack and isinstance(mod, torch.nn.Conv2d) and mod.bias is None:
            n_float += mod.out_channels   # the folded batchnorm becomes its bias
    size = n_float * 4 + n_other
    if a.quant == "int8":
        size -= lin * 3
    shape = parse_shape(a.input_shape)
    n_in = math.prod(shape)
    planned = n_in * 4   # the float32 input; XNNPACK keeps its intermediates to itself (SmallCNN: 12,288 vs 12,400)
    w = n_float * 4 + n_other
    return {"model": {"family": "module", "class": a.module, "parameters": int(n_float), "quant": a.quant,
                      "weight_bytes_in_memory": int(w)},
            "artifacts": [artifact(a.out, "pte", size + OVERHEAD_MODULE, planned, SPREAD_RUNTIME_MODULE)],
            "peak_memory": interval(BASE_PEAK["export_module"] + K_FLOAT * w, SPREAD_PEAK, SPREAD_PEAK_FIXED)}


class NotEstimable(EstimateError):
    """The step itself would refuse this model (said in one line): "estimable": false, not an error."""


def causal_lm_model(a):
    """(cfg, model) of export_causal_lm's source: transformers' config (--model-dir, --config-json or
    hf_source.RANDOM_CONFIGS; --layers honoured) and its causal LM built on torch's meta device, with
    GPT-2's Conv1D turned into nn.Linear as the step does (hf_source._conv1d_to_linear). No weights."""
    import torch
    from transformers import AutoModelForCausalLM

    from . import hf_source
    from .export_causal_lm import source_of

    source = source_of(a)
    try:
        cfg = hf_source.config(source)
        hf_source.check_supported(cfg, a.max_seq_len)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    except hf_source.ExportRefused as e:
        raise NotEstimable(str(e)) from None
    except (ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as e:
        raise NotEstimable(f"transformers could not build model_type '{cfg.model_type}' on the meta device "
                           f"({hf_source._first_line(e)})") from None
    hf_source._conv1d_to_linear(model)
    return cfg, model


def causal_lm_weights(model, quant: str, gs: int, emb_q: str, fb: int, xnnpack: bool) -> dict:
    """Bytes of the model's tensors in the .pte (quant.py + XNNPACK, see THE MODEL) and in memory
    during export, module by module. A tied lm_head shares the embedding's Parameter: quantizing
    the linears gives it its own quantized copy (quant.py's docstring); unquantized, the rule of
    estimate_llm applies (stored once, plus XNNPACK's packed copy)."""
    from torch import nn

    out_emb = model.get_output_embeddings()
    tied_w = out_emb.weight if out_emb is not None else None
    tied = tied_w is not None and any(e.weight is tied_w for e in model.modules()
                                      if isinstance(e, nn.Embedding))
    pte = mem = float_bytes = params = 0
    seen = set()
    for mod in model.modules():
        for pname, t in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
            is_param = isinstance(t, nn.Parameter)
            n = t.numel()
            if id(t) in seen:
                if tied and t is tied_w and isinstance(mod, nn.Linear):
                    if quant != "none":              # its own quantized copy
                        pte += linear_bytes(mod.out_features, mod.in_features, quant, gs, fb)
                        mem += linear_mem_bytes(mod.out_features, mod.in_features, quant, gs, fb)
                    elif emb_q != "none":            # the float table stays for the lm_head
                        pte += n * fb
                        mem += n * 4
                    elif xnnpack:                    # XNNPACK packs its own copy
                        pte += n * fb
                continue
            seen.add(id(t))
            if is_param:
                params += n
                float_bytes += n * 4
            if pname == "weight" and isinstance(mod, nn.Linear) and not (tied and t is tied_w):
                pte += linear_bytes(mod.out_features, mod.in_features, quant, gs, fb)
                mem += linear_mem_bytes(mod.out_features, mod.in_features, quant, gs, fb)
            elif pname == "weight" and isinstance(mod, nn.Embedding):
                pte += embedding_bytes(mod.num_embeddings, mod.embedding_dim, emb_q, fb)
                mem += embedding_mem_bytes(mod.num_embeddings, mod.embedding_dim, emb_q, fb)
            elif t.dtype.is_floating_point:
                pte += n * (fb if is_param else t.element_size())
                mem += n * 4
            else:
                pte += n * t.element_size()
                mem += n * t.element_size()
    return {"pte": pte, "mem": mem, "float": float_bytes, "parameters": params, "tied": tied}


def estimate_causal_lm(a) -> dict:
    cfg, model = causal_lm_model(a)
    text = cfg.get_text_config()
    fb = 2 if a.dtype == "bf16" else 4
    quant, emb_q, gs, seq = a.quant, a.embedding_quant, a.group_size, a.max_seq_len
    w = causal_lm_weights(model, quant, gs, emb_q, fb, a.xnnpack)
    L = int(text.num_hidden_layers)
    heads = int(text.num_attention_heads)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    ov = OVERHEAD_CAUSAL_LM if a.xnnpack else OVERHEAD_CAUSAL_LM_PORTABLE
    per_layer = ov[1] + (OVERHEAD_CAUSAL_LM_ARCH.get(cfg.model_type, 0) if a.xnnpack else 0)
    pte = w["pte"] + ov[0] + per_layer * L
    quantized = quant != "none" or emb_q != "none"
    q_mem = w["mem"] if quantized else w["float"] * fb // 4
    stages = causal_lm_peak_stages(a, w["float"], checkpoint_bytes(a, w["parameters"]), q_mem, pte, L)
    arts = []
    dims = {"vocab_size": int(text.vocab_size), "hidden_size": int(text.hidden_size),
            "num_attention_heads": heads}
    kv = 2 * L * kv_heads * seq * head_dim * fb
    planned = kv + causal_lm_activation_bytes(dims, seq if a.dynamic else 1, seq)
    arts.append(artifact(a.out, "pte", pte, planned))
    if a.bundle:
        # A BundledProgram = the program + each case's inputs (tokens, positions: int64) and the eager
        # logits [1, T, vocab] float32, + its own flatbuffer tables.
        plen = max(1, min(a.bundle_prompt_len, seq)) if a.dynamic else 1
        cases = a.bundle_cases * (16 * plen + 4 * plen * dims["vocab_size"] + OVERHEAD_BUNDLE_CASE)
        arts.append(artifact(a.bundle, "bpte", pte + cases + OVERHEAD_BUNDLE, None))
    peak = max(stages.values())
    return {
        "model": {"family": cfg.model_type, "parameters": w["parameters"], "layers": L,
                  "hidden_size": dims["hidden_size"], "vocab_size": dims["vocab_size"], "tied_embeddings": w["tied"],
                  "quant": quant, "embedding_quant": emb_q, "group_size": gs, "dtype": a.dtype, "max_seq_len": seq,
                  "float_weight_bytes": int(w["float"]), "weight_bytes_in_memory": int(q_mem),
                  "peak_by_stage": {k: int(v) for k, v in stages.items()}},
        "artifacts": arts,
        "peak_memory": interval(peak, SPREAD_PEAK, SPREAD_PEAK_FIXED),
    }


def checkpoint_bytes(a, parameters: int) -> int:
    """Bytes of the checkpoint's weights (--model-dir only; from_config builds without one): the
    dtype config.json records (transformers writes "dtype", older files "torch_dtype"), float32 if none."""
    if not a.model_dir:
        return 0
    try:
        with open(os.path.join(a.model_dir, "config.json"), "r", encoding="utf-8") as f:
            c = json.load(f)
    except (OSError, ValueError):
        return parameters * 4
    dt = str(c.get("dtype") or c.get("torch_dtype") or "float32")
    return parameters * (2 if dt in ("bfloat16", "float16") else 4)


def causal_lm_peak_stages(a, float_bytes: int, ckpt_bytes: int, q_mem: int, pte: int, layers: int) -> dict:
    """Resident peak of each stage of export_causal_lm (what PTEFLOW_DEBUG_MEMORY=1 prints); the
    step's peak is the largest. The stages follow one another and each frees what the next does not
    need (the float model is quantized in place, then deleted before lowering), so their peaks do
    not add up. See K_CAUSAL_* for the measurements."""
    base = BASE_PEAK["export_causal_lm"]
    seq2 = layers * a.max_seq_len * a.max_seq_len * 4
    st = {"build + quantize": base + float_bytes + K_CAUSAL_CKPT * ckpt_bytes,
          "lower": base + K_CAUSAL_LOWER * q_mem + K_CAUSAL_LAYER_SEQ2 * seq2
          + (K_CAUSAL_ETRECORD * q_mem if a.etrecord else 0)}
    if a.bundle:
        st["serialize (bundle)"] = st["lower"] + K_CAUSAL_BUNDLE * pte
    return st


def causal_lm_activation_bytes(d: dict, tokens: int, cache: int) -> int:
    """Planned activations of export_causal_lm's forward over `tokens` tokens against a static cache of
    `cache` positions: the float32 logits [tokens, vocab] and K_CAUSAL_SCORES x the attention scores
    [heads, tokens, cache] (scores, mask, softmax live at once). Fitted on `pteflow inspect` of tiny
    Llama and GPT-2 (seq 64), Qwen3-0.6B with 2 layers (512), GPT-2 124M and SmolLM2-135M (1024):
    +6%, -0.2%, +2%, -4%, -11% (KV caches added)."""
    logits = tokens * d["vocab_size"] * 4
    scores = d["num_attention_heads"] * tokens * cache * 4
    return int(logits + K_CAUSAL_SCORES * scores)


ESTIMATORS = {"export_llm": estimate_llm, "export_lora": estimate_lora, "export_encoder": estimate_encoder,
              "export_module": estimate_module, "export_causal_lm": estimate_causal_lm}


def split_step_argv(argv: List[str]):
    """('export_llm', [args]) from '-m pteflow_steps.export_llm args...' (a leading interpreter path is skipped)."""
    for k, tok in enumerate(argv):
        if tok == "-m" and k + 1 < len(argv):
            mod = argv[k + 1]
            if mod.startswith("pteflow_steps."):
                return mod.split(".", 1)[1], argv[k + 2:]
            return mod, argv[k + 2:]
    return None, argv


def estimate(step_argv: List[str], model_dir: Optional[str] = None) -> dict:
    step, args = split_step_argv(step_argv)
    if step is None:
        return {"estimable": False, "step": None, "reason": "not a python -m pteflow_steps.* step"}
    if step not in ESTIMATORS:
        return {"estimable": False, "step": step, "reason": f"'{step}' is not an export step the estimator models"}
    mod = importlib.import_module(f"pteflow_steps.{step}")
    try:
        a = mod.parse_args(args)
    except SystemExit:
        raise EstimateError(f"the arguments of {step} are invalid (the step would refuse them; see above)") from None
    if model_dir and getattr(a, "model_dir", None):
        a.model_dir = model_dir
    try:
        out = ESTIMATORS[step](a)
    except NotEstimable as e:
        return {"estimable": False, "step": step, "reason": str(e)}
    out.update({"estimable": True, "step": step})
    out["constants_source"] = "python/pteflow_steps/estimate.py MEASURED"
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        k = argv.index("--")
        own, step_argv = argv[:k], argv[k + 1:]
    else:
        own, step_argv = argv, []
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.estimate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the estimate as one JSON object")
    p.add_argument("--model-dir", default=None, help="use this folder's config.json instead of the step's --model-dir")
    p.add_argument("--result", default=None, help="also write the JSON to this file (what pteflow reads)")
    a = p.parse_args(own)
    if not step_argv:
        p.error("give the step's command line after --, e.g. -- -m pteflow_steps.export_llm --random-config tiny ...")
    rc = 0
    try:
        res = estimate(step_argv, a.model_dir)
    except EstimateError as e:
        res = {"estimable": False, "error": str(e)}
        print(f"pteflow_steps.estimate: error: {e}", file=sys.stderr, flush=True)
        rc = 1
    if a.result:
        tmp = a.result + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(res, f)
        os.replace(tmp, a.result)
    if rc:
        return rc
    if a.json:
        print(json.dumps(res), flush=True)
    else:
        print(json.dumps(res, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
