"""pteflow step: export a Llama-family LLM to an ExecuTorch .pte.

Source: a Hugging Face checkpoint folder (config.json + *.safetensors,
--model-dir) or a named architecture with seeded random weights
(--random-config tiny|llama3.2-1b|llama3.2-3b|llama3.1-8b --seed N, no network). The model is the
package's own Llama module (pteflow_steps.llama: HF parameter names, static KV
cache in buffers updated with index_copy_), exported with a dynamic token
dimension (1..max-seq-len), optionally quantized with torchao (int8 = int8
dynamic activations + int8 per-channel weights; 8da4w) and delegated to
XNNPACK. Program signature: forward(tokens[1,T] int64, input_pos[T] int64)
-> logits[1,T,vocab] float32.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import common

STEP = "export_llm"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.export_llm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", help="Hugging Face checkpoint folder (config.json + *.safetensors)")
    src.add_argument("--random-config", choices=["tiny", "llama3.2-1b", "llama3.2-3b", "llama3.1-8b"],
                     help="build this architecture with seeded random weights (no download)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--layers", type=int, default=0,
                   help="override the number of decoder layers of the random config (0 = keep; for quick tests)")
    p.add_argument("--out", required=True, help="output .pte path")
    common.add_llm_args(p)
    common.add_common_args(p)
    a = p.parse_args(argv)
    common.check_llm_args(p, a)
    return a


def main(argv=None):
    a = parse_args(argv)
    v = common.start_export(STEP, a)
    import torch

    from . import llm_source, lowering

    if a.model_dir and not os.path.isfile(os.path.join(a.model_dir, "config.json")):
        raise common.StepError(f"'{a.model_dir}' has no config.json; pass a Hugging Face checkpoint folder")
    source = {
        "kind": "llm",
        "random_config": a.random_config,
        "seed": a.seed,
        "model_dir": os.path.abspath(a.model_dir) if a.model_dir else None,
        "max_seq_len": a.max_seq_len,
        "dtype": a.dtype,
        "quant": a.quant,
        "group_size": a.group_size,
        "embedding_quant": a.embedding_quant,
        "dynamic": a.dynamic,
        "layers": a.layers or None,
    }
    tm = common.Timer()
    t0 = time.perf_counter()
    with torch.inference_mode(False), torch.no_grad():
        # Build and quantize in one pass: each decoder layer is quantized as
        # soon as it is written (see llm_source.build), so the float32 model
        # never exists whole.
        with tm("build_quantize"):
            model, cfg, qinfo = llm_source.build(source, apply_quant=True)
            qinfo.setdefault("embedding", {"mode": "none"})
            common.release_memory()
        common.debug_memory(STEP, "build + quantize")
        n_params = llm_source.parameter_count(cfg)
        print(f"{STEP}: model {a.random_config or a.model_dir}: {n_params / 1e6:.1f}M parameters, "
              f"{cfg.num_hidden_layers} layers, max seq {a.max_seq_len}", flush=True)
        example = llm_source.example_inputs(a.max_seq_len, 2 if a.dynamic else 1)
        dyn = llm_source.dynamic_shapes(a.max_seq_len) if a.dynamic else None
        with tm("export"):
            ep = lowering.export_program(model, example, dyn)
        common.debug_memory(STEP, "export")
        del model
        common.release_memory()
        common.debug_memory(STEP, "free model")
        with tm("lower"):
            held = [ep]
            del ep  # lower() frees it once the edge program exists
            summary, et = lowering.lower(held, a.xnnpack, step=STEP)
        methods = list(lowering.method_names(et))
        common.print_delegation(STEP, summary)
        with tm("serialize"):
            size = common.write_program(a.out, et)
        common.debug_memory(STEP, "serialize")
        del et
        common.release_memory()
    total = round(time.perf_counter() - t0, 3)
    print(f"{STEP}: wrote '{a.out}' ({size} bytes) in {total} s", flush=True)
    result = {
        "versions": v,
        "ok": True,
        "source": source,
        "config": cfg.to_json(),
        "parameters": n_params,
        "quantization": qinfo,
        "xnnpack": a.xnnpack,
        "methods": methods,
        "delegation": summary,
        "example_inputs": [{"name": "tokens", "shape": list(example[0].shape), "dtype": "int64"},
                           {"name": "input_pos", "shape": list(example[1].shape), "dtype": "int64"}],
        "dynamic_shapes": {"tokens": [1, a.max_seq_len]} if a.dynamic else None,
        "programs": [{"path": os.path.basename(a.out), "kind": "pte", "size": size, "data": []}],
        "outputs": [common.file_entry(a.out)],
        "timings_s": dict(tm.t, total=total),
        "peak_rss_bytes": common.peak_rss_bytes(),
    }
    common.write_result(STEP, result, a.out, extra=a.result)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
