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


def low_memory() -> bool:
    """The memory levers below are on unless PTEFLOW_EXPORT_LOW_MEMORY=0 (a way
    back to ExecuTorch's own behaviour, should a later release need it)."""
    import os

    return os.environ.get("PTEFLOW_EXPORT_LOW_MEMORY", "1") != "0"


class _Release:
    """What shared_weights_for_preprocess knows while one lowering runs."""

    def __init__(self, source=None):
        self.after = {}     # id(partition program) -> weights only that partition reads
        self.by_copy = {}   # id(copy given to preprocess) -> the same list
        self.released = 0   # bytes
        # storage -> the tensors of the ExportedProgram being lowered that hold it: to_edge shares
        # each weight's storage with it (torchao's subclasses unwrapped into new tensor objects), and
        # to_edge_transform_and_lower keeps that program until it returns.
        self.source_views = {}
        if source is not None:
            for values in (source.state_dict, source.constants):
                for t in values.values():
                    for u in _plain_tensors(t):
                        self.source_views.setdefault(_storage_key(u), []).append(u)

    def release(self, t) -> None:
        key = _storage_key(t)
        self.released += t.numel() * t.element_size()
        t.data = torch.empty(t.shape, dtype=t.dtype)
        for u in self.source_views.pop(key, []):
            u.data = torch.empty(u.shape, dtype=u.dtype)


def _plain_tensors(t) -> list:
    """The plain tensors a weight is made of (a torchao subclass flattened into its inner tensors)."""
    if not isinstance(t, torch.Tensor):
        return []
    if type(t) in (torch.Tensor, torch.nn.Parameter):
        return [t]
    flatten = getattr(t, "__tensor_flatten__", None)
    if flatten is None:
        return []
    out = []
    for name in flatten()[0]:
        out.extend(_plain_tensors(getattr(t, name)))
    return out


def _storage_key(t):
    try:
        return t.untyped_storage().data_ptr()
    except RuntimeError:
        return None


def _owner_index(owner):
    """(how many names of the owning program hold each tensor, its placeholders by name): computed once
    per program, before any of its partitions is lowered."""
    aliases = {}
    for values in (owner.state_dict, owner.constants):
        for t in values.values():
            aliases[id(t)] = aliases.get(id(t), 0) + 1
    return aliases, {n.name: n for n in owner.graph.nodes if n.op == "placeholder"}


def _exclusive_weights(node, owner, index) -> list:
    """Weights of the partition behind call_module `node` that nothing else
    reads: parameters and lifted constants (never buffers) that ExecuTorch
    will delete from the owning program after lowering (the node's
    toplevel_input_specs_to_delete), whose placeholder was taken into the
    partition or has it as its only user, and whose tensor no other name of
    the owning program aliases."""
    from torch.export.graph_signature import InputKind

    aliases, placeholders = index
    out = []
    for name, spec in (node.meta.get("toplevel_input_specs_to_delete") or {}).items():
        if spec.kind == InputKind.PARAMETER:
            t = owner.state_dict.get(spec.target)
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            t = owner.constants.get(spec.target)
        else:
            continue
        # A placeholder the partition took in (tagged with its tag) has left the owning graph; one
        # still there must have this partition as its only user.
        ph = placeholders.get(name)
        if (ph is not None and set(ph.users) != {node}) or type(t) not in (torch.Tensor, torch.nn.Parameter):
            continue
        if aliases.get(id(t)) != 1 or t.device.type != "cpu":
            continue
        out.append(t)
    return out


@contextlib.contextmanager
def shared_weights_for_preprocess(enabled: bool = True, source=None):
    """While lowering to XNNPACK, keep one copy of each weight: preprocess gets
    copies of the partitions that share the weights, and a weight only one
    partition reads is released as soon as that partition is serialized.

    ExecuTorch's to_backend deep-copies every partition's program, weights
    included, before any preprocess runs ("in case backends change the graph
    inside preprocess"), then preprocesses them all, then deletes the weights
    from the owning program: for Llama 3.2 1B int8 the peak held the weights,
    their copies and the serialized delegate data at once (4.75 GiB).
    XNNPACK's preprocess rewrites graphs and state-dict entries but never
    writes into a weight, so the graph, signature and dicts are still copied
    and the tensors shared (ExecuTorch's own CUDA backend does the same in its
    low-memory mode). Once a partition's delegate data exists, each weight
    only it reads (_exclusive_weights) gets an untouched placeholder storage
    of the same shape and dtype: ExecuTorch deletes those weights from the
    owning program right after, and to_executorch runs the partitions' graphs
    on fake tensors only. The same goes for the tensors of `source`, the
    ExportedProgram being lowered, that hold the same storage: nothing reads
    that program once the edge program exists (--etrecord does: the caller
    passes no source then). The .pte is byte-identical (tests/cli/
    test_steps.py compares one lowered both ways). Hooks into ExecuTorch
    1.5's backend_api; with an ExecuTorch that lacks them, lowering runs
    unchanged."""
    if not enabled:
        yield None
        return
    try:
        from executorch.backends.xnnpack.xnnpack_preprocess import XnnpackBackend
        from executorch.exir.backend import backend_api

        lower_all = backend_api.lower_all_submodules_to_backend
        preprocess = XnnpackBackend.__dict__["preprocess"]
    except (ImportError, AttributeError, KeyError):
        yield None
        return
    state = _Release(source)
    had_copy = "copy_exported_program_for_preprocess" in XnnpackBackend.__dict__
    old_copy = XnnpackBackend.__dict__.get("copy_exported_program_for_preprocess")

    def lower_all_releasing(backend_id, method_to_submodules_nodes, method_to_tagged_edge_program):
        if backend_id == XnnpackBackend.__name__:
            for method, nodes in method_to_submodules_nodes.items():
                owner = method_to_tagged_edge_program[method]
                index = _owner_index(owner)
                for node in nodes:
                    state.after[id(node.meta["submodule_program"])] = _exclusive_weights(node, owner, index)
        return lower_all(backend_id, method_to_submodules_nodes, method_to_tagged_edge_program)

    def copy_sharing_weights(cls, edge_program, compile_specs):
        c = copy.deepcopy(edge_program, _tensor_memo(edge_program))
        state.by_copy[id(c)] = state.after.pop(id(edge_program), [])
        return c

    def preprocess_releasing(edge_program, compile_specs):
        result = preprocess.__func__(edge_program, compile_specs)
        for t in state.by_copy.pop(id(edge_program), []):
            state.release(t)
        return result

    backend_api.lower_all_submodules_to_backend = lower_all_releasing
    XnnpackBackend.copy_exported_program_for_preprocess = classmethod(copy_sharing_weights)
    XnnpackBackend.preprocess = staticmethod(preprocess_releasing)
    try:
        yield state
    finally:
        state.source_views.clear()
        backend_api.lower_all_submodules_to_backend = lower_all
        XnnpackBackend.preprocess = preprocess
        if had_copy:
            XnnpackBackend.copy_exported_program_for_preprocess = old_copy
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
                    if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.device.type != "cpu":
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

    `ep` may be passed as a one-element list ([ep]): the caller hands the
    ExportedProgram over (and the model it came from, whose tensors it
    shares): each weight is released as soon as the XNNPACK partition that
    reads it is serialized (shared_weights_for_preprocess), and the program is
    freed before to_executorch.
    The delegation summary is taken from the edge program before
    to_executorch (which rewrites the graph in place into out-variants)."""
    from .common import debug_memory, delegation_summary, release_memory

    handed_over = isinstance(ep, list)
    if handed_over:
        ep = ep.pop()

    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower

    partitioners = []
    if xnnpack:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners.append(XnnpackPartitioner())
    # Only a program handed over ([ep]) has its weights released in place: they are the model's own
    # tensors, which the caller no longer uses (an ETRecord serializes them: not then).
    source = ep if handed_over and not etrecord else None
    with shared_weights_for_preprocess(xnnpack and low_memory(), source=source) as released:
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
    # What the memory levers did, for the step's result (tests compare a program lowered both ways).
    summary["low_memory"] = {"enabled": low_memory(),
                             "weights_released_while_lowering": released.released if released is not None else 0,
                             "delegate_originals_dropped": 0}
    if not etrecord and low_memory():
        summary["low_memory"]["delegate_originals_dropped"] = drop_lowered_weights(edge)
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
