"""torch.export -> edge -> (XNNPACK) -> ExecuTorch program, shared by the steps.

The route, measured with torch 2.15.0 / executorch 1.5.1:
  torch.export.export(model, example, dynamic_shapes, strict=False)
  -> executorch.exir.to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
  -> .to_executorch(ExecutorchBackendConfig(...))
Program-data separation (export_lora): constants are tagged twice, as
ExecuTorch's own Llama export does: delegate_external_constants_pass_unlifted
on the unlifted module before a re-export (weights inside the XNNPACK blob,
stored in the .ptd under the SHA-256 of their bytes) and
ExecutorchBackendConfig(external_constants=tag_fn) for constants left outside
the delegate (stored under their fully qualified name).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch


def export_program(model: torch.nn.Module, example: tuple, dynamic_shapes=None,
                   tag_fn: Optional[Callable] = None):
    from torch.export import export

    ep = export(model, example, dynamic_shapes=dynamic_shapes, strict=False)
    if tag_fn is not None:
        from executorch.exir.passes.external_constants_pass import delegate_external_constants_pass_unlifted

        gm = ep.module()
        delegate_external_constants_pass_unlifted(module=gm, gen_tag_fn=tag_fn)
        ep = export(gm, example, dynamic_shapes=dynamic_shapes, strict=False)
        del gm
    return ep


def lower(ep, xnnpack: bool, tag_fn: Optional[Callable] = None, constant_methods=None, step: str = "lower",
          etrecord: Optional[str] = None):
    """Lower an ExportedProgram; return (delegation_summary, executorch_program_manager).

    `ep` may be passed as a one-element list ([ep]): the caller then holds no
    reference and the ExportedProgram (its weights are not shared with the
    edge program) is freed as soon as the edge program exists, before
    to_executorch, where the peak is.
    The delegation summary is taken from the edge program before
    to_executorch (which rewrites the graph in place into out-variants)."""
    from .common import debug_memory, delegation_summary, release_memory

    if isinstance(ep, list):
        ep = ep.pop()

    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower

    partitioners = []
    if xnnpack:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners.append(XnnpackPartitioner())
    edge = to_edge_transform_and_lower(
        ep,
        partitioner=partitioners or None,
        compile_config=EdgeCompileConfig(_check_ir_validity=False),
        constant_methods=constant_methods,
        generate_etrecord=bool(etrecord),
    )
    del ep
    release_memory()
    debug_memory(step, "to_edge_transform_and_lower")
    summary = delegation_summary(edge)
    cfg = ExecutorchBackendConfig(extract_delegate_segments=True, do_quant_fusion_and_const_prop=True,
                                  external_constants=tag_fn if tag_fn is not None else False)
    et = edge.to_executorch(cfg)
    del edge
    if etrecord:
        et.get_etrecord().save(etrecord)
    release_memory()
    debug_memory(step, "to_executorch")
    return summary, et


def method_names(et) -> Sequence[str]:
    try:
        return [p.name for p in et.executorch_program.execution_plan]
    except Exception:
        return ["forward"]


def named_data_keys(et) -> dict:
    """Keys of external data per .ptd name ({file: [keys]}), read back from the serialized data."""
    out = {}
    data = getattr(et, "_tensor_data", None) or {}
    for name, cord in data.items():
        out[name if name.endswith(".ptd") else name + ".ptd"] = ptd_keys(bytes(cord))
    return out


def ptd_keys(blob: bytes) -> list:
    from executorch.exir._serialize._cord import Cord
    from executorch.extension.flat_tensor.serialize.serialize import FlatTensorSerializer

    payload = FlatTensorSerializer().deserialize(Cord(blob))
    return sorted(payload.named_data.keys())
