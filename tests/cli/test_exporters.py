"""`pteflow inspect` against ExecuTorch itself, on files ExecuTorch writes now.

The reader in src/pte/ was written from the format (shared docs pte-format.md);
the fixtures in tests/resources/pte/ are a handful of frozen files. This suite
exports a spread of small real programs with the project's venv (torch +
executorch) in one subprocess, reads each one back with ExecuTorch's own
deserializers (the generated-flatbuffers Program reader, the extended header
reader, deserialize_pte_binary, the FlatTensor serializer's deserialize) and
loads every method with the ExecuTorch runtime. Then, for every file:

  (a) `pteflow inspect --json` exits 0, ok, no fatal finding (warnings are
      listed by test_warnings_are_listed), except on the one variant the
      runtime refuses (REFUSED: the pre-0.4 inline-constant layout, written by
      ExecuTorch's own serializer), which is sound but must carry a warning
      giving the runtime's reason;
  (b) it agrees with ExecuTorch on the headers, methods (names, input, output,
      value, instruction and operator counts, backend ids), segments, named
      data keys, constant data, EXTERNAL tensor names with dtype and shape,
      and for a .ptd on its header, version, segments, keys and layouts;
  (c) the runtime loaded every method (so the file is real), or refused the
      REFUSED variant for the reason inspect gives;
  (d) cut by one byte, to its headers only, or to its program without its
      segments, it makes inspect exit 1 with a fatal finding, never crash.

Environment (set by ctest): PTEFLOW_BIN, PTEFLOW_PYTHON. The module is skipped
when PTEFLOW_PYTHON cannot import torch and executorch. About 40 s on 2 cores,
nearly all of it the exports.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

BIN = os.environ.get("PTEFLOW_BIN")
PY = os.environ.get("PTEFLOW_PYTHON") or sys.executable

if not BIN:
    pytest.skip("PTEFLOW_BIN must be set (ctest sets it)", allow_module_level=True)

SKIP_EXIT = 77

# Run by PTEFLOW_PYTHON as `python SCRIPT OUTDIR`: writes OUTDIR/truth.json,
# {variant: {"pte", "ptds", "truth", "loaded", "error"}}. Everything in
# "truth" comes from reading the written bytes back with ExecuTorch's code,
# not from the in-memory program.
EXPORT_SCRIPT = r'''
import json, os, sys, time, traceback

try:
    import torch
    from torch.export import Dim, export
    from executorch.exir import ExecutorchBackendConfig, to_edge, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.schema import Tensor, TensorDataLocation
except ImportError as e:
    print(f"cannot import torch/executorch: {e}", file=sys.stderr)
    sys.exit(SKIP_EXIT)

from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir._serialize._cord import Cord
from executorch.exir._serialize._flatbuffer_program import _flatbuffer_to_program, _program_to_flatbuffer
from executorch.exir._serialize._program import _get_extended_header, deserialize_pte_binary
from executorch.extension.flat_tensor.serialize.serialize import (
    FlatTensorHeader, FlatTensorSerializer, _deserialize_to_flat_tensor)

torch.manual_seed(0)
torch.set_num_threads(2)
OUT = sys.argv[1]


class Portable(torch.nn.Module):
    """Portable kernels only: a TensorList (cat), IntLists (permute, sum), a String
    (rounding_mode), a Double (clamp), Bools, an OptionalTensorList (index with
    None), constants in the constant segment, a tuple output."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)
        self.register_buffer("offset", torch.arange(4, dtype=torch.float32))

    def forward(self, x, y):
        a = self.linear(x) + self.offset
        b = torch.cat([a, y], dim=1).permute(1, 0)
        c = torch.div(b, 3.0, rounding_mode="floor").clamp(min=-0.5)
        return c.sum(dim=[0], keepdim=True), b[:, torch.tensor([0, 1])]


class Lin(torch.nn.Module):
    def __init__(self, n_in=8, n_out=4):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.relu(self.linear(x))


class Encode(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 6)

    def forward(self, x):
        return torch.tanh(self.proj(x)) * 2.0


class Cond(torch.nn.Module):
    """torch.cond: JumpFalseCall and MoveCall instructions."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x + self.w, lambda x: x * self.w, (x,))


class Mutable(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("cache", torch.zeros(4, 3))
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x, pos):
        self.cache.index_copy_(0, pos, x)
        self.count.add_(1.0)
        return self.cache * self.count


class Step(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("state", torch.arange(3, dtype=torch.float32))

    def forward(self, x):
        self.state.add_(x)
        return self.state.clone()


class Peek(Step):
    def forward(self, x):
        self.state.mul_(x)
        return self.state + 0


class DtypeConst(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 8).to(dtype))
        self.register_buffer("b", torch.randn(4).to(dtype))

    def forward(self, x):
        return torch.mul(x, self.w).sum(dim=1) + self.b


class Big(torch.nn.Module):
    """A 17 MiB constant, then a small one placed past 16 MiB in the constant segment."""

    def __init__(self):
        super().__init__()
        self.register_buffer("big", torch.randn(1100, 4096))
        self.register_buffer("small", torch.ones(4096))

    def forward(self, x):
        return (x + self.big).sum(dim=0) + self.small


def xnn(ep, **kw):
    return to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()], **kw)


def portable_inputs():
    return (torch.randn(2, 8), torch.randn(2, 3))


def v_portable():
    return to_edge(export(Portable().eval(), portable_inputs())).to_executorch()


def v_xnnpack():
    return xnn(export(Lin().eval(), (torch.randn(2, 8),))).to_executorch()


def v_xnnpack_inline():
    return xnn(export(Lin().eval(), (torch.randn(2, 8),))).to_executorch(
        ExecutorchBackendConfig(extract_delegate_segments=False))


def v_multi():
    n = Dim("n", min=1, max=16)
    eps = {"forward": export(Lin().eval(), (torch.randn(2, 8),)),
           "encode": export(Encode().eval(), (torch.randn(3, 4),), dynamic_shapes=({0: n},))}
    consts = {"get_dim": 8, "get_scale": 0.5, "get_table": torch.arange(6)}
    return xnn(eps, constant_methods=consts).to_executorch()


def v_aligned():
    return to_edge(export(Portable().eval(), portable_inputs())).to_executorch(
        ExecutorchBackendConfig(segment_alignment=4096, constant_tensor_alignment=64))


def v_aligned_xnnpack():
    return xnn(export(Lin().eval(), (torch.randn(2, 8),))).to_executorch(
        ExecutorchBackendConfig(segment_alignment=1024, delegate_alignment=256))


def v_inline_aligned():
    # Inline blob and tensors aligned to 4096: the header block is padded to 4096 bytes.
    return xnn(export(Lin().eval(), (torch.randn(2, 8),))).to_executorch(ExecutorchBackendConfig(
        extract_delegate_segments=False, delegate_alignment=4096, constant_tensor_alignment=4096))


def v_external():
    return to_edge(export(Portable().eval(), portable_inputs())).to_executorch(
        ExecutorchBackendConfig(external_constants=True))


def v_external_bf16():
    m = DtypeConst(torch.bfloat16).eval()
    return to_edge(export(m, (torch.randn(4, 8, dtype=torch.bfloat16),))).to_executorch(
        ExecutorchBackendConfig(external_constants=True))


def v_external_xnnpack():
    # As python/pteflow_steps/lowering.py does: delegate weights tagged on the unlifted module.
    from executorch.exir.passes.external_constants_pass import delegate_external_constants_pass_unlifted
    example = (torch.randn(2, 8),)
    gm = export(Lin().eval(), example).module()
    delegate_external_constants_pass_unlifted(module=gm, gen_tag_fn=lambda node: "weights")
    return xnn(export(gm, example)).to_executorch(
        ExecutorchBackendConfig(external_constants=lambda node: "weights"))


def v_mutable():
    return to_edge(export(Mutable(), (torch.randn(1, 3), torch.tensor([1])))).to_executorch()


def v_mutable_shared():
    # Two methods sharing one initialized buffer, as the Llama/Voxtral exports do.
    from executorch.exir.passes.init_mutable_pass import InitializedMutableBufferPass
    x = torch.randn(3)
    eps = {"step": export(Step(), (x,)), "peek": export(Peek(), (x,))}
    return to_edge(eps).to_executorch(ExecutorchBackendConfig(
        passes=[InitializedMutableBufferPass(["state"])], emit_mutable_buffer_names=True,
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False, share_mutable_buffers=True)))


def v_cond():
    return to_edge(export(Cond().eval(), (torch.randn(4),))).to_executorch()


def v_fp16():
    m = DtypeConst(torch.float16).eval()
    return to_edge(export(m, (torch.randn(4, 8, dtype=torch.float16),))).to_executorch()


def v_bf16():
    m = DtypeConst(torch.bfloat16).eval()
    return to_edge(export(m, (torch.randn(4, 8, dtype=torch.bfloat16),))).to_executorch()


def v_int8_xnnpack():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    example = (torch.randn(2, 16),)
    gm = export(Lin(16, 8).eval(), example).module()
    gm = prepare_pt2e(gm, XNNPACKQuantizer().set_global(get_symmetric_quantization_config()))
    gm(*example)
    gm = convert_pt2e(gm)
    return xnn(export(gm, example)).to_executorch()


def v_big():
    return to_edge(export(Big(), (torch.randn(1100, 4096),))).to_executorch()


def v_big_xnnpack():
    return xnn(export(Lin(4096, 1100).eval(), (torch.randn(1, 4096),))).to_executorch()


def v_legacy_inline():
    """The pre-0.4 layout, written by ExecuTorch's own serializer: deserialize_pte_binary
    moves the constant segment back inline into Program.constant_buffer (offsets []), and
    _program_to_flatbuffer writes that program as it is. The 17 MiB constant makes an
    18 MB flatbuffer, with offsets inside it beyond 24 bits. ExecuTorch 1.5 runtimes refuse
    this layout; the test expects inspect to say so."""
    with open(os.path.join(OUT, "big.pte"), "rb") as f:
        pte_file = deserialize_pte_binary(f.read())
    assert not pte_file.program.constant_segment.offsets and pte_file.program.constant_buffer
    return _program_to_flatbuffer(pte_file.program).data


VARIANTS = {name[2:].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("v_")}


def write(name, prog):
    pte = os.path.join(OUT, name + ".pte")
    with open(pte, "wb") as f:
        if isinstance(prog, bytes):
            f.write(prog)
        else:
            prog.write_to_file(f)
    ptds = []
    if getattr(prog, "_tensor_data", None):
        d = os.path.join(OUT, name + "-data")
        os.makedirs(d, exist_ok=True)
        prog.write_tensor_data_to_file(d)
        ptds = sorted(os.path.join(d, p) for p in os.listdir(d))
    return pte, ptds


def external_layouts(program):
    out = {}
    for plan in program.execution_plan:
        for v in plan.values:
            t = v.val
            info = getattr(t, "extra_tensor_info", None) if isinstance(t, Tensor) else None
            if info is not None and info.location == TensorDataLocation.EXTERNAL:
                out[info.fully_qualified_name] = [int(t.scalar_type), [int(s) for s in t.sizes]]
    return out


def census(program):
    """Kinds of values and instructions and tensor dtypes: what the variant really exercises."""
    values, instructions, dtypes = set(), set(), set()
    for plan in program.execution_plan:
        for v in plan.values:
            values.add(type(v.val).__name__)
            if isinstance(v.val, Tensor):
                dtypes.add(int(v.val.scalar_type))
        for chain in plan.chains:
            for ins in chain.instructions:
                instructions.add(type(ins.instr_args).__name__)
    return sorted(values), sorted(instructions), sorted(dtypes)


def pte_truth(path):
    data = open(path, "rb").read()
    eh = _get_extended_header(data)
    program = _flatbuffer_to_program(data[: eh.program_size] if eh else data)
    segments = [[s.offset, s.size] for s in (program.segments or [])]
    cs = program.constant_segment
    constant_bytes = sum(len(b.storage) for b in (program.constant_buffer or []))
    if cs is not None and len(cs.offsets) > 1:
        constant_bytes += segments[cs.segment_index][1]
    methods = []
    for plan in program.execution_plan:
        methods.append({
            "name": plan.name, "inputs": len(plan.inputs), "outputs": len(plan.outputs),
            "values": len(plan.values), "instructions": sum(len(c.instructions) for c in plan.chains),
            "operators": len(plan.operators), "delegates": sorted({d.id for d in plan.delegates}),
            "delegate_refs": [[d.id, int(d.processed.location), d.processed.index] for d in plan.delegates]})
    values, instructions, dtypes = census(program)
    # The full deserializer too: it moves every segment back into the program and
    # raises when a segment runs past the data.
    restored = deserialize_pte_binary(data)
    return {
        "file_size": len(data),
        "root_offset": int.from_bytes(data[:4], "little"),
        "header": None if eh is None else {
            "header_length": eh.length, "program_size": eh.program_size,
            "segment_base_offset": eh.segment_base_offset, "segment_data_size": eh.segment_data_size},
        "methods": methods,
        "segments": segments,
        "named_data_keys": [n.key for n in (program.named_data or [])],
        "external": external_layouts(program),
        "constant_buffers": len(program.constant_buffer or []),
        "constant_offsets": list(cs.offsets) if cs is not None else [],
        "constant_bytes": constant_bytes,
        "inline_delegate_blobs": len(program.backend_delegate_data or []),
        "mutable_data_segments": [[m.segment_index, list(m.offsets)] for m in (program.mutable_data_segments or [])],
        "restored_mutable_buffers": len(restored.mutable_data or []),
        "value_kinds": values, "instruction_kinds": instructions, "tensor_dtypes": dtypes,
    }


def ptd_truth(path):
    data = open(path, "rb").read()
    h = FlatTensorHeader.from_bytes(data[8:])
    flat = _deserialize_to_flat_tensor(data[: h.flatbuffer_offset + h.flatbuffer_size])
    payload = FlatTensorSerializer().deserialize(Cord(data))
    layouts = {k: [int(e.tensor_layout.scalar_type), [int(s) for s in e.tensor_layout.sizes]]
               for k, e in payload.named_data.items() if e.tensor_layout is not None}
    return {
        "file_size": len(data),
        "header": {"header_length": h.length, "flatbuffer_offset": h.flatbuffer_offset,
                   "flatbuffer_size": h.flatbuffer_size, "segment_base_offset": h.segment_base_offset,
                   "segment_data_size": h.segment_data_size},
        "version": flat.version,
        "segments": [[s.offset, s.size] for s in flat.segments],
        "keys": sorted(payload.named_data.keys()),
        "layouts": layouts,
    }


def runtime_load(pte, ptds):
    from executorch.runtime import Runtime
    program = Runtime.get().load_program(pte, data_path=ptds[0] if ptds else None)
    for name in sorted(program.method_names):
        program.load_method(name)
    return sorted(program.method_names)


def main():
    results, times = {}, {}
    with torch.no_grad():
        for name, fn in VARIANTS.items():
            t0 = time.perf_counter()
            r = {"pte": None, "ptds": [], "error": None}
            try:
                r["pte"], r["ptds"] = write(name, fn())
            except Exception:
                r["error"] = "export failed:\n" + traceback.format_exc(limit=4)
            results[name] = r
            times[name] = round(time.perf_counter() - t0, 2)
    for name, r in results.items():
        if r["error"]:
            continue
        try:
            r["truth"] = pte_truth(r["pte"])
            r["ptd_truth"] = {os.path.basename(p): ptd_truth(p) for p in r["ptds"]}
        except Exception:
            r["error"] = "ExecuTorch could not read the file back:\n" + traceback.format_exc(limit=4)
            continue
        try:
            r["loaded"] = runtime_load(r["pte"], r["ptds"])
        except Exception:
            r["loaded"] = None
            r["load_error"] = traceback.format_exc(limit=4)
            # The runtime's reason goes to stderr: mark where, for the test to find it.
            print(f"runtime refused {name}", file=sys.stderr, flush=True)
    with open(os.path.join(OUT, "truth.json"), "w") as f:
        json.dump({"variants": results, "export_seconds": times}, f, indent=1)


main()
'''.replace("SKIP_EXIT", str(SKIP_EXIT))

# Each variant, what it must really contain (so a change in ExecuTorch cannot
# quietly turn it into a copy of another), checked against ExecuTorch's reading.
TWO_24 = 1 << 24


def _has_eh(t):
    return t["header"] is not None


def _delegate_locations(t):
    return {loc for m in t["methods"] for _, loc, _ in m["delegate_refs"]}


CLAIMS = {
    "portable": lambda t: _has_eh(t) and len(t["constant_offsets"]) > 1 and not _delegate_locations(t)
    and {"TensorList", "IntList", "OptionalTensorList", "String", "Double", "Bool"} <= set(t["value_kinds"])
    and t["methods"][0]["outputs"] == 2,
    "xnnpack": lambda t: _delegate_locations(t) == {1} and t["inline_delegate_blobs"] == 0,
    "xnnpack-inline": lambda t: _delegate_locations(t) == {0} and t["inline_delegate_blobs"] == 1,
    "multi": lambda t: {m["name"] for m in t["methods"]} == {"forward", "encode", "get_dim", "get_scale", "get_table"}
    and any(m["inputs"] == 0 for m in t["methods"]) and len(t["constant_offsets"]) > 1,
    "aligned": lambda t: t["header"]["segment_base_offset"] % 4096 == 0
    and all(o % 64 == 0 for o in t["constant_offsets"]) and len(t["constant_offsets"]) > 2,
    "aligned-xnnpack": lambda t: t["header"]["segment_base_offset"] % 1024 == 0
    and all(off % 1024 == 0 for off, _ in t["segments"]) and _delegate_locations(t) == {1},
    "inline-aligned": lambda t: _delegate_locations(t) == {0} and t["root_offset"] >= 4096,
    "external": lambda t: set(t["external"]) == {"linear.weight", "linear.bias", "offset"},
    "external-bf16": lambda t: {v[0] for v in t["external"].values()} == {15},
    "external-xnnpack": lambda t: _delegate_locations(t) == {1} and not t["named_data_keys"],
    "mutable": lambda t: "OptionalTensorList" in t["value_kinds"],
    "mutable-shared": lambda t: len(t["methods"]) == 2 and len(t["mutable_data_segments"]) == 1
    and t["restored_mutable_buffers"] > 1,
    "cond": lambda t: {"JumpFalseCall", "MoveCall"} <= set(t["instruction_kinds"]),
    "fp16": lambda t: 5 in t["tensor_dtypes"] and len(t["constant_offsets"]) > 1,
    "bf16": lambda t: 15 in t["tensor_dtypes"] and len(t["constant_offsets"]) > 1,
    "int8-xnnpack": lambda t: _delegate_locations(t) == {1} and len(t["segments"]) >= 3,
    "big": lambda t: max(t["constant_offsets"]) >= TWO_24 and t["segments"][0][1] >= TWO_24,
    "big-xnnpack": lambda t: any(off >= TWO_24 for off, _ in t["segments"]),
    "legacy-inline": lambda t: t["header"] is None and not t["constant_offsets"] and t["constant_buffers"] >= 2
    and t["constant_bytes"] >= TWO_24 and not t["segments"],
}
# Variants the ExecuTorch 1.5.1 runtime (as released) refuses although the layout is valid:
# inspect must accept them with a warning saying so, and the runtime's log must give its reason.
REFUSED = {
    "legacy-inline": ("deprecated inline constant_buffer", "relies on the constant_buffer path"),
}
NAMES = sorted(CLAIMS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exporters")
    script = out / "export_variants.py"
    script.write_text(EXPORT_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONWARNINGS="ignore")
    try:
        r = subprocess.run([PY, str(script), str(out)], capture_output=True, text=True, timeout=900, env=env)
    except OSError as e:
        pytest.skip(f"cannot run PTEFLOW_PYTHON {PY}: {e}")
    if r.returncode == SKIP_EXIT:
        pytest.skip(f"torch/executorch not importable by {PY}: {r.stderr.strip()[-300:]}")
    if r.returncode != 0:
        pytest.fail(f"the export script failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    result = json.loads((out / "truth.json").read_text())
    result["stderr"] = r.stderr
    yield result
    # Three of the programs are 18 MB each: do not leave them in pytest's kept temporary folders.
    shutil.rmtree(out, ignore_errors=True)


def variant(exported, name):
    v = exported["variants"].get(name)
    assert v is not None, f"the export script made no variant {name!r}"
    if v["error"]:
        pytest.fail(f"{name}: {v['error']}")
    return v


_inspected = {}


def inspect(path):
    """`pteflow inspect --json PATH` -> (exit code, document or None, stderr); cached per path."""
    if path not in _inspected:
        r = subprocess.run([BIN, "inspect", "--json", path], capture_output=True, text=True, timeout=120)
        doc = json.loads(r.stdout) if r.stdout.strip() else None
        _inspected[path] = (r.returncode, doc, r.stderr)
    return _inspected[path]


def files_of(v):
    return [v["pte"], *v["ptds"]]


def assert_not_crashed(path, code, err):
    assert "Sanitizer" not in err and "runtime error" not in err, f"{path}: the reader misbehaved:\n{err}"
    assert code in (0, 1), f"{path}: inspect exited {code}:\n{err}"


def test_every_variant_was_exported(exported):
    assert sorted(exported["variants"]) == NAMES
    failed = {n: v["error"] for n, v in exported["variants"].items() if v["error"]}
    assert not failed, failed


@pytest.mark.parametrize("name", NAMES)
def test_variant_has_what_it_claims(exported, name):
    v = variant(exported, name)
    assert CLAIMS[name](v["truth"]), f"{name} does not exercise what it should: {json.dumps(v['truth'])[:3000]}"
    if name.startswith("external"):
        assert len(v["ptds"]) == 1 and v["ptd_truth"], f"{name}: expected one .ptd, got {v['ptds']}"


def _fatal(doc):
    return [f["message"] for f in doc["findings"] if f["severity"] == "fatal"]


@pytest.mark.parametrize("name", NAMES)
def test_inspect_accepts_real_files(exported, name):
    v = variant(exported, name)
    for path in files_of(v):
        code, doc, err = inspect(path)
        assert_not_crashed(path, code, err)
        fatal = _fatal(doc)
        if name in REFUSED and path == v["pte"]:
            needle = REFUSED[name][0]
            warns = [f["message"] for f in doc["findings"] if f["severity"] == "warn"]
            assert any(needle in m for m in warns), \
                f"{path}: the runtime refuses it, inspect should warn why ({needle!r}): {warns}"
        assert code == 0 and doc["ok"] is True and not fatal, f"{path}: a real export was refused: {fatal}\n{err}"


@pytest.mark.parametrize("name", NAMES)
def test_runtime_loads_every_method(exported, name):
    v = variant(exported, name)
    if name in REFUSED:
        assert v.get("loaded") is None, f"{name}: the runtime was expected to refuse it"
        marker = exported["stderr"].index(f"runtime refused {name}")
        assert REFUSED[name][1] in exported["stderr"][:marker], exported["stderr"][-3000:]
        return
    assert v.get("loaded") is not None, f"{name}: the ExecuTorch runtime could not load it:\n{v.get('load_error')}"
    assert v["loaded"] == sorted(m["name"] for m in v["truth"]["methods"])


def _layouts(doc):
    return {l["name"]: [l["scalar_type"], l["sizes"]] for l in doc["tensor_layouts"]}


@pytest.mark.parametrize("name", NAMES)
def test_pte_agrees_with_executorch(exported, name):
    v = variant(exported, name)
    t = v["truth"]
    _, doc, _ = inspect(v["pte"])
    assert doc["kind"] == "pte" and doc["identifier"] == "ET12"
    assert doc["file_size"] == t["file_size"]
    h = doc["header"]
    assert h["extended"] == (t["header"] is not None)
    if t["header"]:
        got = {k: h[k] for k in t["header"]}
        assert got == t["header"]
    # Methods in execution-plan order, with ExecuTorch's counts.
    want = [{k: m[k] for k in ("name", "inputs", "outputs", "values", "instructions", "operators", "delegates")}
            for m in t["methods"]]
    got = [{k: m[k] for k in want[0]} for m in doc["methods"]] if want else doc["methods"]
    assert got == want
    assert doc["backends"] == sorted({d for m in t["methods"] for d in m["delegates"]})
    assert [[s["offset"], s["size"]] for s in doc["segments"]] == t["segments"]
    assert doc["segment_bytes"] == sum(size for _, size in t["segments"])
    if t["header"]:
        base = t["header"]["segment_base_offset"]
        assert [s["file_offset"] for s in doc["segments"]] == [base + off for off, _ in t["segments"]]
    assert doc["named_data_keys"] == t["named_data_keys"]
    assert doc["constant_buffers"] == t["constant_buffers"]
    assert doc["constant_bytes"] == t["constant_bytes"]
    assert doc["external_keys"] == sorted(t["external"])
    assert _layouts(doc) == t["external"]


@pytest.mark.parametrize("name", sorted(n for n in NAMES if n.startswith("external")))
def test_ptd_agrees_with_executorch(exported, name):
    v = variant(exported, name)
    pte_doc = inspect(v["pte"])[1]
    for path in v["ptds"]:
        t = v["ptd_truth"][os.path.basename(path)]
        _, doc, _ = inspect(path)
        assert doc["kind"] == "ptd" and doc["identifier"] == "FT01"
        assert doc["file_size"] == t["file_size"]
        h = doc["header"]
        assert {k: h[k] for k in t["header"]} == t["header"]
        assert doc["ptd"]["version"] == t["version"] and doc["ptd"]["legacy_layout"] is False
        assert [[s["offset"], s["size"]] for s in doc["segments"]] == t["segments"]
        assert doc["ptd"]["data_keys"] == t["keys"]
        assert _layouts(doc) == t["layouts"]
        # The pair as the runtime resolves it: every EXTERNAL name is a key, same dtype and shape.
        assert set(pte_doc["external_keys"]) <= set(doc["ptd"]["data_keys"])
        assert all(_layouts(doc)[k] == l for k, l in _layouts(pte_doc).items())


def _cuts(doc):
    """Lengths to cut a file to: one byte short, its headers only, its flatbuffer without the segments."""
    n, h = doc["file_size"], doc["header"]
    if doc["kind"] == "ptd":
        head, body = h["flatbuffer_offset"], h["flatbuffer_offset"] + h["flatbuffer_size"]
    elif h["extended"]:
        head, body = 8 + h["header_length"], h["program_size"]
    else:
        head, body = 8, n
    return sorted({c for c in (n - 1, head, body) if 0 < c < n})


@pytest.mark.parametrize("name", NAMES)
def test_truncated_files_are_fatal(exported, name, tmp_path):
    v = variant(exported, name)
    for path in files_of(v):
        doc = inspect(path)[1]
        data = open(path, "rb").read()
        for cut in _cuts(doc):
            short = tmp_path / f"{os.path.basename(path)}.{cut}"
            short.write_bytes(data[:cut])
            r = subprocess.run([BIN, "inspect", "--json", str(short)], capture_output=True, text=True, timeout=120)
            assert_not_crashed(short, r.returncode, r.stderr)
            cut_doc = json.loads(r.stdout)
            # A fatal finding of its own: a file refused whole must still be caught as cut.
            fresh = set(_fatal(cut_doc)) - set(_fatal(doc))
            assert r.returncode == 1 and cut_doc["ok"] is False and fresh, \
                f"{path} cut to {cut} of {len(data)} bytes was not refused: {cut_doc['findings']}"
            short.unlink()


def test_warnings_are_listed(exported, capsys):
    """Not a check: prints every warning inspect gave on the real files, and the export times."""
    lines = []
    for name in NAMES:
        v = exported["variants"][name]
        if v["error"]:
            continue
        for path in files_of(v):
            code, doc, _ = inspect(path)
            for f in (doc or {}).get("findings", []):
                if f["severity"] == "warn":
                    lines.append(f"  {name}/{os.path.basename(path)}: WARN {f['message']}")
    with capsys.disabled():
        print(f"\nexporters: inspect warnings on real files: {len(lines)}")
        for line in lines:
            print(line)
        print(f"exporters: export seconds per variant: {exported['export_seconds']}")
