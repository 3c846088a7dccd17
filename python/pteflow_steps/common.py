"""Shared plumbing of the pteflow export steps: versions, the JSON result
file, the one-line failure contract, safe writing of .pte/.ptd buffers and the
delegation summary of a lowered program.

Contract of every step: exit 0 only when its artifacts are written and
non-empty; on failure a single line "pteflow_steps.<step>: error: <reason>"
on stderr and a non-zero exit. The result JSON goes next to the artifacts and
to $PTEFLOW_RESULT when that is set.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import platform
import sys
import time
import traceback
from typing import Any, Dict, Iterable, List, Optional

RESULT_SCHEMA_VERSION = 1


class StepError(Exception):
    """A failure the user can act on; printed as one line."""


def versions() -> Dict[str, str]:
    # pteflow_steps: the folder of the package that ran (a checkout's python/ or an install's share/pteflow/python)
    out = {"python": platform.python_version(), "pteflow_steps": os.path.dirname(os.path.abspath(__file__))}
    try:
        import torch

        out["torch"] = torch.__version__
    except Exception:  # pragma: no cover - torch is a hard requirement
        out["torch"] = "missing"
    try:
        from executorch import version as etv

        out["executorch"] = getattr(etv, "__version__", "unknown")
    except Exception:
        try:
            from importlib.metadata import version

            out["executorch"] = version("executorch")
        except Exception:
            out["executorch"] = "missing"
    try:
        from importlib.metadata import version

        out["torchao"] = version("torchao")
    except Exception:
        pass
    return out


def print_versions(step: str, v: Dict[str, str]) -> None:
    print(f"{step}: python {v.get('python')}, torch {v.get('torch')}, executorch {v.get('executorch')}", flush=True)


def file_entry(path: str, kind: Optional[str] = None) -> Dict[str, Any]:
    if kind is None:
        ext = os.path.splitext(path)[1].lower()
        kind = {".pte": "pte", ".ptd": "ptd"}.get(ext, "file")
    return {"path": os.path.basename(path), "kind": kind, "size": os.path.getsize(path)}


def write_bytes_checked(path: str, data: bytes, what: str = "program") -> int:
    """Write a serialized buffer atomically; refuse an empty one."""
    if data is None or len(data) == 0:
        raise StepError(f"the serialized {what} for '{path}' is empty; nothing was written (the export produced no bytes)")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    size = os.path.getsize(path)
    if size != len(data):
        raise StepError(f"'{path}' has {size} bytes after writing, expected {len(data)}; check the disk")
    return size


def write_program(path: str, et_program) -> int:
    """Serialize an ExecutorchProgramManager to `path` (never an empty file).

    Streams the serialized pieces with write_to_file (atomically, via a .part
    file) instead of joining them into one contiguous .buffer, which would be
    a second copy of the whole program (1.4 GB for Llama 3.2 1B)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".part"
    try:
        with open(tmp, "wb") as f:
            et_program.write_to_file(f)
            f.flush()
            os.fsync(f.fileno())
        size = os.path.getsize(tmp)
        if size == 0:
            raise StepError(f"the serialized program for '{path}' is empty; nothing was written "
                            "(the export produced no bytes)")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    gc.collect()
    return size


def write_data_files(outdir: str, et_program) -> List[str]:
    """Write the program's external tensor data (.ptd files); return their paths."""
    data = getattr(et_program, "_tensor_data", None) or {}
    paths = []
    for name, cord in data.items():
        fn = name if name.endswith(".ptd") else name + ".ptd"
        p = os.path.join(outdir, fn)
        write_bytes_checked(p, bytes(cord), "tensor data")
        paths.append(p)
    return paths


def delegation_summary(edge_manager) -> Dict[str, Any]:
    """Count delegated vs not delegated operator nodes of a lowered program.

    Walks every method's graph: executorch_call_delegate nodes and the
    operators inside their lowered submodules count as delegated (per
    backend id); other call_function operator nodes count as not delegated.
    """
    import torch
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    per_op: Dict[str, Dict[str, int]] = collections.defaultdict(lambda: {"delegated": 0, "not_delegated": 0})
    backends: Dict[str, int] = collections.Counter()
    delegates = 0

    def opname(n) -> str:
        t = n.target
        name = getattr(t, "__name__", None) or str(t)
        return name

    def walk_inner(gm, backend: str):
        for n in gm.graph.nodes:
            if n.op == "call_function" and n.target.__class__.__name__ != "builtin_function_or_method" \
                    and "getitem" not in str(n.target):
                per_op[opname(n)]["delegated"] += 1

    methods = list(edge_manager.methods) if hasattr(edge_manager, "methods") else ["forward"]
    for m in methods:
        ep = edge_manager.exported_program(m)
        gm = ep.graph_module
        for n in gm.graph.nodes:
            if n.op != "call_function":
                continue
            if "executorch_call_delegate" in str(n.target):
                delegates += 1
                lowered = getattr(gm, n.args[0].target)
                if isinstance(lowered, LoweredBackendModule):
                    backends[lowered.backend_id] += 1
                    orig = getattr(lowered, "original_module", None)
                    if orig is not None:
                        walk_inner(orig.graph_module, lowered.backend_id)
                continue
            if "getitem" in str(n.target):
                continue
            per_op[opname(n)]["not_delegated"] += 1
    total_d = sum(v["delegated"] for v in per_op.values())
    total_n = sum(v["not_delegated"] for v in per_op.values())
    return {
        "delegate_calls": delegates,
        "backends": dict(backends),
        "delegated_nodes": total_d,
        "not_delegated_nodes": total_n,
        "per_operator": {k: per_op[k] for k in sorted(per_op)},
    }


def print_delegation(step: str, summary: Dict[str, Any]) -> None:
    print(f"{step}: delegation: {summary['delegate_calls']} delegate call(s) {summary['backends']}, "
          f"{summary['delegated_nodes']} node(s) delegated, {summary['not_delegated_nodes']} not delegated", flush=True)
    for op, c in summary["per_operator"].items():
        print(f"{step}:   {op:<48} delegated {c['delegated']:>5}  not delegated {c['not_delegated']:>5}")


def write_result(step: str, result: Dict[str, Any], next_to: Optional[str], extra: Optional[str] = None) -> List[str]:
    """Write result JSON next to `next_to` (a file or folder) and at $PTEFLOW_RESULT."""
    result.setdefault("schema_version", RESULT_SCHEMA_VERSION)
    result.setdefault("step", step)
    text = json.dumps(result, indent=2, sort_keys=False, default=str) + "\n"
    written = []
    targets = []
    if next_to:
        if os.path.isdir(next_to):
            targets.append(os.path.join(next_to, f"{step}.result.json"))
        else:
            base = os.path.splitext(next_to)[0]
            targets.append(base + f".{step}.json")
    env = os.environ.get("PTEFLOW_RESULT")
    if env:
        targets.append(env)
    if extra:
        targets.append(extra)
    for t in targets:
        d = os.path.dirname(os.path.abspath(t))
        os.makedirs(d, exist_ok=True)
        tmp = t + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, t)
        written.append(t)
    return written


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--result", default=None,
                   help="also write the result JSON here (in addition to next to the artifact and $PTEFLOW_RESULT)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")


def add_llm_args(p: argparse.ArgumentParser) -> None:
    """The options export_llm and export_causal_lm share (the estimator reads them through each step's parser)."""
    p.add_argument("--max-seq-len", type=int, default=128,
                   help="KV cache length and longest prompt chunk (default 128)")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--quant", choices=["none", "int8", "8da4w"], default="none")
    p.add_argument("--embedding-quant", choices=["none", "int8", "int4"], default="none",
                   help="weight-only embedding tables: int8 per row or int4 in groups of 32 "
                        "(the Llama 3.2 1B table is 1.05 GB in fp32)")
    p.add_argument("--group-size", type=int, default=32, help="8da4w weight group size (default 32)")
    p.add_argument("--xnnpack", action=argparse.BooleanOptionalAction, default=True,
                   help="delegate to XNNPACK (default on)")
    p.add_argument("--dynamic", action=argparse.BooleanOptionalAction, default=True,
                   help="dynamic token dimension 1..max-seq-len (default on); --no-dynamic exports T=1 only")


def check_llm_args(p: argparse.ArgumentParser, a) -> None:
    if a.max_seq_len < 2 or a.max_seq_len > 131072:
        p.error("--max-seq-len must be between 2 and 131072")
    if a.group_size < 1:
        p.error("--group-size must be positive")
    if a.dtype == "bf16" and a.quant != "none":
        p.error(f"--dtype bf16 with --quant {a.quant} cannot be lowered: XNNPACK's dynamically quantized "
                f"linear kernels take fp32 activations (ExecuTorch's own quantized Llama recipes export with "
                f"fp32); use --dtype fp32 with --quant, or --dtype bf16 without it")


def run_main(step: str, main_fn, argv: Optional[Iterable[str]] = None) -> int:
    """Run a step's main; map failures to one line on stderr and exit codes.

    Exit codes: 0 ok; 1 the step failed (export, check over tolerance, load
    failure); 2 bad usage (argparse).
    """
    try:
        rc = main_fn(list(argv) if argv is not None else None)
        return int(rc or 0)
    except StepError as e:
        print(f"pteflow_steps.{step}: error: {e}", file=sys.stderr, flush=True)
        return 1
    except MemoryError:
        print(f"pteflow_steps.{step}: error: out of memory; raise the step's memory limit or quantize first",
              file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"pteflow_steps.{step}: error: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as e:  # unexpected: keep the traceback for the log, one summary line last
        if os.environ.get("PTEFLOW_STEPS_TRACEBACK", "1") != "0":
            traceback.print_exc(file=sys.stderr)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"pteflow_steps.{step}: error: {type(e).__name__}: {msg}"[:2000], file=sys.stderr, flush=True)
        return 1


PHASE_PREFIX = "PTEFLOW_PHASE="


def phase(name: str) -> None:
    """Tell pteflow a phase of the step starts now: a line PTEFLOW_PHASE=<name> on stdout, which
    pteflow times and draws on the step's memory curve (README "Memory over time"). stderr is
    flushed first so the marker starts a line of the output pteflow reads (both go to one pipe)."""
    sys.stderr.flush()
    sys.stdout.write(f"{PHASE_PREFIX}{name}\n")
    sys.stdout.flush()


def phase_of(timer_name: str) -> str:
    """The phase a Timer section marks: a "build" builds (loads) the weights, and "build_quantize"
    loads and quantizes in one pass, layer by layer (see llm_source.build)."""
    if timer_name.startswith("build"):
        return "load" + timer_name[len("build"):]
    return timer_name


class Timer:
    """Times named sections of a step (its result's timings_s) and marks each as a phase."""

    def __init__(self):
        self.t = {}

    def __call__(self, name):
        timer = self

        class _T:
            def __enter__(self_):
                phase(phase_of(name))
                self_.s = time.perf_counter()

            def __exit__(self_, *a):
                timer.t[name] = round(time.perf_counter() - self_.s, 4)

        return _T()


def start_export(step: str, args) -> Dict[str, str]:
    """The opening every export step shares: print versions, set up torch, check the output name."""
    v = versions()
    print_versions(step, v)
    setup_torch(args.threads, limit_heap=True)
    if not args.out.endswith(".pte"):
        raise StepError(f"output '{args.out}' must end in .pte")
    return v


# Allocations of at least this size get their own mapping from glibc malloc
# (M_MMAP_THRESHOLD), so freeing one hands its pages straight back.
MMAP_THRESHOLD = 1 << 20


def _set_mmap_threshold(nbytes: int) -> bool:
    """mallopt(M_MMAP_THRESHOLD, nbytes); False where the C library is not
    glibc or PTEFLOW_MALLOC_DEFAULT=1 keeps glibc's default (nothing changed)."""
    if os.environ.get("PTEFLOW_MALLOC_DEFAULT", "") not in ("", "0"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, nbytes))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def limit_heap_growth() -> bool:
    """Make glibc serve every allocation of MMAP_THRESHOLD bytes or more with
    its own mapping (mallopt M_MMAP_THRESHOLD; this also stops glibc from
    raising the threshold as large blocks are freed).

    Why: quantizing a 128256 x 2048 table in blocks of rows frees a ~16 MB
    float temporary per block; with glibc's dynamic threshold those blocks
    come from the heap and stay there, fragmented: +0.9 GiB resident after
    one table (measured), none with this setting. PYTORCH's CPU allocator has
    no cache, so the only cost is an mmap/munmap per large tensor."""
    return _set_mmap_threshold(MMAP_THRESHOLD)


def relax_heap_limit() -> bool:
    """After limit_heap_growth, once the large tensors are made: glibc serves
    allocations below 32 MiB (its own dynamic threshold's ceiling) from the
    heap again, so a loop that makes and frees activations of a few MiB (the
    check's decode steps) reuses heap pages instead of mapping and zeroing
    fresh ones each time (measured: the GPT-2 check 33 s with the 1 MiB
    threshold, 20 s with glibc's default)."""
    return _set_mmap_threshold(32 << 20)


def setup_torch(threads: int, limit_heap: bool = False) -> None:
    """Torch for a step: no autograd, `threads` intra-op threads. limit_heap: the
    export steps' glibc setting (limit_heap_growth); the steps that measure or
    compare a program (check, kpi) keep glibc's default, as an app would."""
    import torch

    if limit_heap:
        limit_heap_growth()
    torch.set_grad_enabled(False)
    if threads and threads > 0:
        torch.set_num_threads(threads)


def _status_kib(field: str) -> int:
    try:
        with open("/proc/self/status", "r", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc
    malloc_trim), so a later stage's peak does not sit on an earlier one's."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:  # not glibc: nothing to trim
        pass


_debug_peak_kib = 0


def debug_memory(step: str, label: str) -> None:
    """With PTEFLOW_DEBUG_MEMORY=1, print the current RSS and the peak RSS of
    the stage that just ended, then reset the kernel's peak (VmHWM, via
    /proc/self/clear_refs) so the next stage's peak is its own.
    peak_rss_bytes() still reports the peak of the whole run."""
    global _debug_peak_kib
    if os.environ.get("PTEFLOW_DEBUG_MEMORY", "") in ("", "0"):
        return
    rss = _status_kib("VmRSS")
    hwm = _status_kib("VmHWM")
    _debug_peak_kib = max(_debug_peak_kib, hwm)
    print(f"{step}: memory: {label}: stage peak {hwm / 1048576.0:.2f} GiB, now {rss / 1048576.0:.2f} GiB",
          file=sys.stderr, flush=True)
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_bytes() -> int:
    try:
        import resource

        kib = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except Exception:
        kib = 0
    return max(kib, _debug_peak_kib, _status_kib("VmHWM")) * 1024
