#!/usr/bin/env python3
"""Regenerate the metadata-method and bundled-program samples (issue 16).

Run with the project's virtual environment (torch + executorch):

    python tests/resources/pte/make_fixtures.py [OUTDIR]

Writes into OUTDIR (default: this script's folder):
  linear-bundled.bpte   Linear(4, 3) exported with to_edge -> to_executorch, wrapped in an
                        ExecuTorch BundledProgram with one suite ("forward") of 2 test cases
                        (serialize_from_bundled_program_to_flatbuffer)
  linear-metadata.pte   the same Linear with metadata methods: to_edge(..., constant_methods=
                        {"get_max_seq_len": 128, "get_eos_ids": [1, 2], "use_kv_cache": True,
                        "get_head_dim": 64.0, "name": "x"})
Every file is kept small (make_samples.write refuses 64 KiB or more). Seeds are fixed; the tests check structure and values, not
hashes, so a regeneration with other versions should still pass.
"""
import os
import sys

import torch
from executorch.devtools import BundledProgram
from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer
from executorch.exir import to_edge
from make_samples import write  # this folder is on sys.path when the script runs

METADATA = {"get_max_seq_len": 128, "get_eos_ids": [1, 2], "use_kv_cache": True, "get_head_dim": 64.0, "name": "x"}


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(x)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = Linear().eval()
    example = (torch.randn(1, 4),)

    exported = torch.export.export(model, example, strict=True)
    program = to_edge(exported).to_executorch()
    inputs = [(torch.randn(1, 4),), (torch.randn(1, 4),)]
    cases = [MethodTestCase(inputs=x, expected_outputs=(model(*x),)) for x in inputs]
    bundled = BundledProgram(program, [MethodTestSuite(method_name="forward", test_cases=cases)])
    write(os.path.join(out, "linear-bundled.bpte"), serialize_from_bundled_program_to_flatbuffer(bundled))

    exported = torch.export.export(model, example, strict=True)
    program = to_edge(exported, constant_methods=METADATA).to_executorch()
    write(os.path.join(out, "linear-metadata.pte"), program.buffer)


if __name__ == "__main__":
    main()
