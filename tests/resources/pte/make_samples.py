#!/usr/bin/env python3
"""Regenerate the ExecuTorch sample files the .pte reader tests use.

Run with the project's virtual environment (torch + executorch):

    python tests/resources/pte/make_samples.py [OUTDIR]

Writes into OUTDIR (default: this script's folder):
  xnnpack-linear.pte    a small Linear+ReLU model lowered with to_edge_transform_and_lower
                        and XnnpackPartitioner (one XnnpackBackend delegate, blob in a segment)
  separated-linear.pte  a small Linear model exported with program-data separation
  separated-linear.ptd  (ExecutorchBackendConfig(external_constants=True)): its weights live
                        in the .ptd under their fully qualified names
Every file is kept small (< 64 KiB). Seeds are fixed; byte-for-byte output may still change
with the torch/executorch versions, so the tests check structure, not hashes.
"""
import os
import sys
import tempfile

import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

LIMIT = 64 * 1024


class SmallLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return torch.relu(self.linear(x))


def write(path, data):
    if len(data) >= LIMIT:
        sys.exit(f"{path}: {len(data)} bytes, over the {LIMIT}-byte limit for test samples")
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes)")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = SmallLinear().eval()
    example = (torch.randn(1, 8),)

    with torch.no_grad():
        ep = torch.export.export(model, example)
        lowered = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
        prog = lowered.to_executorch()
        write(os.path.join(out, "xnnpack-linear.pte"), prog.buffer)

        ep = torch.export.export(model, example)
        edge = to_edge_transform_and_lower(ep)
        prog = edge.to_executorch(ExecutorchBackendConfig(external_constants=True))
        write(os.path.join(out, "separated-linear.pte"), prog.buffer)
        with tempfile.TemporaryDirectory() as tmp:
            prog.write_tensor_data_to_file(tmp)
            names = sorted(os.listdir(tmp))
            if len(names) != 1:
                sys.exit(f"expected one .ptd from external_constants, got {names}")
            print(f"executorch named the data file {names[0]!r}")
            with open(os.path.join(tmp, names[0]), "rb") as f:
                write(os.path.join(out, "separated-linear.ptd"), f.read())


if __name__ == "__main__":
    main()
