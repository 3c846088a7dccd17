"""Quantization recipes shared by the export steps (torchao quantize_).

- int8:  int8 per-channel weights with dynamically quantized int8 activations
         (torchao Int8DynamicActivationIntxWeightConfig, weight int8, PerAxis(0)),
         the int8 scheme XNNPACK executes; see QUANT_NOTES for why not
         weight-only.
- 8da4w: int8 dynamic activations, int4 weights in groups (PerGroup(group_size)),
         the scheme ExecuTorch's own Llama export uses for XNNPACK.
Only nn.Linear layers are quantized; LoRA adapter layers (names with lora_a /
lora_b) are left in float.

Memory: torchao quantizes a weight through a few full-size float temporaries;
for the Llama 3.2 1B vocabulary tables (128256 x 2048, 1 GB in fp32) that is
over 2 GB at once. Every scheme here quantizes each row (per-channel) or each
group within a row on its own, so weights over LARGE_ELEMENTS are quantized in
blocks of rows and the blocks' int8 data, scales and zero points concatenated:
the same tensors as in one piece, without the temporaries.
"""

from __future__ import annotations

import torch
from torch import nn

QUANT_CHOICES = ("none", "int8", "8da4w")

LARGE_ELEMENTS = 1 << 24   # quantize weights above 16M elements (64 MB fp32) in row blocks
BLOCK_ELEMENTS = 1 << 22   # of about 4M elements each


def _is_float_weight(m: nn.Module) -> bool:
    w = getattr(m, "weight", None)
    return w is not None and type(w) in (torch.Tensor, nn.Parameter)


def _quantize_rows(module: nn.Module, cfg, block_elements: int = BLOCK_ELEMENTS) -> bool:
    """Quantize module.weight (an nn.Linear or nn.Embedding [rows, cols]) with
    `cfg` in blocks of rows; return False (nothing changed) when the result is
    not the row-separable IntxUnpackedToInt8Tensor this relies on."""
    from torchao.quantization import quantize_
    from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import IntxUnpackedToInt8Tensor

    w = module.weight
    rows, cols = w.shape
    step = max(1, block_elements // max(1, cols))
    qdata = None
    scales, zeros = [], []
    first = None
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        if isinstance(module, nn.Embedding):
            part = nn.Embedding(r1 - r0, cols, device="meta")
        else:
            part = nn.Linear(cols, r1 - r0, bias=False, device="meta")
        part.weight = nn.Parameter(w.detach()[r0:r1], requires_grad=False)
        quantize_(part, cfg, filter_fn=lambda m, fqn: True)
        q = part.weight
        if type(q) is not IntxUnpackedToInt8Tensor or q.qdata.shape != (r1 - r0, cols) \
                or tuple(q.block_size)[0] != 1:
            return False
        if first is None:
            first = q
            qdata = torch.empty((rows, cols), dtype=q.qdata.dtype)
        qdata[r0:r1].copy_(q.qdata)
        scales.append(q.scale)
        zeros.append(q.zero_point)
        del part, q
    new = IntxUnpackedToInt8Tensor(
        qdata=qdata,
        scale=torch.cat(scales, 0),
        zero_point=torch.cat(zeros, 0),
        target_dtype=first.target_dtype,
        block_size=first.block_size,
        dtype=first.dtype,
        activation_quantization=first.activation_quantization,
    )
    module.weight = nn.Parameter(new, requires_grad=False)
    return True


def _quantize(model: nn.Module, cfg, filter_fn) -> None:
    """torchao quantize_(model, cfg, filter_fn), large weights in row blocks."""
    from torchao.quantization import quantize_

    for fqn, m in list(model.named_modules()):
        w = getattr(m, "weight", None)
        if w is not None and w.dim() == 2 and w.numel() > LARGE_ELEMENTS and _is_float_weight(m) \
                and filter_fn(m, fqn):
            _quantize_rows(m, cfg)
    quantize_(model, cfg, filter_fn=lambda m, fqn: _is_float_weight(m) and filter_fn(m, fqn))


def _filter(group_size: int):
    def fn(m, fqn):
        if not isinstance(m, nn.Linear):
            return False
        if not _is_float_weight(m):
            return False  # already quantized (a torchao tensor subclass), e.g. layer by layer at build time
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
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig
    from torchao.quantization.granularity import PerAxis, PerGroup

    if mode == "int8":
        cfg = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0))
        _quantize(model, cfg, _filter(0))
        return {"mode": "int8", "scheme": "int8 dynamic activations, int8 per-channel weights (torchao)",
                "layers": "nn.Linear"}
    if mode == "8da4w":
        cfg = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(group_size))
        _quantize(model, cfg, _filter(group_size))
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
    from torchao.quantization import IntxWeightOnlyConfig
    from torchao.quantization.granularity import PerAxis, PerGroup

    if mode == "int8":
        cfg = IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0))
        scheme = "int8 per-row weight-only (torchao)"
    else:
        cfg = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(32))
        scheme = "int4 weight-only, groups of 32 (torchao)"
    _quantize(model, cfg, lambda m, fqn: isinstance(m, nn.Embedding))
    return {"mode": mode, "scheme": scheme, "layers": "nn.Embedding"}
