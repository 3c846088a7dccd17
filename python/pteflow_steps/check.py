"""pteflow step: numerical check of exported .pte programs.

Reads the result JSON an export step wrote (--export-result), rebuilds the
eager PyTorch model from the same source (seeded random config, checkpoint,
MiniLM weights; quantized the same way), loads every program it lists with
ExecuTorch's runtime (with its .ptd when the program keeps data outside),
runs fixed seeded inputs and compares outputs:

  max_abs = max |pte - eager|, ref_max = max |eager|, max_rel = max_abs / ref_max
  pass when every output is finite and max_abs <= atol + rtol * ref_max

For LLMs it prefills a seeded prompt and decodes greedily (the eager model is
fed the same tokens: the package's Llama for export_llm, transformers' own
model with its dynamic KV cache for export_causal_lm), and reports load time, time to first token and decode
tokens per second on this host. Exit 1 with one line on stderr when a program
fails to load or an error is over tolerance.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

from . import common

STEP = "check"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export-result", required=True, help="result JSON written by an export step")
    p.add_argument("--pte", action="append", default=None,
                   help="check this .pte instead of the programs in the result (repeatable; order of the result)")
    p.add_argument("--data", action="append", default=None,
                   help="external data file (.ptd) for the program(s), overrides the result's (repeatable)")
    p.add_argument("--atol", type=float, default=1e-3, help="absolute tolerance (default 1e-3)")
    p.add_argument("--rtol", type=float, default=1e-3,
                   help="tolerance relative to the largest reference magnitude (default 1e-3)")
    p.add_argument("--seed", type=int, default=1234, help="seed of the check inputs")
    p.add_argument("--prompt-len", type=int, default=8, help="LLM prompt length (default 8)")
    p.add_argument("--decode-tokens", type=int, default=16, help="LLM tokens decoded after the prompt (default 16)")
    p.add_argument("--out", default=None, help="result JSON path (default: next to the result, <name>.check.json)")
    common.add_common_args(p)
    a = p.parse_args(argv)
    if a.atol < 0 or a.rtol < 0:
        p.error("--atol and --rtol must not be negative")
    return a


def _load(path, data):
    if not os.path.isfile(path):
        raise common.StepError(f"program '{path}' does not exist; run the export step first")
    if os.path.getsize(path) == 0:
        raise common.StepError(f"program '{path}' is empty (0 bytes); the export failed silently")
    try:  # registers the quantized_decomposed kernels (embedding_byte...) with the runtime
        import executorch.kernels.quantized  # noqa: F401
    except Exception:
        pass
    from executorch.runtime import Runtime

    if not os.path.isfile(path):
        raise common.StepError(f"program '{path}' does not exist; run the export step first")
    if os.path.getsize(path) == 0:
        raise common.StepError(f"program '{path}' is empty (0 bytes); the export failed silently")
    for d in data:
        if not os.path.isfile(d):
            raise common.StepError(f"data file '{d}' for '{path}' does not exist")
    if len(data) > 1:
        raise common.StepError(f"'{path}' lists {len(data)} data files; the runtime's Python API takes one")
    t0 = time.perf_counter()
    try:
        prog = Runtime.get().load_program(path, data_path=data[0] if data else None)
        method = prog.load_method("forward")
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise common.StepError(f"program '{path}' failed to load in the ExecuTorch runtime ({msg}); "
                               f"the file is corrupt, truncated, or its .ptd is missing") from None
    if method is None:
        raise common.StepError(f"program '{path}' has no method 'forward'")
    return prog, method, time.perf_counter() - t0


class ErrAcc:
    def __init__(self):
        self.max_abs = 0.0
        self.ref_max = 0.0
        self.finite = True
        self.n = 0

    def add(self, got, ref):
        import torch

        got = got.detach().float()
        ref = ref.detach().float()
        if got.shape != ref.shape:
            raise common.StepError(f"output shape {tuple(got.shape)} differs from the eager model's {tuple(ref.shape)}")
        if not torch.isfinite(got).all():
            self.finite = False
        d = (got - ref).abs()
        d = torch.nan_to_num(d, nan=float("inf"))
        self.max_abs = max(self.max_abs, float(d.max()) if d.numel() else 0.0)
        self.ref_max = max(self.ref_max, float(ref.abs().max()) if ref.numel() else 0.0)
        self.n += got.numel()

    def verdict(self, atol, rtol):
        bound = atol + rtol * self.ref_max
        rel = self.max_abs / self.ref_max if self.ref_max > 0 else (0.0 if self.max_abs == 0 else float("inf"))
        ok = self.finite and self.max_abs <= bound
        return {"max_abs_error": self.max_abs, "max_rel_error": rel, "reference_max_abs": self.ref_max,
                "bound": bound, "atol": atol, "rtol": rtol, "finite": self.finite, "compared_values": self.n,
                "pass": bool(ok)}


def run_llm_program(method, source, a):
    """Phase 1 of the LLM check: prefill a seeded prompt and decode greedily
    with the program alone, keeping its logits (a few MB). The eager model is
    built only after the program is released (phase 2), so the check peaks at
    the larger of the two, not their sum (6.9 GB for Llama 3.2 1B otherwise)."""
    import torch

    vocab = _vocab_size(source)
    max_seq = int(source["max_seq_len"])
    dynamic = source.get("dynamic", True)
    plen = max(1, min(a.prompt_len, max_seq - 1)) if dynamic else 1
    ndec = max(0, min(a.decode_tokens, max_seq - plen))
    g = torch.Generator().manual_seed(a.seed)
    prompt = torch.randint(0, vocab, (1, plen), generator=g)
    t0 = time.perf_counter()
    out = method.execute([prompt, torch.arange(plen)])[0].clone()  # outputs may alias the program's memory
    ttft = time.perf_counter() - t0
    steps = [(prompt, torch.arange(plen), out)]
    dec_time = 0.0
    for i in range(ndec):
        nxt = out[0, -1].argmax().view(1, 1).to(torch.long)
        pos = torch.tensor([plen + i], dtype=torch.long)
        t1 = time.perf_counter()
        out = method.execute([nxt, pos])[0].clone()
        dec_time += time.perf_counter() - t1
        steps.append((nxt, pos, out))
    timing = {"time_to_first_token_s": round(ttft, 5), "prompt_tokens": plen, "decode_tokens": ndec,
              "decode_tokens_per_s": round(ndec / dec_time, 2) if dec_time > 0 else None,
              "generated": [int(t) for t, _, _ in steps[1:]]}
    return steps, timing


def _vocab_size(source) -> int:
    if source.get("kind") == "causal_lm":
        from . import hf_source

        return int(hf_source.config(source).get_text_config().vocab_size)
    from . import llm_source

    return int(llm_source.config(source).vocab_size)


def compare_causal_lm(steps, source):
    """Phase 2 for export_causal_lm programs: transformers' model, quantized
    the same way, run eagerly with its own dynamic KV cache on the same tokens."""
    from . import hf_source

    common.limit_heap_growth()   # the model is built and quantized as the export did
    try:
        model, _, _ = hf_source.build(source, apply_quant=True)
    except hf_source.ExportRefused as e:
        raise common.StepError(str(e)) from None
    common.relax_heap_limit()
    refs = hf_source.eager_logits(model, [(t, p) for t, p, _ in steps])
    acc = ErrAcc()
    for (_, _, got), ref in zip(steps, refs):
        acc.add(got, ref)
    prompt = steps[0][0]
    del model, refs
    gc.collect()
    return acc, {"tokens": list(prompt.shape), "input_pos": [prompt.shape[1]]}, None


def compare_llm(steps, source):
    """Phase 2: the eager model fed the program's tokens, step by step (its KV
    cache fills the same way), compared with the logits phase 1 kept."""
    from . import llm_source

    common.limit_heap_growth()   # the model is built and quantized as the export did
    model, _, _ = llm_source.build(source, apply_quant=True)
    common.relax_heap_limit()
    acc = ErrAcc()
    for tokens, pos, got in steps:
        acc.add(got, model(tokens, pos))
    prompt = steps[0][0]
    hf = None
    if source.get("model_dir") and source.get("quant", "none") == "none" and source.get("dtype", "fp32") == "fp32":
        hf = _hf_parity(source["model_dir"], prompt, model)
    del model
    gc.collect()
    return acc, {"tokens": list(prompt.shape), "input_pos": [prompt.shape[1]]}, hf


def _hf_parity(model_dir, prompt, own):
    """Max abs difference between this package's Llama and transformers' LlamaForCausalLM on the prompt."""
    import torch

    try:
        from transformers import LlamaForCausalLM
    except Exception as e:  # transformers is optional for the check
        return {"skipped": f"transformers unavailable: {e}"}
    hf = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    ref = hf(prompt).logits.float()
    own.reset_cache()
    mine = own(prompt, torch.arange(prompt.shape[1]))
    del hf
    return {"max_abs_error_vs_transformers": float((ref - mine).abs().max()),
            "reference_max_abs": float(ref.abs().max())}


def check_tensor_model(method, source, example_inputs, a):
    """export_module / export_encoder: rebuild eager, seeded inputs of the recorded shapes."""
    import torch

    if source["kind"] == "module":
        from .export_module import rebuild_eager, make_inputs
    elif source["kind"] == "encoder":
        from .export_encoder import rebuild_eager, make_inputs
    else:
        raise common.StepError(f"unknown program kind '{source['kind']}' in the export result")
    model = rebuild_eager(source)
    inputs = make_inputs(source, example_inputs, a.seed)
    acc = ErrAcc()
    t0 = time.perf_counter()
    outs = method.execute(list(inputs))
    run = time.perf_counter() - t0
    ref = model(*inputs)
    refs = ref if isinstance(ref, (tuple, list)) else [ref]
    if len(outs) != len(refs):
        raise common.StepError(f"program returned {len(outs)} outputs, the eager model {len(refs)}")
    for o, r in zip(outs, refs):
        acc.add(o, r)
    del model
    gc.collect()
    return acc, {f"input{i}": list(t.shape) for i, t in enumerate(inputs)}, {"run_s": round(run, 5)}, None


def main(argv=None):
    a = parse_args(argv)
    v = common.versions()
    common.print_versions(STEP, v)
    common.setup_torch(a.threads)
    import torch

    if not os.path.isfile(a.export_result):
        raise common.StepError(f"export result '{a.export_result}' does not exist; run the export step first")
    try:
        with open(a.export_result, "r", encoding="utf-8") as f:
            er = json.load(f)
    except (OSError, ValueError) as e:
        raise common.StepError(f"export result '{a.export_result}' is not readable JSON ({e})") from None
    base = os.path.dirname(os.path.abspath(a.export_result))
    programs = er.get("programs") or []
    if not programs:
        raise common.StepError(f"export result '{a.export_result}' lists no programs")
    if a.pte:
        if len(a.pte) > len(programs):
            raise common.StepError(f"{len(a.pte)} --pte given, the export result has {len(programs)} programs")
        programs = [dict(programs[i], path=os.path.abspath(p)) for i, p in enumerate(a.pte)]
    results = []
    all_ok = True
    first_fail = None
    with torch.no_grad():
        for prog in programs:
            path = prog["path"] if os.path.isabs(prog["path"]) else os.path.join(base, prog["path"])
            data = [os.path.abspath(d) for d in a.data] if a.data else \
                [d if os.path.isabs(d) else os.path.join(base, d) for d in prog.get("data", [])]
            source = dict(er.get("source") or {}, **(prog.get("source") or {}))
            common.phase("load")
            _p, method, load_s = _load(path, data)
            print(f"{STEP}: loaded '{os.path.basename(path)}'"
                  f"{' with ' + ', '.join(os.path.basename(d) for d in data) if data else ''} in {load_s:.3f} s",
                  flush=True)
            common.phase("run")
            try:
                if source.get("kind") in ("llm", "causal_lm"):
                    steps, timing = run_llm_program(method, source, a)
                    del _p, method  # the program's memory goes back before the eager model is built
                    common.release_memory()
                    common.phase("compare")
                    compare = compare_causal_lm if source["kind"] == "causal_lm" else compare_llm
                    acc, shapes, extra = compare(steps, source)
                    del steps
                else:
                    acc, shapes, timing, extra = check_tensor_model(method, source, er.get("example_inputs"), a)
                    del _p, method
            except RuntimeError as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise common.StepError(f"program '{path}' failed to run ({msg})") from None
            verdict = acc.verdict(a.atol, a.rtol)
            if extra and "max_abs_error_vs_transformers" in extra:
                # The package's Llama must match transformers on the same checkpoint.
                ext_bound = a.atol + a.rtol * extra["reference_max_abs"]
                extra["pass"] = extra["max_abs_error_vs_transformers"] <= max(ext_bound, 1e-4)
                verdict["pass"] = verdict["pass"] and extra["pass"]
            ok = verdict["pass"]
            print(f"{STEP}: '{os.path.basename(path)}': max abs error {verdict['max_abs_error']:.3g}, "
                  f"max rel error {verdict['max_rel_error']:.3g} (bound {verdict['bound']:.3g}: atol {a.atol:g} + "
                  f"rtol {a.rtol:g} x {verdict['reference_max_abs']:.3g}) -> {'pass' if ok else 'FAIL'}", flush=True)
            if "decode_tokens_per_s" in timing:
                print(f"{STEP}: load {load_s:.3f} s, time to first token {timing['time_to_first_token_s']:.4f} s "
                      f"({timing['prompt_tokens']} prompt tokens), decode {timing['decode_tokens_per_s']} tokens/s",
                      flush=True)
            entry = {"path": os.path.basename(path), "data": [os.path.basename(d) for d in data],
                     "load_s": round(load_s, 5), "inputs": shapes, "timing": timing, "errors": verdict}
            if extra:
                entry["transformers_parity"] = extra
            results.append(entry)
            if not ok:
                all_ok = False
                if first_fail is None:
                    if not verdict["finite"]:
                        first_fail = f"'{os.path.basename(path)}' produced non-finite outputs (NaN or Inf)"
                    else:
                        first_fail = (f"'{os.path.basename(path)}' differs from the eager model: max abs error "
                                      f"{verdict['max_abs_error']:.3g} > bound {verdict['bound']:.3g} "
                                      f"(atol {a.atol:g}, rtol {a.rtol:g}); loosen the tolerances only if "
                                      f"quantization explains it")
                        if extra and extra.get("pass") is False:
                            first_fail = (f"the eager Llama differs from transformers by "
                                          f"{extra['max_abs_error_vs_transformers']:.3g}")
            gc.collect()
    result = {"versions": v, "ok": all_ok, "export_result": os.path.basename(a.export_result),
              "tolerances": {"atol": a.atol, "rtol": a.rtol}, "seed": a.seed, "programs": results,
              "methods": ["forward"], "pass": all_ok}
    out = a.out or os.path.splitext(os.path.abspath(a.export_result))[0] + ".check.json"
    common.write_result(STEP, result, None, extra=out)
    if a.result:
        common.write_result(STEP, result, None, extra=a.result)
    if not all_ok:
        raise common.StepError(first_fail)
    print(f"{STEP}: all {len(results)} program(s) pass", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
