"""Any Hugging Face decoder-only causal LM, built from a "source" description
(shared by export_causal_lm, check and estimate so the eager reference is
exactly what was exported).

source = {"kind": "causal_lm", "model_dir": str | None, "random_config": ARCH | None,
          "config_json": str | None, "seed": int, "layers": int | None, "max_seq_len": int,
          "dtype": "fp32" | "bf16", "quant": "none" | "int8" | "8da4w", "group_size": int,
          "embedding_quant": "none" | "int8" | "int4", "dynamic": bool}

The model is transformers' own modeling code (AutoModelForCausalLM), wrapped by
transformers.integrations.executorch.TorchExportableModuleForDecoderOnlyLM:
a static KV cache registered as buffers, forward(input_ids[1,T] int64,
cache_position[T] int64) -> logits[1,T,vocab]. That is the signature
ExecuTorch's LLM runners call (tokens, start position), so the programs run
there and in optimum-executorch with the metadata methods of metadata().

Why this wrapper and not transformers.exporters.ExecutorchExporter: the
exporter reaches its result through reversible monkey patches of torch and
ExecuTorch internals and its own quantization and lowering; the wrapper is
only the model plus a static cache, so pteflow keeps its own quantization
(quant.py, shared with export_llm), lowering (lowering.py), constant methods,
memory release between stages, and a check that compares against the same
modeling code run eagerly with transformers' dynamic cache.

Refused with a reason, never a traceback (ExportRefused): a model_type with no
causal-LM class in the installed transformers, encoder-decoder models, a
configuration without a KV cache, and a sliding-window model (Gemma 3, Mistral
with sliding_window) asked for a context longer than its window: the
exportable static cache replaces sliding-window layers with full-length ones,
so past the window the program would attend to tokens the model must not see.
"""

from __future__ import annotations

import copy
import json
import os

# Seeded random configurations per architecture (model_type): tiny shapes for
# tests and the demo-like pipelines; every field that sets a tensor shape of
# the real checkpoints is there, so the real layout is exercised.
_COMMON = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
               pad_token_id=0, bos_token_id=1, eos_token_id=2)
RANDOM_CONFIGS = {
    "llama": dict(_COMMON, model_type="llama"),
    "mistral": dict(_COMMON, model_type="mistral", sliding_window=None),
    "qwen2": dict(_COMMON, model_type="qwen2"),
    "qwen3": dict(_COMMON, model_type="qwen3", head_dim=16, tie_word_embeddings=True),
    "phi3": dict(_COMMON, model_type="phi3"),
    "smollm3": dict(_COMMON, model_type="smollm3", tie_word_embeddings=True),
    "gemma3_text": dict(_COMMON, model_type="gemma3_text", head_dim=16, sliding_window=256,
                        layer_types=["sliding_attention", "full_attention"]),
    "gpt2": dict(model_type="gpt2", vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=512,
                 bos_token_id=1, eos_token_id=2),
}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "added_tokens.json", "generation_config.json")


class ExportRefused(Exception):
    """The model cannot be exported by this step; the message names why."""


def _read_json(path: str) -> dict:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ExportRefused(f"cannot read '{path}': {e.strerror}") from None
    except ValueError as e:
        raise ExportRefused(f"'{path}' is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ExportRefused(f"'{path}' is not a JSON object")
    return data


def config_dict(source: dict) -> dict:
    """The config.json contents the source describes (no torch import)."""
    if source.get("model_dir"):
        d = _read_json(os.path.join(source["model_dir"], "config.json"))
    elif source.get("config_json"):
        d = _read_json(source["config_json"])
    else:
        name = source.get("random_config") or "llama"
        if name not in RANDOM_CONFIGS:
            raise ExportRefused(f"unknown random config '{name}': use one of {', '.join(RANDOM_CONFIGS)}")
        d = copy.deepcopy(RANDOM_CONFIGS[name])
    return d


def config(source: dict):
    """A transformers PretrainedConfig for the source (layers overridden when asked)."""
    from transformers import AutoConfig

    d = config_dict(source)
    mt = d.get("model_type")
    if not isinstance(mt, str) or not mt:
        raise ExportRefused("the configuration has no model_type; it is not a transformers config.json")
    kw = {k: v for k, v in d.items() if k not in ("model_type", "transformers_version", "architectures",
                                                    "auto_map", "_name_or_path")}
    if d.get("auto_map"):
        raise ExportRefused(f"model_type '{mt}' needs the repository's own code (auto_map, trust_remote_code); "
                            f"pteflow exports only the modeling code that ships with transformers")
    try:
        cfg = AutoConfig.for_model(mt, **kw)
    except (ValueError, KeyError) as e:
        raise ExportRefused(f"model_type '{mt}' is not known to the installed transformers ({first_line(e)})") from None
    if getattr(cfg, "is_encoder_decoder", False):
        raise ExportRefused(f"model_type '{mt}' is an encoder-decoder model; this step exports decoder-only "
                            f"causal LMs")
    layers = int(source.get("layers") or 0)
    if layers:
        text = cfg.get_text_config()
        text.num_hidden_layers = layers
        lt = getattr(text, "layer_types", None)
        if isinstance(lt, list) and len(lt) != layers:
            text.layer_types = [lt[i % len(lt)] for i in range(layers)]
    return cfg


def first_line(e) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else type(e).__name__


def sliding_window(cfg):
    """The attention window of a model with sliding-window layers, else None."""
    text = cfg.get_text_config()
    sw = getattr(text, "sliding_window", None)
    if not sw:
        return None
    lt = getattr(text, "layer_types", None)
    if isinstance(lt, list) and lt and not any("sliding" in str(t) for t in lt):
        return None
    if getattr(text, "use_sliding_window", True) is False:
        return None
    return int(sw)


def check_supported(cfg, max_seq_len: int) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    mt = cfg.model_type
    if mt not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ExportRefused(f"model_type '{mt}' has no causal-LM class in the installed transformers "
                            f"(AutoModelForCausalLM); it is not a decoder-only text generator")
    text = cfg.get_text_config()
    if getattr(text, "use_cache", True) is False:
        raise ExportRefused(f"model_type '{mt}': the configuration disables the KV cache (use_cache: false)")
    sw = sliding_window(cfg)
    if sw is not None and max_seq_len > sw:
        raise ExportRefused(
            f"model_type '{mt}' uses sliding-window attention over {sw} tokens and --max-seq-len is {max_seq_len}: "
            f"the exportable static cache keeps full-length layers, so past {sw} tokens the program would attend "
            f"where the model does not; use --max-seq-len {sw} or less")


def _conv1d_to_linear(model) -> int:
    """GPT-2-style Conv1D (weight [in, out], y = x W + b) to nn.Linear, so the
    quantizers (nn.Linear only) and XNNPACK's linear see them. Same numbers."""
    import torch
    from torch import nn

    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:
        return 0
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                lin = nn.Linear(child.nx, child.nf, bias=True, device="meta")
                lin.weight = nn.Parameter(child.weight.detach().t().contiguous(), requires_grad=False)
                lin.bias = nn.Parameter(child.bias.detach().clone(), requires_grad=False)
                setattr(parent, name, lin)
                n += 1
    if n:
        torch.nn.Module.requires_grad_(model, False)
    return n


def _exportable_experts(model) -> None:
    """Mixture-of-experts models (Mixtral, Qwen2/3-MoE...): transformers'
    default grouped_mm experts lower to a custom op ExecuTorch has no kernel
    for ("Missing out variants: transformers::grouped_mm_fallback");
    batched_mm computes every expert with one batched matmul and exports to
    standard ops (same numbers). Models without experts are left as they are."""
    setter = getattr(model, "set_experts_implementation", None)
    if setter is None:
        return
    try:
        impl = model.get_experts_implementation() if hasattr(model, "get_experts_implementation") else None
    except Exception:
        impl = None
    if not impl:
        return
    try:
        setter("batched_mm")
    except (ValueError, KeyError, RuntimeError, NotImplementedError):
        pass


def build(source: dict, apply_quant: bool = True):
    """Return (model, cfg, qinfo): the transformers causal LM of the source,
    in eval mode, without gradients, quantized as the source says."""
    import torch
    from transformers import AutoModelForCausalLM

    from . import common, quant

    cfg = config(source)
    check_supported(cfg, int(source["max_seq_len"]))
    dtype = torch.bfloat16 if source.get("dtype", "fp32") == "bf16" else torch.float32
    try:
        if source.get("model_dir") and not source.get("layers"):
            model = AutoModelForCausalLM.from_pretrained(source["model_dir"], dtype=torch.float32,
                                                         low_cpu_mem_usage=True)
        elif source.get("model_dir"):
            model = AutoModelForCausalLM.from_pretrained(source["model_dir"], config=cfg, dtype=torch.float32,
                                                         low_cpu_mem_usage=True)
        else:
            torch.manual_seed(int(source.get("seed", 0)))
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    except (ValueError, KeyError, OSError) as e:
        raise ExportRefused(f"transformers could not build model_type '{cfg.model_type}' ({first_line(e)})") from None
    model.eval()
    model.requires_grad_(False)
    _conv1d_to_linear(model)
    _exportable_experts(model)
    common.release_memory()
    if dtype != torch.float32:
        model = model.to(dtype)
    qinfo = {"mode": "none"}
    mode = source.get("quant", "none")
    if apply_quant and mode != "none":
        qinfo = quant.quantize(model, mode, int(source.get("group_size", 32)))
        common.release_memory()
    if apply_quant and source.get("embedding_quant", "none") != "none":
        qinfo["embedding"] = quantize_embeddings(model, source["embedding_quant"])
        common.release_memory()
    return model, cfg, qinfo


def _quant_embedding_class():
    import torch
    from torch import nn

    class _QuantEmbedding(nn.Module):
        """A weight-only quantized embedding table that exports to plain aten
        ops: the int8 (or packed int4) rows of the looked-up tokens are
        gathered, then only those rows are dequantized with their fp32
        scales (symmetric, per row for int8, per group of 32 for int4). Used
        instead of torchao's tensor subclass here because dynamo's trace of
        that subclass leaves its dequantize where ExecuTorch's quant fusion
        cannot turn it into a kernel ("Missing out variants:
        torchao::dequantize_affine"). The same bytes per element as
        export_llm's tables (estimate.embedding_bytes)."""

        def __init__(self, weight, bits: int, embed_scale=None):
            super().__init__()
            rows, cols = weight.shape
            group = cols if bits == 8 else 32
            if cols % group or (bits == 4 and cols % 2):
                raise ExportRefused(f"an embedding table of width {cols} cannot be quantized to int{bits} "
                                    f"in groups of {group}")
            qmax = 127 if bits == 8 else 7
            self.bits, self.cols, self.group, self.out_dtype = bits, cols, group, weight.dtype
            q = torch.empty((rows, cols // 2 if bits == 4 else cols), dtype=torch.uint8 if bits == 4 else torch.int8)
            scale = torch.empty((rows, cols // group), dtype=torch.float32)
            step = max(1, (1 << 22) // cols)        # 4M elements at a time: no full-size float temporaries
            for r0 in range(0, rows, step):
                w = weight[r0:r0 + step].detach().float().reshape(-1, cols // group, group)
                s = (w.abs().amax(-1) / qmax).clamp(min=1e-10)
                v = torch.round(w / s.unsqueeze(-1)).clamp(-qmax - 1, qmax).to(torch.int8).reshape(-1, cols)
                if bits == 4:   # two columns a byte: column j low nibble, column j + cols/2 high
                    u = (v + 8).to(torch.uint8)
                    v = u[:, :cols // 2] | (u[:, cols // 2:] << 4)
                q[r0:r0 + step] = v
                scale[r0:r0 + step] = s
            self.register_buffer("qdata", q)
            self.register_buffer("scale", scale)
            self.embed_scale = None if embed_scale is None else float(embed_scale)

        def forward(self, ids):
            rows = self.qdata[ids]
            if self.bits == 4:  # arithmetic, not bitwise ops: what ExecuTorch's portable kernels all have
                r = rows.to(torch.int32)
                rows = torch.cat([torch.remainder(r, 16) - 8, torch.div(r, 16, rounding_mode="floor") - 8], dim=-1)
            w = rows.to(torch.float32).reshape(*ids.shape, self.cols // self.group, self.group)
            out = (w * self.scale[ids].unsqueeze(-1)).reshape(*ids.shape, self.cols)
            if self.embed_scale is not None:
                out = out * self.embed_scale
            return out.to(self.out_dtype)

    return _QuantEmbedding


def quantize_embeddings(model, mode: str) -> dict:
    """Every nn.Embedding (token and, for GPT-2, position tables) replaced by
    a weight-only quantized table (int8 per row, or int4 in groups of 32).
    Gemma's scaled embedding keeps its scale. A tied lm_head keeps its own
    weight (quantized by quantize() before, or float)."""
    from torch import nn

    if mode not in ("int8", "int4"):
        raise ExportRefused(f"unknown embedding quantization '{mode}': use none, int8 or int4")
    cls = _quant_embedding_class()
    bits = 8 if mode == "int8" else 4
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Embedding):
                scale = getattr(child, "embed_scale", None)
                if scale is not None and hasattr(scale, "item"):
                    scale = scale.item()
                setattr(parent, name, cls(child.weight, bits, scale))
                n += 1
    scheme = "int8 per-row weight-only" if bits == 8 else "int4 weight-only, groups of 32"
    return {"mode": mode, "scheme": scheme + " (symmetric, fp32 scales; gathered rows dequantized)",
            "layers": "nn.Embedding", "tables": n}


def exportable(model, max_seq_len: int):
    """The module torch.export traces: the model plus a static KV cache of
    max_seq_len positions; forward(input_ids, cache_position) -> logits."""
    from transformers import GenerationConfig
    from transformers.integrations.executorch import TorchExportableModuleForDecoderOnlyLM

    model.generation_config = GenerationConfig(use_cache=True, cache_implementation="static",
                                               cache_config={"batch_size": 1, "max_cache_len": max_seq_len})
    try:
        wrapper = TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=max_seq_len)
    except (AssertionError, ValueError, TypeError, AttributeError, NotImplementedError) as e:
        raise ExportRefused(f"transformers cannot give model_type '{model.config.model_type}' a static KV cache "
                            f"for export ({first_line(e)})") from None
    return wrapper.model


def export(module, max_seq_len: int, dynamic: bool):
    """torch.export the exportable module (strict: traced by dynamo, which
    handles transformers' cache and mask code; the non-strict trace of the
    wrapper fails in to_edge's decompositions); a failure is an ExportRefused
    naming the architecture."""
    import torch
    from torch.export import Dim

    n = 2 if dynamic else 1
    ids = torch.zeros((1, n), dtype=torch.long)
    pos = torch.arange(n, dtype=torch.long)
    shapes = None
    if dynamic:
        t = Dim("tokens", min=1, max=max_seq_len)
        shapes = {"input_ids": {1: t}, "cache_position": {0: t}}
    try:
        return torch.export.export(module, (), {"input_ids": ids, "cache_position": pos},
                                   dynamic_shapes=shapes, strict=True)
    except Exception as e:  # torch.export raises many kinds (Unsupported, UserError, AssertionError...)
        mt = getattr(getattr(module, "model", None), "config", None)
        mt = getattr(mt, "model_type", "?")
        raise ExportRefused(f"torch.export could not trace model_type '{mt}' with a static cache "
                            f"({type(e).__name__}: {first_line(e)})") from None


def _ids(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value if v is not None]
    return [int(value)]


def metadata(cfg, source: dict, model_dir=None) -> dict:
    """Constant methods ExecuTorch's LLM runner (get_max_seq_len required,
    get_max_context_len, get_eos_ids, use_kv_cache, enable_dynamic_shape,
    use_sdpa_with_kv_cache) and optimum-executorch (get_bos_id, get_vocab_size,
    get_max_batch_size, get_dtype, get_n_layers, get_head_dim, ...) read.
    EOS ids come from generation_config.json when the checkpoint has one (chat
    models end turns there), else from config.json."""
    text = cfg.get_text_config()
    seq = int(source["max_seq_len"])
    eos = _ids(getattr(text, "eos_token_id", None))
    bos = _ids(getattr(text, "bos_token_id", None))
    if model_dir:
        gpath = os.path.join(model_dir, "generation_config.json")
        if os.path.isfile(gpath):
            try:
                g = _read_json(gpath)
                eos = _ids(g.get("eos_token_id")) or eos
                bos = _ids(g.get("bos_token_id")) or bos
            except ExportRefused:
                pass
    heads = int(getattr(text, "num_attention_heads"))
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv = getattr(text, "num_key_value_heads", None) or heads
    md = {
        "get_max_seq_len": seq if source.get("dynamic", True) else 1,
        "get_max_context_len": seq,
        "get_vocab_size": int(text.vocab_size),
        "get_n_layers": int(text.num_hidden_layers),
        "get_n_kv_heads": int(kv),
        "get_head_dim": float(head_dim),
        "get_max_batch_size": 1,
        "get_dtype": 15 if source.get("dtype") == "bf16" else 6,
        "use_kv_cache": True,
        "use_sdpa_with_kv_cache": False,
        "enable_dynamic_shape": bool(source.get("dynamic", True)),
    }
    if bos:
        md["get_bos_id"] = bos[0]
    if eos:
        md["get_eos_ids"] = eos
    sw = sliding_window(cfg)
    if sw:
        md["sliding_window"] = sw
    return md


def copy_tokenizer(model_dir, out_dir: str):
    """Copy the checkpoint's tokenizer files next to the program; return their paths."""
    import shutil

    if not model_dir:
        return []
    out = []
    for name in TOKENIZER_FILES:
        src = os.path.join(model_dir, name)
        if os.path.isfile(src):
            dst = os.path.join(out_dir, name)
            if os.path.abspath(src) != os.path.abspath(dst):
                tmp = dst + ".part"
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            out.append(dst)
    return out


def parameter_count(cfg) -> int:
    """Parameters of the float model (tied tables counted once), built on the meta device."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg)
    seen = set()
    n = 0
    for p in m.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def eager_logits(model, steps):
    """transformers' model run eagerly with its own dynamic KV cache, fed the
    same tokens as the program ([(tokens[1,T], positions[T])...], prefill
    first); returns one logits tensor per step."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    out = []
    with torch.no_grad():
        for tokens, pos in steps:
            r = model(input_ids=tokens, past_key_values=cache, use_cache=True, cache_position=pos)
            out.append(r.logits.float())
    return out
