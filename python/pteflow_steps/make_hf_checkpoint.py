"""pteflow step: write a Hugging Face causal-LM checkpoint folder with seeded
random weights in the real layout: config.json, generation_config.json,
model.safetensors (transformers' save_pretrained: the tensor names and shapes
the published checkpoint has) and a small byte-level BPE tokenizer
(tokenizer.json, tokenizer_config.json, special_tokens_map.json) trained on a
fixed text. For tests and benchmarks that serve a model through a local Hub
(no network): any architecture, from a config.json
(pteflow_steps/hf_configs/*.json hold the shapes of GPT-2 124M,
SmolLM2-135M, Qwen3-0.6B and Gemma 3 1B) or a tiny random config.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import common

STEP = "make_hf_checkpoint"
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_configs")

_TEXT = (
    "The quick brown fox jumps over the lazy dog. ExecuTorch runs PyTorch programs on phones. "
    "A pipeline exports a model, checks it, and writes a manifest with its provenance. "
    "Memory guards keep an export inside its limit; the store restores unchanged steps. "
) * 8


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.make_hf_checkpoint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config-json", help="a config.json, or the name of one in pteflow_steps/hf_configs "
                                           "(gpt2, smollm2-135m, qwen3-0.6b, gemma3-1b)")
    src.add_argument("--random-config", help="a tiny architecture of pteflow_steps.hf_source.RANDOM_CONFIGS")
    p.add_argument("--layers", type=int, default=0, help="override the number of decoder layers (0 = keep)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a config field (repeatable), e.g. --set vocab_size=4096")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="dtype of the stored weights")
    p.add_argument("--tokenizer", action=argparse.BooleanOptionalAction, default=True,
                   help="also write a small trained BPE tokenizer (default on)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    common.add_common_args(p)
    return p.parse_args(argv)


def resolve_config(name: str) -> str:
    if os.path.isfile(name):
        return name
    path = os.path.join(CONFIG_DIR, name if name.endswith(".json") else name + ".json")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".json"))
        raise common.StepError(f"no config '{name}': give a config.json path or one of {', '.join(known)}")
    return path


def write_tokenizer(out: str, cfg) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = cfg.get_text_config()
    vocab = max(300, min(int(text.vocab_size), 1024))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([_TEXT], trainer=trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(dict(special, tokenizer_class="PreTrainedTokenizerFast", model_max_length=2048), f, indent=2)
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special, f, indent=2)


def main(argv=None):
    a = parse_args(argv)
    common.setup_torch(a.threads)
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from . import hf_source

    source = {"config_json": resolve_config(a.config_json) if a.config_json else None,
              "random_config": a.random_config, "layers": a.layers or None}
    if a.set:
        d = hf_source.config_dict(source)
        for kv in a.set:
            k, _, v = kv.partition("=")
            try:
                d[k] = json.loads(v)
            except ValueError:
                raise common.StepError(f"--set {kv}: the value is not JSON") from None
        os.makedirs(a.out, exist_ok=True)
        tmp = os.path.join(a.out, ".config.in.json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(d, f)
        source = {"config_json": tmp, "layers": a.layers or None}
    try:
        cfg = hf_source.config(source)
    except hf_source.ExportRefused as e:
        raise common.StepError(str(e)) from None
    torch.manual_seed(a.seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    if a.dtype == "bf16":
        model = model.to(torch.bfloat16)
    os.makedirs(a.out, exist_ok=True)
    text = cfg.get_text_config()
    model.generation_config = GenerationConfig(bos_token_id=getattr(text, "bos_token_id", None),
                                               eos_token_id=getattr(text, "eos_token_id", None))
    model.save_pretrained(a.out, safe_serialization=True)
    if a.tokenizer:
        write_tokenizer(a.out, cfg)
    if os.path.exists(os.path.join(a.out, ".config.in.json")):
        os.unlink(os.path.join(a.out, ".config.in.json"))
    files = sorted(os.listdir(a.out))
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in files)
    print(f"{STEP}: wrote {cfg.model_type} checkpoint '{a.out}' ({len(files)} files, {size} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
