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

from . import common, llama, quant


def config(source: dict):
    """The model configuration `source` describes (no weights, no memory)."""
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
    return cfg


def build(source: dict, apply_quant: bool = True):
    """Return (model, cfg, qinfo). With apply_quant and an fp32 base model
    without LoRA, each decoder layer is quantized as soon as its weights are
    written (the result is the same as quantizing the finished model: torchao
    quantizes each nn.Linear on its own), so peak memory is the quantized
    model plus the float embedding table and one float layer, not the whole
    float32 model (4.9 GB for Llama 3.2 1B)."""
    cfg = config(source)
    max_seq = int(source["max_seq_len"])
    mode = source.get("quant", "none")
    group_size = int(source.get("group_size", 32))
    stream = (apply_quant and mode != "none" and not cfg.lora_rank
              and source.get("dtype", "fp32") == "fp32")
    after_layer = after_embedding = None
    emb_mode = source.get("embedding_quant", "none") if apply_quant else "none"
    if stream:
        def after_layer(block):
            quant.quantize(block, mode, group_size)
            common.release_memory()  # hand the layer's float weights back before the next is written

        def after_embedding(m):
            # The table is the first tensor written: quantize the tied lm_head's copy and the table
            # itself now, so the float32 table (1.05 GB for Llama 3.2 1B, 2.1 GB for 8B) is gone
            # before the layers are; the same tensors as quantizing them at the end.
            if cfg.tie_word_embeddings:
                quant.quantize(m.lm_head, mode, group_size)
            if emb_mode != "none":
                quant.quantize_embeddings(m.model.embed_tokens, emb_mode)
            common.release_memory()
    if source.get("model_dir"):
        with llama.uninitialized():
            model = llama.Llama(cfg, max_seq)
        llama.load_hf(model, source["model_dir"], after_layer=after_layer, after_embedding=after_embedding)
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
        model = llama.build_random(cfg, max_seq, int(source.get("seed", 0)), after_layer=after_layer,
                                   after_embedding=after_embedding)
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
    if apply_quant and mode != "none":
        # Streamed: only what is left (an untied lm_head); what is already quantized is skipped.
        qinfo = quant.quantize(model, mode, group_size)
    if apply_quant and source.get("embedding_quant", "none") != "none":
        qinfo["embedding"] = quant.quantize_embeddings(model, source["embedding_quant"])
    return model, cfg, qinfo


def parameter_count(cfg) -> int:
    """Parameters of the float model of `cfg` (tied tables counted once), from
    a model built on the meta device (no memory)."""
    with torch.device("meta"):
        m = llama.Llama(cfg, 2)
    return sum(p.numel() for p in m.parameters())


def example_inputs(max_seq_len: int, n: int = 2):
    n = max(1, min(n, max_seq_len))
    return (torch.zeros((1, n), dtype=torch.long), torch.arange(n, dtype=torch.long))


def dynamic_shapes(max_seq_len: int):
    from torch.export import Dim

    t = Dim("tokens", min=1, max=max_seq_len)
    return ({1: t}, {0: t})
