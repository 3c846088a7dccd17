"""Rebuild a Llama model from a "source" description (shared by export_llm,
export_lora and check so the eager reference is exactly what was exported).

source = {"kind": "llm", "random_config": "tiny" | "llama3.2-1b" | None,
          "seed": int, "model_dir": str | None, "max_seq_len": int,
          "dtype": "fp32" | "bf16", "quant": "none" | "int8" | "8da4w",
          "group_size": int, "lora_rank": int, "lora_seed": int}
"""

from __future__ import annotations

import copy

import torch

from . import llama, quant


def build(source: dict, apply_quant: bool = True):
    if source.get("model_dir"):
        cfg = llama.config_from_hf(source["model_dir"])
    else:
        name = source.get("random_config") or "tiny"
        if name not in llama.RANDOM_CONFIGS:
            raise ValueError(f"unknown random config '{name}': use one of {', '.join(llama.RANDOM_CONFIGS)}")
        cfg = copy.deepcopy(llama.RANDOM_CONFIGS[name])
    if source.get("layers"):
        cfg.num_hidden_layers = int(source["layers"])
    if source.get("lora_rank", 0):
        cfg.lora_rank = int(source["lora_rank"])
    max_seq = int(source["max_seq_len"])
    if source.get("model_dir"):
        model = llama.Llama(cfg, max_seq)
        llama.load_hf(model, source["model_dir"])
    elif cfg.lora_rank:
        # Base weights exactly as the base model's (same seed), adapters added on top.
        base_cfg = copy.deepcopy(cfg)
        base_cfg.lora_rank = 0
        base = llama.build_random(base_cfg, max_seq, int(source.get("seed", 0)))
        model = llama.Llama(cfg, max_seq)
        missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
        if unexpected or any("lora_" not in k for k in missing):
            raise ValueError("LoRA model does not share the base model's parameter names")
        del base
    else:
        model = llama.build_random(cfg, max_seq, int(source.get("seed", 0)))
    if cfg.lora_rank:
        # Adapters from their own seed so the base weights stay identical to the base model.
        g = torch.Generator().manual_seed(int(source.get("lora_seed", 1)))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_" in n:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    model.eval()
    if source.get("dtype", "fp32") == "bf16":
        model = model.to(torch.bfloat16)
        # RoPE tables and caches follow the model dtype; positions stay int64.
        model.positions = torch.arange(max_seq)
    qinfo = {"mode": "none"}
    if apply_quant and source.get("quant", "none") != "none":
        qinfo = quant.quantize(model, source["quant"], int(source.get("group_size", 32)))
    if apply_quant and source.get("embedding_quant", "none") != "none":
        qinfo["embedding"] = quant.quantize_embeddings(model, source["embedding_quant"])
    return model, cfg, qinfo


def example_inputs(max_seq_len: int, n: int = 2):
    n = max(1, min(n, max_seq_len))
    return (torch.zeros((1, n), dtype=torch.long), torch.arange(n, dtype=torch.long))


def dynamic_shapes(max_seq_len: int):
    from torch.export import Dim

    t = Dim("tokens", min=1, max=max_seq_len)
    return ({1: t}, {0: t})
