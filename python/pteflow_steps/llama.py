"""A small, self-contained Llama-family decoder written for torch.export.

Used by export_llm, export_lora and check. It matches Hugging Face's
LlamaForCausalLM numerically (same parameter names as the HF checkpoint,
rotate-half RoPE with the "llama3" frequency scaling, grouped-query attention,
RMSNorm, SwiGLU, tied embeddings) but keeps the KV cache as fixed-size
registered buffers updated in place with index_copy_, so the exported graph
has static shapes except the token dimension.

forward(tokens[1, T] int64, input_pos[T] int64) -> logits[1, T, vocab] float32
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, asdict, field
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LlamaConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 160
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: Optional[int] = None
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 2048
    # LoRA (export_lora): rank 0 = no adapters
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: tuple = field(default=("q_proj", "v_proj"))

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def to_json(self) -> dict:
        d = asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        return d


# Named configurations for --random-config: "tiny" exports in seconds;
# "llama3.2-1b", "llama3.2-3b" and "llama3.1-8b" have the real dimensions of
# meta-llama/Llama-3.2-1B(-Instruct), Llama-3.2-3B(-Instruct) and
# Llama-3.1-8B(-Instruct) (their published config.json).
def _llama3(rope_factor: float, **dims) -> LlamaConfig:
    """A Llama 3.x shape: the dimensions given, with the family's RoPE (llama3 scaling) and norms."""
    return LlamaConfig(
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": rope_factor,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        max_position_embeddings=131072,
        **dims,
    )


RANDOM_CONFIGS: Dict[str, LlamaConfig] = {
    "tiny": LlamaConfig(),
    "llama3.2-1b": _llama3(32.0, vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                           num_attention_heads=32, num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama3.2-3b": _llama3(32.0, vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                           num_attention_heads=24, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    "llama3.1-8b": _llama3(8.0, vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
}


def config_from_hf(model_dir: str) -> LlamaConfig:
    """Read a Hugging Face config.json of a Llama-family model."""
    path = os.path.join(model_dir, "config.json")
    with open(path, "r", encoding="utf-8") as f:
        hf = json.load(f)
    mt = hf.get("model_type", "llama")
    if mt not in ("llama",):
        raise ValueError(f"model_type '{mt}' in '{path}' is not supported: only Llama-family (model_type llama)")
    # transformers >= 5 writes "rope_parameters" (with rope_theta inside); the
    # published Llama 3.2 config.json has "rope_theta" and "rope_scaling".
    rp = hf.get("rope_parameters") or {}
    rope_theta = hf.get("rope_theta", rp.get("rope_theta", 10000.0))
    rope_scaling = hf.get("rope_scaling") or ({k: v for k, v in rp.items() if k != "rope_theta"} or None)
    if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) not in ("llama3", "default", None):
        raise ValueError(f"rope scaling '{rope_scaling.get('rope_type')}' in '{path}' is not supported (llama3 or none)")
    return LlamaConfig(
        vocab_size=int(hf["vocab_size"]),
        hidden_size=int(hf["hidden_size"]),
        intermediate_size=int(hf["intermediate_size"]),
        num_hidden_layers=int(hf["num_hidden_layers"]),
        num_attention_heads=int(hf["num_attention_heads"]),
        num_key_value_heads=int(hf.get("num_key_value_heads") or hf["num_attention_heads"]),
        head_dim=hf.get("head_dim"),
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-5)),
        rope_theta=float(rope_theta),
        rope_scaling=rope_scaling,
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_position_embeddings=int(hf.get("max_position_embeddings", 2048)),
    )


def rope_inv_freq(cfg: LlamaConfig) -> torch.Tensor:
    dim = cfg.hd
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    rs = cfg.rope_scaling or {}
    if rs.get("rope_type", rs.get("type")) == "llama3":
        factor = float(rs["factor"])
        lf = float(rs["low_freq_factor"])
        hf = float(rs["high_freq_factor"])
        old = float(rs["original_max_position_embeddings"])
        low_wl = old / lf
        high_wl = old / hf
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lf) / (hf - lf)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wl >= high_wl) & (wl <= low_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv.to(torch.float32)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dt)


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B(A(x)). Adapter parameter names contain "lora"."""

    def __init__(self, in_f: int, out_f: int, rank: int, alpha: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_f, in_f))
        self.lora_a = nn.Linear(in_f, rank, bias=False)
        self.lora_b = nn.Linear(rank, out_f, bias=False)
        self.scale = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight) + self.scale * self.lora_b(self.lora_a(x))


# When set (uninitialized()), weight matrices are allocated without their
# default random init: the pages of a tensor are only touched (and counted in
# RSS) when its real values are written, so a model filled and quantized layer
# by layer never holds all its float32 weights at once.
_SKIP_INIT = False


@contextlib.contextmanager
def uninitialized():
    global _SKIP_INIT
    old = _SKIP_INIT
    _SKIP_INIT = True
    try:
        yield
    finally:
        _SKIP_INIT = old


def _module(cls, *args, **kwargs) -> nn.Module:
    if _SKIP_INIT:
        return torch.nn.utils.skip_init(cls, *args, **kwargs)
    return cls(*args, **kwargs)


def _linear(cfg: LlamaConfig, name: str, in_f: int, out_f: int) -> nn.Module:
    if cfg.lora_rank > 0 and name in cfg.lora_targets:
        return LoRALinear(in_f, out_f, cfg.lora_rank, cfg.lora_alpha)
    return _module(nn.Linear, in_f, out_f, bias=False)


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig, max_seq_len: int):
        super().__init__()
        self.nh = cfg.num_attention_heads
        self.nkv = cfg.num_key_value_heads
        self.hd = cfg.hd
        h = cfg.hidden_size
        self.q_proj = _linear(cfg, "q_proj", h, self.nh * self.hd)
        self.k_proj = _linear(cfg, "k_proj", h, self.nkv * self.hd)
        self.v_proj = _linear(cfg, "v_proj", h, self.nkv * self.hd)
        self.o_proj = _linear(cfg, "o_proj", self.nh * self.hd, h)
        shape = (1, self.nkv, max_seq_len, self.hd)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x, cos, sin, mask, input_pos):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        self.k_cache.index_copy_(2, input_pos, k.to(self.k_cache.dtype))
        self.v_cache.index_copy_(2, input_pos, v.to(self.v_cache.dtype))
        rep = self.nh // self.nkv
        kk = self.k_cache.repeat_interleave(rep, dim=1)
        vv = self.v_cache.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, kk.transpose(2, 3)) * (1.0 / math.sqrt(self.hd))
        scores = scores + mask
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, vv)
        out = out.transpose(1, 2).reshape(b, t, self.nh * self.hd)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = _linear(cfg, "gate_proj", h, i)
        self.up_proj = _linear(cfg, "up_proj", h, i)
        self.down_proj = _linear(cfg, "down_proj", i, h)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig, max_seq_len: int):
        super().__init__()
        self.self_attn = Attention(cfg, max_seq_len)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, input_pos):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, input_pos)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaInner(nn.Module):
    def __init__(self, cfg: LlamaConfig, max_seq_len: int):
        super().__init__()
        self.embed_tokens = _module(nn.Embedding, cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, max_seq_len) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig, max_seq_len: int):
        super().__init__()
        self.cfg = cfg
        self.max_seq_len = max_seq_len
        self.model = LlamaInner(cfg, max_seq_len)
        if cfg.tie_word_embeddings:
            # No storage of its own: the weight is the embedding table (1 GB in fp32 for Llama 3.2 1B).
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False, device="meta")
            self.lm_head.weight = self.model.embed_tokens.weight
        else:
            self.lm_head = _module(nn.Linear, cfg.hidden_size, cfg.vocab_size, bias=False)
        pos = torch.arange(max_seq_len, dtype=torch.float32)
        freqs = torch.outer(pos, rope_inv_freq(cfg))
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("rope_cos", emb.cos(), persistent=False)
        self.register_buffer("rope_sin", emb.sin(), persistent=False)
        self.register_buffer("positions", torch.arange(max_seq_len), persistent=False)

    def reset_cache(self):
        for m in self.modules():
            if isinstance(m, Attention):
                m.k_cache.zero_()
                m.v_cache.zero_()

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        x = self.model.embed_tokens(tokens)
        cos = self.rope_cos.index_select(0, input_pos).to(x.dtype)
        sin = self.rope_sin.index_select(0, input_pos).to(x.dtype)
        allowed = self.positions.unsqueeze(0) <= input_pos.unsqueeze(1)  # [T, S]
        mask = torch.where(allowed, 0.0, float("-inf")).to(x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask, input_pos)
        x = self.model.norm(x)
        return self.lm_head(x).float()


def _layer_index(name: str) -> Optional[int]:
    """Decoder layer of a parameter name ("model.layers.<i>.<...>"), else None."""
    parts = name.split(".")
    if len(parts) > 3 and parts[0] == "model" and parts[1] == "layers":
        return int(parts[2])
    return None


EMBEDDING = "model.embed_tokens.weight"


def _each_layer_done(model: Llama, after_layer: Optional[Callable[[nn.Module], None]],
                     after_embedding: Optional[Callable[["Llama"], None]] = None):
    """Yield (name, parameter) in named_parameters order; call after_layer(block)
    once every parameter of a decoder layer has been yielded (and written),
    and after_embedding(model) once the embedding table has been."""
    # Names only: holding the Parameter objects here would keep every float
    # weight alive after after_layer() has replaced it by its quantized form.
    names = [n for n, _ in model.named_parameters()]
    for k, name in enumerate(names):
        p = model.get_parameter(name)
        yield name, p
        del p
        if name == EMBEDDING and after_embedding is not None:
            after_embedding(model)
        li = _layer_index(name)
        if after_layer is not None and li is not None:
            nxt = _layer_index(names[k + 1]) if k + 1 < len(names) else None
            if nxt != li:
                after_layer(model.model.layers[li])


def build_random(cfg: LlamaConfig, max_seq_len: int, seed: int,
                 after_layer: Optional[Callable[[nn.Module], None]] = None,
                 after_embedding: Optional[Callable[[Llama], None]] = None) -> Llama:
    """Seeded random weights, deterministic for a given (config, seed).

    Values are drawn in place (normal_ then scale/shift: bit-identical to
    torch.randn(shape) * std), so no full-size temporaries exist.
    after_layer(block), if given, runs once each decoder layer is filled
    (e.g. to quantize it before the next layer is written)."""
    g = torch.Generator().manual_seed(seed)
    with uninitialized():
        m = Llama(cfg, max_seq_len)
    with torch.no_grad():
        for name, p in _each_layer_done(m, after_layer, after_embedding):
            p.normal_(generator=g)
            if p.dim() == 1:
                p.mul_(0.02).add_(1.0)
            else:
                p.mul_(0.02 if "lora_b" not in name else 0.05)
    return m


def load_hf(model: Llama, model_dir: str,
            after_layer: Optional[Callable[[nn.Module], None]] = None,
            after_embedding: Optional[Callable[[Llama], None]] = None) -> Dict[str, int]:
    """Load *.safetensors of a HF Llama checkpoint into `model` (strict on names).

    Tensors are read one at a time (safetensors safe_open, the file mapped only
    while one tensor is copied), in the model's parameter order, so memory
    holds the model plus one tensor, never a whole shard. after_layer(block),
    if given, runs once each decoder layer is loaded."""
    from safetensors import safe_open

    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in '{model_dir}'")
    own = dict.fromkeys(n for n, _ in model.named_parameters())  # names only, in order (see _each_layer_done)
    where: Dict[str, str] = {}
    for fn in files:
        with safe_open(os.path.join(model_dir, fn), framework="pt") as f:
            for k in f.keys():
                if k not in own:
                    if k.endswith("rotary_emb.inv_freq"):
                        continue
                    raise KeyError(f"unexpected tensor '{k}' in '{fn}'")
                where[k] = fn
    missing = [k for k in own if k not in where and not (k == "lm_head.weight" and model.cfg.tie_word_embeddings)
               and "lora_" not in k]
    if missing:
        raise KeyError(f"checkpoint lacks {len(missing)} tensors, first '{missing[0]}'")
    seen = set()
    with torch.no_grad():
        for k, p in _each_layer_done(model, after_layer, after_embedding):
            fn = where.get(k)
            if fn is None:
                continue
            with safe_open(os.path.join(model_dir, fn), framework="pt") as f:
                v = f.get_tensor(k)
            if p.shape != v.shape:
                raise ValueError(f"tensor '{k}' has shape {tuple(v.shape)}, the config says {tuple(p.shape)}")
            p.copy_(v)
            del v
            seen.add(k)
    return {"files": len(files), "tensors": len(seen)}
