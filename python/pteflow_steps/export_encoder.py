"""pteflow step: export a BERT-family sentence encoder (e.g.
sentence-transformers/all-MiniLM-L6-v2) to an ExecuTorch .pte.

Loads a Hugging Face snapshot folder (config.json + model.safetensors) with
transformers' BertModel (eager attention), wraps it as the sentence-transformers
pipeline does (mean pooling over the attention mask, then L2 normalisation)
and exports forward(input_ids[1,L] int64, attention_mask[1,L] int64) ->
embeddings[1,hidden] float32 for a fixed sequence length L (--seq-len).
Optional int8 (torchao int8 dynamic activations + int8 weights on nn.Linear)
and XNNPACK delegation.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from . import common

STEP = "export_encoder"




def _wrapper(bert, normalize: bool):
    import torch

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert
            self.normalize = normalize

        def forward(self, input_ids, attention_mask):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
            return pooled

    return Enc().eval()


def rebuild_eager(source, apply_quant=True):
    import torch
    from transformers import AutoConfig, AutoModel

    d = source["model_dir"]
    cfg = AutoConfig.from_pretrained(d)
    if cfg.model_type not in ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet"):
        raise common.StepError(f"model_type '{cfg.model_type}' in '{d}' is not a BERT-family encoder")
    bert = AutoModel.from_pretrained(d, attn_implementation="eager", torch_dtype=torch.float32,
                                     add_pooling_layer=False).eval()
    model = _wrapper(bert, source.get("normalize", True))
    if apply_quant and source.get("quant", "none") != "none":
        from . import quant

        quant.quantize(model, source["quant"])
    return model


def make_inputs(source, example_inputs, seed):
    import torch

    L = int(source["seq_len"])
    vocab = int(source.get("vocab_size", 30522))
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(max(2, L // 2), L + 1, (1,), generator=g))
    ids = torch.randint(1000, vocab, (1, L), generator=g)
    ids[0, 0] = 101  # [CLS]
    ids[0, n - 1] = 102  # [SEP]
    mask = torch.zeros((1, L), dtype=torch.long)
    mask[0, :n] = 1
    ids[0, n:] = 0
    return ids, mask


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.export_encoder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="Hugging Face snapshot folder of a BERT-family model")
    p.add_argument("--out", required=True, help="output .pte path")
    p.add_argument("--seq-len", type=int, default=128, help="fixed input length (default 128)")
    p.add_argument("--quant", choices=["none", "int8"], default="none")
    p.add_argument("--xnnpack", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=True,
                   help="L2-normalise the pooled embedding (sentence-transformers does; default on)")
    common.add_common_args(p)
    a = p.parse_args(argv)
    if not 2 <= a.seq_len <= 4096:
        p.error("--seq-len must be between 2 and 4096")
    return a


def main(argv=None):
    a = parse_args(argv)
    v = common.start_export(STEP, a)
    import json

    import torch

    from . import lowering

    cfgp = os.path.join(a.model_dir, "config.json")
    if not os.path.isfile(cfgp):
        raise common.StepError(f"'{a.model_dir}' has no config.json; pass a Hugging Face snapshot folder")
    with open(cfgp, "r", encoding="utf-8") as f:
        hfcfg = json.load(f)
    if a.seq_len > int(hfcfg.get("max_position_embeddings", 512)):
        raise common.StepError(f"--seq-len {a.seq_len} exceeds the model's max_position_embeddings")
    source = {"kind": "encoder", "model_dir": os.path.abspath(a.model_dir), "seq_len": a.seq_len,
              "quant": a.quant, "normalize": a.normalize, "vocab_size": int(hfcfg.get("vocab_size", 30522))}
    tm = common.Timer()
    t0 = time.perf_counter()
    with torch.no_grad():
        with tm("load"):
            model = rebuild_eager(source, apply_quant=False)
        n_params = sum(p.numel() for p in model.parameters())
        with tm("quantize"):
            from . import quant

            qinfo = quant.quantize(model, a.quant)
        example = make_inputs(source, None, 0)
        with tm("export"):
            ep = lowering.export_program(model, example)
        del model
        gc.collect()
        with tm("lower"):
            summary, et = lowering.lower(ep, a.xnnpack)
        del ep
        methods = list(lowering.method_names(et))
        common.print_delegation(STEP, summary)
        with tm("serialize"):
            size = common.write_program(a.out, et)
        del et
        gc.collect()
    total = round(time.perf_counter() - t0, 3)
    print(f"{STEP}: {hfcfg.get('model_type')} encoder, {n_params / 1e6:.1f}M parameters: wrote '{a.out}' "
          f"({size} bytes) in {total} s", flush=True)
    result = {"versions": v, "ok": True, "source": source, "parameters": n_params, "quantization": qinfo,
              "xnnpack": a.xnnpack, "methods": methods, "delegation": summary,
              "example_inputs": [{"name": "input_ids", "shape": [1, a.seq_len], "dtype": "int64"},
                                 {"name": "attention_mask", "shape": [1, a.seq_len], "dtype": "int64"}],
              "programs": [{"path": os.path.basename(a.out), "kind": "pte", "size": size, "data": []}],
              "outputs": [common.file_entry(a.out)], "timings_s": dict(tm.t, total=total),
              "peak_rss_bytes": common.peak_rss_bytes()}
    common.write_result(STEP, result, a.out, extra=a.result)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
