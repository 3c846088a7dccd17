"""pteflow step: export a PyTorch module to an ExecuTorch .pte.

Two sources:
  --checkpoint FILE.pt --module pkg.mod:Class   a state dict and the class that
                                                 holds it (constructed without arguments)
  --torchscript FILE.ptl|.pt                     a TorchScript module, converted with
                                                 torch._export.converter.TS2EPConverter
                                                 (ExecuTorch has no TorchScript frontend);
                                                 works when every TorchScript operator maps
                                                 to aten, otherwise the step fails and names
                                                 the converter's complaint
--input-shape gives the example input (e.g. 1,3,32,32); inputs are float32.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import time

from . import common

STEP = "export_module"


def parse_shape(text: str):
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        raise common.StepError(f"input shape '{text}' is not a list of integers like 1,3,32,32") from None
    if not dims or any(d <= 0 for d in dims) or len(dims) > 8:
        raise common.StepError(f"input shape '{text}' must have 1 to 8 positive dimensions")
    return dims


def load_class(spec: str):
    if ":" not in spec:
        raise common.StepError(f"module '{spec}' must be written pkg.mod:Class")
    mod, _, name = spec.partition(":")
    try:
        m = importlib.import_module(mod)
    except ImportError as e:
        raise common.StepError(f"cannot import '{mod}' ({e}); check PYTHONPATH") from None
    cls = getattr(m, name, None)
    if cls is None:
        raise common.StepError(f"module '{mod}' has no class '{name}'")
    return cls


def rebuild_eager(source):
    import torch

    if source.get("torchscript"):
        return torch.jit.load(source["torchscript"], map_location="cpu").eval()
    cls = load_class(source["module"])
    m = cls()
    sd = torch.load(source["checkpoint"], map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise common.StepError(f"checkpoint '{source['checkpoint']}' does not fit '{source['module']}': "
                               f"{len(missing)} missing, {len(unexpected)} unexpected keys "
                               f"(first: '{(list(missing) + list(unexpected))[0]}')")
    return m.eval()


def make_inputs(source, example_inputs, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(tuple(e["shape"]), generator=g) for e in example_inputs)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.export_module", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="state dict (.pt) for --module")
    src.add_argument("--torchscript", help="TorchScript module file (.ptl or .pt)")
    p.add_argument("--module", help="module class pkg.mod:Class (with --checkpoint)")
    p.add_argument("--input-shape", required=True, help="example input shape, e.g. 1,3,32,32")
    p.add_argument("--out", required=True, help="output .pte path")
    p.add_argument("--quant", choices=["none", "int8"], default="none",
                   help="int8: torchao int8 dynamic activations + int8 weights on nn.Linear")
    p.add_argument("--xnnpack", action=argparse.BooleanOptionalAction, default=True)
    common.add_common_args(p)
    a = p.parse_args(argv)
    if a.checkpoint and not a.module:
        p.error("--checkpoint needs --module pkg.mod:Class")
    return a


def main(argv=None):
    a = parse_args(argv)
    v = common.start_export(STEP, a)
    import torch

    from . import lowering, quant

    for f in (a.checkpoint, a.torchscript):
        if f and not os.path.isfile(f):
            raise common.StepError(f"'{f}' does not exist")
    shape = parse_shape(a.input_shape)
    source = {"kind": "module", "module": a.module, "checkpoint": os.path.abspath(a.checkpoint) if a.checkpoint else None,
              "torchscript": os.path.abspath(a.torchscript) if a.torchscript else None, "quant": a.quant}
    tm = common.Timer()
    t0 = time.perf_counter()
    with torch.no_grad():
        with tm("load"):
            model = rebuild_eager(source)
        qinfo = quant.quantize(model, a.quant) if a.quant != "none" else {"mode": "none"}
        example = (torch.randn(shape, generator=torch.Generator().manual_seed(0)),)
        with tm("export"):
            try:
                if source["torchscript"]:
                    if a.quant != "none":
                        raise common.StepError("--quant is not supported with --torchscript; export the checkpoint")
                    ep = _from_torchscript(model, example)
                else:
                    ep = lowering.export_program(model, example)
            except common.StepError:
                raise
            except Exception as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                what = "TorchScript module" if source["torchscript"] else f"'{a.module}'"
                raise common.StepError(f"torch.export cannot export the {what}: {msg}") from None
        del model
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
    print(f"{STEP}: wrote '{a.out}' ({size} bytes) in {total} s", flush=True)
    if source["quant"] != "none":
        source["quant_applied"] = True
    result = {"versions": v, "ok": True, "source": source, "quantization": qinfo, "xnnpack": a.xnnpack,
              "methods": methods, "delegation": summary,
              "example_inputs": [{"name": "input0", "shape": list(shape), "dtype": "float32"}],
              "programs": [{"path": os.path.basename(a.out), "kind": "pte", "size": size, "data": []}],
              "outputs": [common.file_entry(a.out)], "timings_s": dict(tm.t, total=total),
              "peak_rss_bytes": common.peak_rss_bytes()}
    common.write_result(STEP, result, a.out, extra=a.result)
    return 0




def _from_torchscript(ts, example):
    """TorchScript -> ExportedProgram with torch's TS2EPConverter (torch._export.converter).

    ExecuTorch has no TorchScript frontend; the converter maps TorchScript IR to
    aten operators. An operator it cannot map raises, and the step reports it.
    """
    from torch._export.converter import TS2EPConverter

    return TS2EPConverter(ts, example).convert()


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
