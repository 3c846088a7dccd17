"""pteflow step: generate text with an exported LLM program the way
ExecuTorch's LLM runner does, from the program's own metadata methods and a
tokenizer file only (no config.json, no export result, no side information).

Reads get_max_seq_len (required: the longest prompt chunk), get_max_context_len
(default: get_max_seq_len), enable_dynamic_shape (default false: one token
per call), use_kv_cache (default true), get_eos_ids (default: none) and
get_vocab_size; prefills the prompt in chunks, then decodes greedily until an
EOS id, --max-new-tokens, or the end of the context.

usage: python -m pteflow_steps.generate --pte X.pte [--tokenizer tokenizer.json]
       (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import common

STEP = "generate"
DEFAULTS = {"enable_dynamic_shape": False, "use_kv_cache": True}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pte", required=True, help="the program (.pte)")
    p.add_argument("--data", default=None, help="its external data (.ptd), when it has one")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (Hugging Face tokenizers format)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="prompt text (needs --tokenizer)")
    g.add_argument("--prompt-ids", help="prompt token ids, comma-separated")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print one JSON object (tokens, text, metadata, timings)")
    common.add_common_args(p)
    a = p.parse_args(argv)
    if a.prompt is not None and not a.tokenizer:
        p.error("--prompt needs --tokenizer (or give --prompt-ids)")
    if a.max_new_tokens < 0:
        p.error("--max-new-tokens must not be negative")
    return a


def read_metadata(program) -> dict:
    """Every constant method of the program: name -> value (a list when it has several outputs)."""
    md = {}
    for name in program.method_names:
        if name == "forward":
            continue
        meta = program.metadata(name)
        if meta.num_inputs() != 0:
            continue
        out = program.load_method(name).execute([])
        vals = [v.item() if hasattr(v, "item") else v for v in out]
        md[name] = vals if name.endswith("_ids") or len(vals) != 1 else vals[0]
    return md


def generate(forward, md: dict, prompt, max_new: int):
    import torch

    if "get_max_seq_len" not in md:
        raise common.StepError("the program has no get_max_seq_len method; ExecuTorch's LLM runner requires it")
    chunk = int(md["get_max_seq_len"])
    context = int(md.get("get_max_context_len", chunk))
    dynamic = bool(md.get("enable_dynamic_shape", DEFAULTS["enable_dynamic_shape"]))
    eos = set(int(e) for e in md.get("get_eos_ids", []))
    vocab = md.get("get_vocab_size")
    if not prompt:
        raise common.StepError("the prompt is empty")
    if len(prompt) >= context:
        raise common.StepError(f"the prompt has {len(prompt)} tokens; the program's context is {context}")
    step = chunk if dynamic else 1
    t0 = time.perf_counter()
    pos = 0
    logits = None
    while pos < len(prompt):
        part = prompt[pos:pos + step]
        logits = forward.execute([torch.tensor([part], dtype=torch.long),
                                  torch.arange(pos, pos + len(part), dtype=torch.long)])[0]
        pos += len(part)
    ttft = time.perf_counter() - t0
    tokens = []
    t1 = time.perf_counter()
    while len(tokens) < max_new:
        nxt = int(logits[0, -1].argmax())
        if vocab is not None and not 0 <= nxt < int(vocab):
            raise common.StepError(f"the program chose token {nxt}, outside its vocabulary of {vocab}")
        tokens.append(nxt)
        if nxt in eos or pos >= context:
            break
        logits = forward.execute([torch.tensor([[nxt]], dtype=torch.long), torch.tensor([pos], dtype=torch.long)])[0]
        pos += 1
    dt = time.perf_counter() - t1
    stop = "eos" if tokens and tokens[-1] in eos else ("context" if pos >= context else "max_new_tokens")
    return tokens, {"time_to_first_token_s": round(ttft, 5), "prompt_tokens": len(prompt),
                    "decode_tokens_per_s": round(len(tokens) / dt, 2) if dt > 0 and tokens else None,
                    "stopped_by": stop}


def main(argv=None):
    a = parse_args(argv)
    common.setup_torch(a.threads)
    try:  # registers the quantized_decomposed kernels with the runtime
        import executorch.kernels.quantized  # noqa: F401
    except Exception:
        pass
    from executorch.runtime import Runtime

    tok = None
    if a.tokenizer:
        from tokenizers import Tokenizer

        if not os.path.isfile(a.tokenizer):
            raise common.StepError(f"tokenizer '{a.tokenizer}' does not exist")
        tok = Tokenizer.from_file(a.tokenizer)
    if a.prompt is not None:
        prompt = tok.encode(a.prompt).ids
    else:
        try:
            prompt = [int(x) for x in a.prompt_ids.split(",") if x.strip()]
        except ValueError:
            raise common.StepError("--prompt-ids must be comma-separated integers") from None
    if not os.path.isfile(a.pte):
        raise common.StepError(f"program '{a.pte}' does not exist")
    try:
        program = Runtime.get().load_program(a.pte, data_path=a.data)
        md = read_metadata(program)
        forward = program.load_method("forward")
    except RuntimeError as e:
        raise common.StepError(f"program '{a.pte}' failed to load ({str(e).strip().splitlines()[0]})") from None
    tokens, timing = generate(forward, md, prompt, a.max_new_tokens)
    text = tok.decode(tokens) if tok is not None else None
    if a.json:
        print(json.dumps({"prompt_ids": prompt, "tokens": tokens, "text": text, "metadata": md, "timing": timing}))
    else:
        print(text if text is not None else " ".join(map(str, tokens)))
        print(f"{STEP}: {len(tokens)} tokens, stopped by {timing['stopped_by']}, time to first token "
              f"{timing['time_to_first_token_s']} s, decode {timing['decode_tokens_per_s']} tokens/s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
