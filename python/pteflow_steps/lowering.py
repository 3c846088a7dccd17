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

import contextlib
import copy
from typing import Callable, Optional, Sequence

import torch


def _tensor_memo(ep) -> dict:
    """deepcopy memo that maps each weight of `ep` to itself (shared, not copied)."""
    return {id(t): t for values in (ep.state_dict, ep.constants) for t in values.values()
            if isinstance(t, torch.Tensor)}


@contextlib.contextmanager
def shared_weights_for_preprocess(enabled: bool = True):
    """While lowering, give XNNPACK's preprocess copies of each partition that
    share the weights instead of duplicating them.

    ExecuTorch's to_backend deep-copies every partition's program (weights
    included) before any preprocess runs, "in case backends change the graph
    inside preprocess": for Llama 3.2 1B int8 that is a second 1.2 GB copy of
    every weight, alive together with the original and the serialized
    delegate data. XNNPACK's preprocess rewrites graphs and state-dict
    entries but never writes into a weight tensor, so the graph, signature
    and dicts are still copied and only the tensors are shared; ExecuTorch's
    own CUDA backend does the same in its low-memory mode."""
    if not enabled:
        yield
        return
    from executorch.backends.xnnpack.xnnpack_preprocess import XnnpackBackend

    had = "copy_exported_program_for_preprocess" in XnnpackBackend.__dict__
    old = XnnpackBackend.__dict__.get("copy_exported_program_for_preprocess")

    def copy_sharing_weights(cls, edge_program, compile_specs):
        return copy.deepcopy(edge_program, _tensor_memo(edge_program))

    XnnpackBackend.copy_exported_program_for_preprocess = classmethod(copy_sharing_weights)
    try:
        yield
    finally:
        if had:
            XnnpackBackend.copy_exported_program_for_preprocess = old
        else:
            del XnnpackBackend.copy_exported_program_for_preprocess


def drop_lowered_weights(edge) -> int:
    """Replace the weights each lowered delegate keeps in its original program
    (LoweredBackendModule.original_module, kept for debugging and ETRecord)
    by placeholders of the same shape and dtype whose pages are never
    touched; return the bytes released.

    Once preprocess has serialized a partition, its weights live on in the
    delegate's data: for Llama 3.2 1B int8 the originals are 1.2 GB that would
    otherwise stay resident through to_executorch and serialization.
    to_executorch still runs the originals' graphs on fake tensors (shapes,
    dtypes and devices only) and never reads or serializes their values.
    torch.empty of a large tensor is a fresh mapping (see
    common.limit_heap_growth): it costs address space, not memory. Nothing
    reads the placeholders; if a later ExecuTorch did, the check step's
    comparison with the eager model would fail loudly. Not used with
    --etrecord, which serializes the originals."""
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    freed = 0
    seen = set()
    for name in edge.methods:
        gm = edge.exported_program(name).graph_module
        for _, mod in gm.named_modules():
            if not isinstance(mod, LoweredBackendModule) or id(mod) in seen:
                continue
            seen.add(id(mod))
            orig = mod.original_module
            for values in (orig.state_dict, orig.constants):
                for k, t in list(values.items()):
                    if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.device.type != "cpu" \
                            or t.numel() * t.element_size() < (1 << 20):
                        continue
                    freed += t.numel() * t.element_size()
                    blank = torch.empty(t.shape, dtype=t.dtype)
                    values[k] = torch.nn.Parameter(blank, requires_grad=False) \
                        if isinstance(t, torch.nn.Parameter) else blank
    return freed


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
    with shared_weights_for_preprocess(xnnpack):
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
    if not etrecord:
        drop_lowered_weights(edge)
        release_memory()
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
