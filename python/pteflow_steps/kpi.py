"""pteflow step: runtime KPIs of an exported LLM program, measured the way an
app runs it.

A supervisor (this process) starts a session process that loads the .pte
(+ .ptd) through ExecuTorch's runtime and runs a chat-like session: a seeded
prompt, greedy decode, the next prompt continuing the KV cache, until the
context is full; then a fresh session at position 0. Turns go on until both
--turns turns ran and --duration seconds passed. After each turn the session
process reports one JSON line: prefill tokens/s, time to first token, decode
tokens/s and its resident memory. The supervisor keeps those lines, so a
session that dies (a signal, an abort in native code, an exception) is
reported as a crash at the turn it was running, and the result is still
written.

Leak: the least-squares slope of resident memory over the turns after the
warm-up (--warmup), times the number of those turns, is the growth the soak
measured; pteflow gates it against soak.max_growth (noise threshold).
Figures are medians over the turns after the warm-up. Everything is measured
on this host's CPU with --threads threads (default: every core): a host is a
proxy for a phone and the result says so.

pteflow evaluates the gates (the step's `kpi:` block) on this step's result;
the step itself exits 0 when it measured, crash included, and 1 when it could
not measure (no program, not an LLM program).

Fault injection for tests (hidden options): --test-leak-bytes N keeps N more
bytes alive after every turn; --test-crash-turn K kills the session process
with SIGSEGV during turn K.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time

from . import common

STEP = "kpi"
DEFAULT_PROMPT = 8
DEFAULT_DECODE = 16


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pteflow_steps.kpi", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pte", required=True, help="the program (.pte)")
    p.add_argument("--data", default=None, help="its external data (.ptd), when it has one")
    p.add_argument("--export-result", default=None,
                   help="the export step's result JSON (for max_seq_len when the program has no get_max_seq_len)")
    p.add_argument("--max-seq-len", type=int, default=0, help="context length (0 = from the program or result)")
    p.add_argument("--turns", type=int, default=int(os.environ.get("PTEFLOW_KPI_TURNS", "0") or 0),
                   help="minimum number of turns (default $PTEFLOW_KPI_TURNS, which pteflow sets from soak.turns, "
                        "else 8)")
    p.add_argument("--duration", type=float,
                   default=int(os.environ.get("PTEFLOW_KPI_DURATION_MS", "0") or 0) / 1000.0,
                   help="minimum session length in seconds (default $PTEFLOW_KPI_DURATION_MS / 1000, else 0)")
    p.add_argument("--warmup", type=int, default=2, help="turns left out of medians and leak slope (default 2)")
    p.add_argument("--prompt-len", type=int, default=DEFAULT_PROMPT, help="tokens per prompt (default 8)")
    p.add_argument("--decode-tokens", type=int, default=DEFAULT_DECODE, help="tokens decoded per turn (default 16)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--no-memory-sampling", dest="memory_sampling", action="store_false",
                   help="do not read resident memory after each turn (for the overhead benchmark)")
    p.add_argument("--out", default=None, help="result JSON path (default: next to the program, <name>.kpi.json)")
    p.add_argument("--session", action="store_true", help=argparse.SUPPRESS)  # the session process
    p.add_argument("--test-leak-bytes", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--test-crash-turn", type=int, default=0, help=argparse.SUPPRESS)
    common.add_common_args(p)
    a = p.parse_args(argv)
    if a.turns <= 0:
        a.turns = 8
    if a.threads <= 0:
        a.threads = os.cpu_count() or 1
    if a.prompt_len < 1 or a.decode_tokens < 0 or a.warmup < 0 or a.duration < 0:
        p.error("--prompt-len must be positive; --decode-tokens, --warmup and --duration not negative")
    return a


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "r", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ---- the session process ----

def _emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _export_source(a) -> dict:
    """The export result's source (max_seq_len, dynamic) when --export-result is given, else {}."""
    if not a.export_result:
        return {}
    try:
        with open(a.export_result, "r", encoding="utf-8") as f:
            er = json.load(f)
        return dict(er.get("source") or {}, **((er.get("programs") or [{}])[0].get("source") or {}))
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        return {}


def _context_len(md, src, a) -> int:
    if a.max_seq_len > 0:
        return a.max_seq_len
    if "get_max_context_len" in md or "get_max_seq_len" in md:
        return int(md.get("get_max_context_len", md.get("get_max_seq_len")))
    if src.get("max_seq_len"):
        return int(src["max_seq_len"])
    raise common.StepError("the context length is unknown: the program has no get_max_seq_len method; "
                           "pass --export-result or --max-seq-len")


def set_runtime_threads(n: int) -> int:
    """The ExecuTorch threadpool (XNNPACK's workers) is not torch's: size it, and return what it reports."""
    try:
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(n)
        return int(portable_lib._threadpool_get_thread_count())
    except Exception:  # a build without the threadpool API: torch's setting is all there is
        return n


def session(a) -> int:
    common.setup_torch(a.threads)
    import torch

    try:  # registers the quantized_decomposed kernels (embedding_byte...) with the runtime
        import executorch.kernels.quantized  # noqa: F401
    except Exception:
        pass
    from executorch.runtime import Runtime

    from .generate import read_metadata

    threads = set_runtime_threads(a.threads)
    t0 = time.perf_counter()
    program = Runtime.get().load_program(a.pte, data_path=a.data)
    forward = program.load_method("forward")
    load_s = time.perf_counter() - t0
    md = read_metadata(program)
    src = _export_source(a)
    context = _context_len(md, src, a)
    # programs with metadata say whether they take several tokens per call; export_llm's say it in the result
    dynamic = bool(md.get("enable_dynamic_shape", src.get("dynamic", True)))
    chunk = int(md.get("get_max_seq_len", context)) if dynamic else 1
    per_turn = a.prompt_len + a.decode_tokens
    if per_turn > context:
        raise common.StepError(f"a turn needs {per_turn} positions (--prompt-len + --decode-tokens); "
                               f"the program's context is {context}")
    # the vocabulary from the logits of one untimed token (its KV entry is overwritten by the first turn)
    vocab = int(md.get("get_vocab_size") or
                forward.execute([torch.zeros((1, 1), dtype=torch.long), torch.zeros(1, dtype=torch.long)])[0].shape[-1])
    import executorch

    _emit({"event": "load", "load_s": load_s, "context": context, "rss_bytes": rss_bytes(), "threads": threads,
           "versions": {"torch": torch.__version__,
                        "executorch": getattr(getattr(executorch, "version", None), "__version__", None)}})
    g = torch.Generator().manual_seed(a.seed)
    kept = []  # --test-leak-bytes
    pos, sess, turn, start = 0, 0, 0, time.perf_counter()
    while turn < a.turns or time.perf_counter() - start < a.duration:
        turn += 1
        if pos + per_turn > context:  # the context is full: a fresh session
            pos, sess = 0, sess + 1
        if a.test_crash_turn and turn == a.test_crash_turn:
            os.kill(os.getpid(), signal.SIGSEGV)
        prompt = torch.randint(0, vocab, (1, a.prompt_len), generator=g)
        t1 = time.perf_counter()
        done = 0
        logits = None
        while done < a.prompt_len:
            n = min(chunk, a.prompt_len - done)
            logits = forward.execute([prompt[:, done:done + n], torch.arange(pos, pos + n, dtype=torch.long)])[0]
            pos += n
            done += n
        nxt = int(logits.reshape(-1, logits.shape[-1])[-1].argmax())
        ttft = time.perf_counter() - t1
        t2 = time.perf_counter()
        for _ in range(a.decode_tokens):
            logits = forward.execute([torch.tensor([[nxt]], dtype=torch.long), torch.tensor([pos], dtype=torch.long)])[0]
            nxt = int(logits.reshape(-1, vocab)[-1].argmax())
            pos += 1
        dec = time.perf_counter() - t2
        if a.test_leak_bytes > 0:
            kept.append(bytearray(b"\x01") * a.test_leak_bytes)
        _emit({"event": "turn", "turn": turn, "session": sess, "position": pos, "prompt_tokens": a.prompt_len,
               "decode_tokens": a.decode_tokens, "ttft_ms": round(ttft * 1000.0, 3),
               "prefill_tps": round(a.prompt_len / ttft, 2) if ttft > 0 else None,
               "decode_tps": round(a.decode_tokens / dec, 2) if dec > 0 and a.decode_tokens else None,
               "rss_bytes": rss_bytes() if a.memory_sampling else None})
    _emit({"event": "end", "peak_rss_bytes": common.peak_rss_bytes(), "elapsed_s": time.perf_counter() - start})
    return 0


# ---- the supervisor ----

def versions():
    """common.versions() without importing torch: the supervisor stays small and starts fast."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "pteflow_steps": os.path.dirname(os.path.abspath(__file__))}
    for name in ("torch", "executorch", "torchao"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            if name != "torchao":
                out[name] = "missing"
    return out


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    m = len(v) // 2
    return round(v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2.0, 3)


def leak(turns, warmup):
    """Slope of resident memory over the turns after warm-up (bytes per turn) and the growth it implies."""
    pts = [(t["turn"], t["rss_bytes"]) for t in turns[warmup:] if t.get("rss_bytes")]
    if len(pts) < 3:
        return None, None, len(pts)
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else 0.0
    return slope, slope * (pts[-1][0] - pts[0][0]), n


def supervise(a, argv):
    cmd = [sys.executable, "-m", "pteflow_steps.kpi", "--session"] + list(argv)
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    turns, load, end, tail = [], None, None, []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        import threading

        def drain():
            for line in proc.stderr:
                sys.stderr.write(line)
                tail.append(line.rstrip())
                del tail[:-20]

        th = threading.Thread(target=drain, daemon=True)
        th.start()
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                print(line.rstrip(), file=sys.stderr)
                continue
            if ev.get("event") == "turn":
                turns.append(ev)
                print(f"{STEP}: turn {ev['turn']} (session {ev['session']}): ttft {ev['ttft_ms']:.1f} ms, "
                      f"prefill {ev['prefill_tps']} tok/s, decode {ev['decode_tps']} tok/s"
                      + (f", rss {ev['rss_bytes'] / 2**20:.1f} MiB" if ev.get("rss_bytes") else ""), flush=True)
            elif ev.get("event") == "load":
                load = ev
            elif ev.get("event") == "end":
                end = ev
        code = proc.wait()
        th.join(timeout=5)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return load, turns, end, code, tail


def crash_of(code, load, turns, end, tail):
    if code == 0 and end is not None:
        return None
    why = [ln for ln in tail if ln.strip()]
    msg = why[-1][:300] if why else ""
    c = {"turn": (turns[-1]["turn"] + 1) if turns else (1 if load else 0),
         "phase": "turn" if load else "load", "exit_code": code if code >= 0 else None,
         "signal": signal.Signals(-code).name if code < 0 else None, "message": msg}
    return c


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    if a.session:
        return session(a)
    v = versions()
    common.print_versions(STEP, v)
    for path, what in ((a.pte, "program"), (a.data, "data file")):
        if path is not None and not os.path.isfile(path):
            raise common.StepError(f"{what} '{path}' does not exist; run the export step first")
    child_argv = [x for x in argv]
    if not any(x == "--threads" or x.startswith("--threads=") for x in child_argv):
        child_argv += ["--threads", str(a.threads)]
    load, turns, end, code, tail = supervise(a, child_argv)
    crash = crash_of(code, load, turns, end, tail)
    if load:
        v.update({k: x for k, x in (load.get("versions") or {}).items() if x})
    if crash and crash["exit_code"] == 1 and not turns and crash["phase"] == "load":
        # the session could not start (not an LLM program, unreadable file): nothing was measured
        raise common.StepError(f"the session could not start: {crash['message']}")
    after = turns[a.warmup:] if len(turns) > a.warmup else turns
    slope, growth, n_leak = leak(turns, a.warmup) if a.memory_sampling else (None, None, 0)
    rss = [t["rss_bytes"] for t in turns if t.get("rss_bytes")]
    peak = max([end["peak_rss_bytes"] if end else 0] + rss + [load["rss_bytes"] if load else 0])
    summary = {
        "load_ms": round(load["load_s"] * 1000.0, 3) if load else None,
        "ttft_ms": median(t["ttft_ms"] for t in after),
        "prefill_tps": median(t["prefill_tps"] for t in after),
        "decode_tps": median(t["decode_tps"] for t in after),
        "peak_rss_bytes": peak or None,
        "rss_slope_bytes_per_turn": round(slope, 1) if slope is not None else None,
        "rss_growth_bytes": int(growth) if growth is not None else None,
        "leak_turns": n_leak,
        "turns": len(turns),
        "sessions": (turns[-1]["session"] + 1) if turns else 0,
        "duration_s": round(end["elapsed_s"], 6) if end else None,
    }
    kpi = {"program": os.path.basename(a.pte), "data": os.path.basename(a.data) if a.data else None,
           "context": load["context"] if load else None, "prompt_tokens": a.prompt_len,
           "decode_tokens": a.decode_tokens, "warmup_turns": a.warmup, "memory_sampling": a.memory_sampling,
           "host": {"cpu_model": cpu_model(), "threads": (load or {}).get("threads") or a.threads, "cpu_count": os.cpu_count(),
                    "machine": platform.machine(),
                    "note": "host is a proxy for a phone: figures measured on this CPU, not on a device"},
           "summary": summary, "crash": crash, "turns": turns}
    result = {"versions": v, "ok": crash is None, "kpi": kpi}
    out = a.out or os.path.splitext(os.path.abspath(a.pte))[0] + ".kpi.json"
    common.write_result(STEP, result, None, extra=out)
    if a.result:
        common.write_result(STEP, result, None, extra=a.result)
    if crash:
        print(f"{STEP}: the runtime process crashed in turn {crash['turn']} "
              f"({crash['signal'] or 'exit ' + str(crash['exit_code'])}){': ' + crash['message'] if crash['message'] else ''}",
              flush=True)
    print(f"{STEP}: {summary['turns']} turns in {summary['sessions']} session(s), {a.threads} threads on "
          f"{kpi['host']['cpu_model']}: load {summary['load_ms']} ms, ttft {summary['ttft_ms']} ms, "
          f"prefill {summary['prefill_tps']} tok/s, decode {summary['decode_tps']} tok/s, peak rss "
          f"{(peak or 0) / 2**20:.1f} MiB, rss growth {summary['rss_growth_bytes']} B", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(STEP, main))
