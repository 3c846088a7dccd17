"""Quantization recipes shared by the export steps (torchao quantize_).

- int8:  int8 per-channel weights with dynamically quantized int8 activations
         (torchao Int8DynamicActivationIntxWeightConfig, weight int8, PerAxis(0)),
         the int8 scheme XNNPACK executes; see QUANT_NOTES for why not
         weight-only.
- 8da4w: int8 dynamic activations, int4 weights in groups (PerGroup(group_size)),
         the scheme ExecuTorch's own Llama export uses for XNNPACK.
Only nn.Linear layers are quantized; LoRA adapter layers (names with lora_a /
lora_b) are left in float.
"""

from __future__ import annotations

import torch
from torch import nn

QUANT_CHOICES = ("none", "int8", "8da4w")


def _filter(group_size: int):
    def fn(m, fqn):
        if not isinstance(m, nn.Linear):
            return False
        parts = fqn.split(".")
        if "lora_a" in parts or "lora_b" in parts:
            return False
        if group_size > 0 and m.weight.shape[1] % group_size != 0:
            return False
        return True

    return fn


def quantize(model: nn.Module, mode: str, group_size: int = 32) -> dict:
    """Quantize `model` in place; return a description for the result JSON."""
    if mode == "none":
        return {"mode": "none"}
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    if mode == "int8":
        cfg = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0))
        quantize_(model, cfg, filter_fn=_filter(0))
        return {"mode": "int8", "scheme": "int8 dynamic activations, int8 per-channel weights (torchao)",
                "layers": "nn.Linear"}
    if mode == "8da4w":
        cfg = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(group_size))
        quantize_(model, cfg, filter_fn=_filter(group_size))
        return {"mode": "8da4w", "scheme": f"int8 dynamic activations, int4 weights, group size {group_size} (torchao)",
                "layers": "nn.Linear", "group_size": group_size}
    raise ValueError(f"unknown quantization '{mode}': use one of {', '.join(QUANT_CHOICES)}")


def quantize_embeddings(model: nn.Module, mode: str) -> dict:
    """int8 per-row weight-only quantization of nn.Embedding tables (torchao
    IntxWeightOnlyConfig). Run after quantize(): a tied lm_head has by then
    received its own quantized copy of the weight."""
    if mode == "none":
        return {"mode": "none"}
    if mode not in ("int8", "int4"):
        raise ValueError(f"unknown embedding quantization '{mode}': use none, int8 or int4")
    from torchao.quantization import IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    if mode == "int8":
        cfg = IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0))
        scheme = "int8 per-row weight-only (torchao)"
    else:
        cfg = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(32))
        scheme = "int4 weight-only, groups of 32 (torchao)"
    quantize_(model, cfg, filter_fn=lambda m, fqn: isinstance(m, nn.Embedding))
    return {"mode": mode, "scheme": scheme, "layers": "nn.Embedding"}
