"""pteflow step: write a small seeded checkpoint (the training side of the
checkpoint pipeline): a state dict (.pt, torch.save) of a module class, with
seeded random weights and batchnorm statistics, and optionally the same
module as TorchScript (--torchscript FILE.ptl).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import common

STEP = "make_checkpoint"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.make_checkpoint", description=__doc__)
    p.add_argument("--module", default="pteflow_steps.models:SmallCNN", help="module class, pkg.mod:Class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="state dict path (.pt)")
    p.add_argument("--torchscript", default=None, help="also save a scripted module here (.ptl/.pt)")
    p.add_argument("--input-shape", default="1,3,32,32", help="input shape used for the TorchScript trace")
    common.add_common_args(p)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    v = common.versions()
    common.print_versions(STEP, v)
    common.setup_torch(a.threads)
    import torch

    from .export_module import load_class, parse_shape

    cls = load_class(a.module)
    torch.manual_seed(a.seed)
    m = cls()
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    m.eval()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    torch.save(m.state_dict(), a.out)
    outs = [common.file_entry(a.out, "file")]
    if a.torchscript:
        ts = torch.jit.trace(m, torch.randn(parse_shape(a.input_shape)))
        ts.save(a.torchscript)
        outs.append(common.file_entry(a.torchscript, "file"))
    for o in outs:
        if o["size"] == 0:
            raise common.StepError(f"'{o['path']}' is empty after saving")
    print(f"{STEP}: wrote {', '.join(o['path'] + ' (' + str(o['size']) + ' bytes)' for o in outs)}", flush=True)
    common.write_result(STEP, {"versions": v, "ok": True, "module": a.module, "seed": a.seed, "outputs": outs},
                        a.out, extra=a.result)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
