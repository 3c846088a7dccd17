"""pteflow step: a base Llama and a LoRA variant with program-data separation.

Writes three files into --out-dir:
  <name>_base.pte   the base model's program (no weights inside)
  <name>_lora.pte   the LoRA variant's program; its LoRA adapter weights (every
                    parameter whose name contains "lora") stay INSIDE this .pte
  <data>.ptd        ONE shared data file holding the base weights, used by both
Both programs are exported with the same tag function (base weights ->
"<data>", adapters -> kept in the program): delegate_external_constants_pass_
unlifted for weights the XNNPACK delegate owns (named by the SHA-256 of their
bytes) and ExecutorchBackendConfig(external_constants=...) for the rest
(named by their fully qualified name). Because the base weights are identical,
both programs produce the same data keys; the step checks that every key the
LoRA program needs is in the shared .ptd with identical bytes, writes the .ptd
once and prints its keys.

Sources: --random-config tiny (seeded, no network) or --model-dir (HF Llama
checkpoint; the adapters are seeded random, --lora-seed).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from . import common

STEP = "export_lora"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.export_lora", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", help="Hugging Face Llama checkpoint folder")
    src.add_argument("--random-config", choices=["tiny", "llama3.2-1b", "llama3.2-3b", "llama3.1-8b"])
    p.add_argument("--seed", type=int, default=0, help="seed of the random base weights")
    p.add_argument("--lora-seed", type=int, default=1, help="seed of the LoRA adapter weights")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--layers", type=int, default=0, help="override the number of layers (0 = keep)")
    p.add_argument("--max-seq-len", type=int, default=64)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", default="model", help="file name prefix (default model)")
    p.add_argument("--data-name", default="base_weights", help="shared data file name without .ptd")
    p.add_argument("--xnnpack", action=argparse.BooleanOptionalAction, default=True)
    common.add_common_args(p)
    a = p.parse_args(argv)
    if a.lora_rank < 1:
        p.error("--lora-rank must be at least 1")
    if not a.data_name.replace("_", "").replace("-", "").isalnum():
        p.error("--data-name may hold letters, digits, '-' and '_' only")
    return a


def _export_one(source, tag, xnnpack, tm, label):
    from . import llm_source, lowering

    with tm(f"build_{label}"):
        model, cfg, _ = llm_source.build(source)
    ms = int(source["max_seq_len"])
    example = llm_source.example_inputs(ms)

    def tag_fn(node):
        return None if "lora" in node.name else tag

    with tm(f"export_{label}"):
        ep = lowering.export_program(model, example, llm_source.dynamic_shapes(ms), tag_fn=tag_fn)
    del model
    gc.collect()
    with tm(f"lower_{label}"):
        summary, et = lowering.lower(ep, xnnpack, tag_fn=tag_fn)
    del ep
    return cfg, summary, et


def main(argv=None):
    a = parse_args(argv)
    v = common.versions()
    common.print_versions(STEP, v)
    common.setup_torch(a.threads, limit_heap=True)
    import torch

    from . import lowering

    os.makedirs(a.out_dir, exist_ok=True)
    base_src = {"kind": "llm", "random_config": a.random_config, "seed": a.seed,
                "model_dir": os.path.abspath(a.model_dir) if a.model_dir else None,
                "max_seq_len": a.max_seq_len, "dtype": "fp32", "quant": "none", "dynamic": True,
                "layers": a.layers or None}
    lora_src = dict(base_src, lora_rank=a.lora_rank, lora_seed=a.lora_seed)
    tm = common.Timer()
    t0 = time.perf_counter()
    programs = []
    data_blob = None
    keys = {}
    ptd_name = a.data_name + ".ptd"
    ptd_path = os.path.join(a.out_dir, ptd_name)
    summaries = {}
    with torch.no_grad():
        for label, src in (("base", base_src), ("lora", lora_src)):
            cfg, summary, et = _export_one(src, a.data_name, a.xnnpack, tm, label)
            summaries[label] = summary
            common.print_delegation(f"{STEP} ({label})", summary)
            tensor_data = getattr(et, "_tensor_data", None) or {}
            blob = tensor_data.get(a.data_name)
            if blob is None:
                raise common.StepError(f"the {label} export produced no external data '{a.data_name}'; "
                                       f"program-data separation did not happen")
            blob = bytes(blob)
            k = lowering.ptd_keys(blob)
            keys[label] = k
            if label == "base":
                data_blob = blob
                common.write_bytes_checked(ptd_path, data_blob, "tensor data")
            else:
                missing = sorted(set(k) - set(keys["base"]))
                if missing:
                    raise common.StepError(f"the LoRA program needs {len(missing)} data key(s) the base .ptd "
                                           f"lacks (first '{missing[0]}'); the base weights differ")
                if blob != data_blob:
                    raise common.StepError("the LoRA program's base weights are not byte-identical to the "
                                           "base model's; the .ptd cannot be shared")
            pte = os.path.join(a.out_dir, f"{a.name}_{label}.pte")
            common.phase(f"serialize_{label}")
            size = common.write_program(pte, et)
            programs.append({"path": os.path.basename(pte), "kind": "pte", "size": size, "data": [ptd_name],
                             "source": src, "methods": list(lowering.method_names(et)),
                             "delegation": summary})
            del et, blob
            gc.collect()
    total = round(time.perf_counter() - t0, 3)
    print(f"{STEP}: shared data '{ptd_name}' ({os.path.getsize(ptd_path)} bytes) holds {len(keys['base'])} keys:",
          flush=True)
    for k in keys["base"]:
        print(f"{STEP}:   {k}")
    for p in programs:
        print(f"{STEP}: wrote '{p['path']}' ({p['size']} bytes) using '{ptd_name}'", flush=True)
    result = {"versions": v, "ok": True, "source": base_src, "methods": ["forward"],
              "delegation": summaries["lora"], "programs": programs,
              "data_files": [{"path": ptd_name, "kind": "ptd", "size": os.path.getsize(ptd_path),
                              "keys": keys["base"]}],
              "layout": {"base_weights": ptd_name, "lora_adapters": f"inside {a.name}_lora.pte"},
              "example_inputs": [{"name": "tokens", "shape": [1, 2], "dtype": "int64"},
                                 {"name": "input_pos", "shape": [2], "dtype": "int64"}],
              "outputs": [common.file_entry(os.path.join(a.out_dir, p["path"])) for p in programs]
              + [common.file_entry(ptd_path)],
              "timings_s": dict(tm.t, total=total), "peak_rss_bytes": common.peak_rss_bytes()}
    common.write_result(STEP, result, os.path.join(a.out_dir, f"{a.name}.pte"), extra=a.result)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
