"""pteflow step: export any Hugging Face decoder-only causal LM to an ExecuTorch .pte.

Source: a Hugging Face checkpoint folder (config.json + *.safetensors,
--model-dir, e.g. ${model.dir}), a config.json alone with seeded random
weights (--config-json), or a named tiny architecture with seeded random
weights (--random-config llama|mistral|qwen2|qwen3|phi3|smollm3|gemma3_text|gpt2;
no network). The model is transformers' own modeling code with a static KV
cache (see pteflow_steps.hf_source), exported with torch.export, optionally
quantized with torchao (int8 = int8 dynamic activations + int8 per-channel
weights; 8da4w = int4 weights in groups; weight-only embedding tables),
lowered with to_edge_transform_and_lower (+ XNNPACK) and serialized.

Program: forward(tokens[1,T] int64, input_pos[T] int64) -> logits[1,T,vocab]
float32, T dynamic in 1..max-seq-len (--dynamic, the default) or 1, plus the
metadata methods ExecuTorch's LLM runner and optimum-executorch read
(get_max_seq_len, get_max_context_len, get_bos_id, get_eos_ids,
get_vocab_size, use_kv_cache, use_sdpa_with_kv_cache, enable_dynamic_shape,
get_n_layers, ...). The checkpoint's tokenizer files are copied next to the
program. Optional: --bundle X.bpte (ExecuTorch BundledProgram with seeded
prompts and the eager model's logits, so a device can verify the numbers
itself) and --etrecord X.etrecord (ExecuTorch devtools ETRecord).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import common

STEP = "export_causal_lm"
RANDOM_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "phi3", "smollm3", "gemma3_text", "gpt2")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.export_causal_lm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", help="Hugging Face checkpoint folder (config.json + *.safetensors)")
    src.add_argument("--config-json", help="a config.json: build that model with seeded random weights")
    src.add_argument("--random-config", choices=RANDOM_ARCHS,
                     help="a tiny model of this architecture with seeded random weights (no download)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--layers", type=int, default=0,
                   help="override the number of decoder layers (0 = keep; for quick tests)")
    p.add_argument("--out", required=True, help="output .pte path")
    common.add_llm_args(p)
    p.add_argument("--tokenizer", action=argparse.BooleanOptionalAction, default=True,
                   help="copy the checkpoint's tokenizer files next to the .pte (default on)")
    p.add_argument("--bundle", default=None, metavar="X.bpte",
                   help="also write an ExecuTorch BundledProgram with test cases (seeded prompts, eager logits)")
    p.add_argument("--bundle-cases", type=int, default=2, help="test cases in the bundle (default 2)")
    p.add_argument("--bundle-prompt-len", type=int, default=8, help="tokens per bundled prompt (default 8)")
    p.add_argument("--etrecord", default=None, metavar="X.etrecord",
                   help="also write ExecuTorch's ETRecord of the lowering (for the devtools Inspector)")
    common.add_common_args(p)
    a = p.parse_args(argv)
    common.check_llm_args(p, a)
    if a.layers < 0:
        p.error("--layers must not be negative")
    if a.bundle and not a.bundle.endswith(".bpte"):
        p.error("--bundle must name a .bpte file")
    if a.bundle_cases < 1 or a.bundle_prompt_len < 1:
        p.error("--bundle-cases and --bundle-prompt-len must be positive")
    return a


def source_of(a) -> dict:
    return {
        "kind": "causal_lm",
        "model_dir": os.path.abspath(a.model_dir) if a.model_dir else None,
        "config_json": os.path.abspath(a.config_json) if a.config_json else None,
        "random_config": a.random_config,
        "seed": a.seed,
        "layers": a.layers or None,
        "max_seq_len": a.max_seq_len,
        "dtype": a.dtype,
        "quant": a.quant,
        "group_size": a.group_size,
        "embedding_quant": a.embedding_quant,
        "dynamic": a.dynamic,
    }


def bundle_cases(model, cfg, a):
    """Seeded prompts at position 0 and the eager model's logits for each (a
    fresh cache per case, as each case starts a new sequence)."""
    import torch

    from . import hf_source

    vocab = int(cfg.get_text_config().vocab_size)
    plen = max(1, min(a.bundle_prompt_len, a.max_seq_len)) if a.dynamic else 1
    cases = []
    g = torch.Generator().manual_seed(4321)
    for _ in range(a.bundle_cases):
        tokens = torch.randint(0, vocab, (1, plen), generator=g)
        pos = torch.arange(plen, dtype=torch.long)
        ref = hf_source.eager_logits(model, [(tokens, pos)])[0]
        cases.append(([tokens, pos], [ref.contiguous()]))
    return cases


def write_bundle(path: str, et, cases) -> int:
    from executorch.devtools import BundledProgram
    from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
    from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer

    suite = MethodTestSuite(method_name="forward",
                            test_cases=[MethodTestCase(inputs=i, expected_outputs=o) for i, o in cases])
    bp = BundledProgram(executorch_program=et, method_test_suites=[suite])
    return common.write_bytes_checked(path, serialize_from_bundled_program_to_flatbuffer(bp), "bundled program")


def main(argv=None):
    a = parse_args(argv)
    v = common.start_export(STEP, a)
    import torch

    from . import hf_source, lowering

    if a.model_dir and not os.path.isfile(os.path.join(a.model_dir, "config.json")):
        raise common.StepError(f"'{a.model_dir}' has no config.json; pass a Hugging Face checkpoint folder")
    source = source_of(a)
    out_dir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(out_dir, exist_ok=True)
    tm = common.Timer()
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            with tm("build_quantize"):
                model, cfg, qinfo = hf_source.build(source, apply_quant=True)
                qinfo.setdefault("embedding", {"mode": "none"})
            common.debug_memory(STEP, "build + quantize")
            n_params = hf_source.parameter_count(cfg)
            text = cfg.get_text_config()
            print(f"{STEP}: model {cfg.model_type} ({a.random_config or a.config_json or a.model_dir}): "
                  f"{n_params / 1e6:.1f}M parameters, {text.num_hidden_layers} layers, max seq {a.max_seq_len}",
                  flush=True)
            md = hf_source.metadata(cfg, source, a.model_dir)
            cases = bundle_cases(model, cfg, a) if a.bundle else None
            with tm("export"):
                module = hf_source.exportable(model, a.max_seq_len)
                ep = hf_source.export(module, a.max_seq_len, a.dynamic)
            del module, model
            common.release_memory()
            common.debug_memory(STEP, "export")
            with tm("lower"):
                held = [ep]
                del ep
                etrec = a.etrecord + ".part" if a.etrecord else None
                try:
                    summary, et = lowering.lower(held, a.xnnpack, constant_methods=md, step=STEP, etrecord=etrec)
                except MemoryError:
                    raise
                except Exception as e:  # to_edge / partitioning / to_executorch: many exception kinds
                    raise hf_source.ExportRefused(
                        f"ExecuTorch could not lower model_type '{cfg.model_type}' ({type(e).__name__}: "
                        f"{hf_source.first_line(e)})") from None
                if etrec:
                    os.replace(etrec, a.etrecord)
    except hf_source.ExportRefused as e:
        raise common.StepError(str(e)) from None
    methods = list(lowering.method_names(et))
    common.print_delegation(STEP, summary)
    with tm("serialize"):
        size = common.write_program(a.out, et)
        outputs = [common.file_entry(a.out)]
        if a.bundle:
            write_bundle(a.bundle, et, cases)
            outputs.append(common.file_entry(a.bundle, "bpte"))
    common.debug_memory(STEP, "serialize")
    del et
    common.release_memory()
    if a.etrecord:
        outputs.append(common.file_entry(a.etrecord, "file"))
    tokenizer = hf_source.copy_tokenizer(a.model_dir, out_dir) if a.tokenizer else []
    outputs += [common.file_entry(p, "file") for p in tokenizer]
    total = round(time.perf_counter() - t0, 3)
    print(f"{STEP}: wrote '{a.out}' ({size} bytes) in {total} s; metadata "
          + ", ".join(f"{k}={val}" for k, val in md.items()), flush=True)
    result = {
        "versions": dict(v, transformers=_version("transformers")),
        "ok": True,
        "source": source,
        "model_type": cfg.model_type,
        "config": cfg.to_dict(),
        "parameters": n_params,
        "quantization": qinfo,
        "xnnpack": a.xnnpack,
        "methods": methods,
        "metadata": md,
        "delegation": summary,
        "example_inputs": [{"name": "tokens", "shape": [1, 2 if a.dynamic else 1], "dtype": "int64"},
                           {"name": "input_pos", "shape": [2 if a.dynamic else 1], "dtype": "int64"}],
        "dynamic_shapes": {"tokens": [1, a.max_seq_len]} if a.dynamic else None,
        "programs": [{"path": os.path.basename(a.out), "kind": "pte", "size": size, "data": []}],
        "bundle": os.path.basename(a.bundle) if a.bundle else None,
        "etrecord": os.path.basename(a.etrecord) if a.etrecord else None,
        "tokenizer_files": [os.path.basename(p) for p in tokenizer],
        "outputs": outputs,
        "timings_s": dict(tm.t, total=total),
        "peak_rss_bytes": common.peak_rss_bytes(),
    }
    common.write_result(STEP, result, a.out, extra=a.result)
    return 0


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "missing"


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
