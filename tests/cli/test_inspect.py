"""`pteflow inspect`: table and --json output on real ExecuTorch files, and the
exit codes (0 sound, 1 fatal finding, 2 usage, 3 cannot open).

Environment (set by ctest): PTEFLOW_BIN, the binary; PTEFLOW_SOURCE_DIR, the
repository (fixtures in tests/resources/pte/).
"""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("PTEFLOW_BIN")
SRC = os.environ.get("PTEFLOW_SOURCE_DIR")

if not BIN or not SRC:
    pytest.skip("PTEFLOW_BIN and PTEFLOW_SOURCE_DIR must be set (ctest sets them)", allow_module_level=True)

RES = os.path.join(SRC, "tests", "resources", "pte")


def fixture(name):
    return os.path.join(RES, name)


def run(*args):
    return subprocess.run([BIN, "inspect", *args], capture_output=True, text=True, timeout=60)


def test_table_on_program_with_header():
    r = run(fixture("add-eh00-segments.pte"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "kind             pte (identifier ET12)" in out
    assert "eh00, 32 bytes: program 1040 bytes, segment base 1152, segment data 4 bytes" in out
    assert "forward" in out
    assert "verdict          OK" in out
    assert "device free RAM" in out


def test_table_shows_xnnpack_delegate():
    r = run(fixture("xnnpack-linear.pte"))
    assert r.returncode == 0, r.stderr
    method_line = [l for l in r.stdout.splitlines() if l.strip().startswith("forward")]
    assert method_line and "XnnpackBackend" in method_line[0]
    assert "backends         1" in r.stdout


def test_json_program():
    r = run(fixture("xnnpack-linear.pte"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "pte"
    assert doc["ok"] is True
    assert doc["file_size"] == os.path.getsize(fixture("xnnpack-linear.pte"))
    assert doc["header"]["extended"] is True
    assert doc["backends"] == ["XnnpackBackend"]
    assert doc["methods"][0]["name"] == "forward"
    assert doc["methods"][0]["delegates"] == ["XnnpackBackend"]
    assert doc["findings"] == []
    size = doc["file_size"]
    assert doc["min_free_ram_bytes"] == size + size * 3 // 5 + 600_000_000
    base = doc["header"]["segment_base_offset"]
    for seg in doc["segments"]:
        assert seg["file_offset"] == base + seg["offset"]


def test_json_separated_pair_keys_agree():
    pte = json.loads(run(fixture("separated-linear.pte"), "--json").stdout)
    ptd = json.loads(run(fixture("separated-linear.ptd"), "--json").stdout)
    assert ptd["kind"] == "ptd"
    assert ptd["ptd"]["version"] == 0
    assert pte["external_keys"], "the separated program should name external tensors"
    assert sorted(pte["external_keys"]) == sorted(ptd["ptd"]["data_keys"])
    assert any(f["severity"] == "warn" and "EXTERNAL" in f["message"] for f in pte["findings"])
    # Same dtype and shape on both sides for each key.
    want = {l["name"]: (l["scalar_type"], l["sizes"]) for l in pte["tensor_layouts"]}
    have = {l["name"]: (l["scalar_type"], l["sizes"]) for l in ptd["tensor_layouts"]}
    assert want == have and want["linear.weight"] == (6, [4, 8])


def test_truncated_file_exits_1(tmp_path):
    data = open(fixture("xnnpack-linear.pte"), "rb").read()
    cut = tmp_path / "cut.pte"
    cut.write_bytes(data[: len(data) - 300])
    r = run(str(cut))
    assert r.returncode == 1
    assert "FATAL" in r.stdout and "truncated" in r.stdout
    assert "verdict          BROKEN" in r.stdout
    doc = json.loads(run(str(cut), "--json").stdout)
    assert doc["ok"] is False and doc["fatal_count"] >= 1


def test_empty_file_exits_1(tmp_path):
    empty = tmp_path / "model.pte"
    empty.write_bytes(b"")
    r = run(str(empty))
    assert r.returncode == 1
    assert "empty" in r.stdout


def test_not_executorch_exits_1(tmp_path):
    other = tmp_path / "notes.pte"
    other.write_bytes(b"this is a text file, not a program" * 4)
    r = run(str(other), "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["kind"] == "unknown"
    assert "not an ExecuTorch file" in doc["findings"][0]["message"]


def test_missing_file_exits_3(tmp_path):
    r = run(str(tmp_path / "absent.pte"))
    assert r.returncode == 3
    assert "does not exist" in r.stderr
    assert r.stdout == ""


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("--bogus", fixture("add-eh00-segments.pte")).returncode == 2
    assert run(fixture("add-eh00-segments.pte"), fixture("xnnpack-linear.pte")).returncode == 2


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert "usage: pteflow inspect FILE [--json]" in r.stdout
    assert "exit codes" in r.stdout


# ---- metadata methods and bundled programs (issue 16) ----
# Fixtures made by ExecuTorch itself: tests/resources/pte/make_fixtures.py.

def test_metadata_values_in_the_table():
    r = run(fixture("linear-metadata.pte"))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "metadata         5" in out
    for line in ("  get_max_seq_len = 128", "  get_eos_ids = [1, 2]", "  use_kv_cache = true",
                 "  get_head_dim = 64.0", '  name = "x"'):
        assert line + "\n" in out, line
    # The getters stay in the methods list.
    assert "methods          6" in out


def test_metadata_values_in_json():
    doc = json.loads(run(fixture("linear-metadata.pte"), "--json").stdout)
    assert doc["metadata"] == {"get_max_seq_len": 128, "get_eos_ids": [1, 2], "use_kv_cache": True,
                               "get_head_dim": 64.0, "name": "x"}
    assert doc["runnable_methods"] == 1
    constant = {m["name"]: m["is_constant"] for m in doc["methods"]}
    assert constant["forward"] is False and constant["get_eos_ids"] is True
    assert isinstance(doc["metadata"]["get_head_dim"], float)
    assert json.loads(run(fixture("xnnpack-linear.pte"), "--json").stdout)["metadata"] == {}


def test_bundled_program_found_by_its_bytes(tmp_path):
    # Named .bin: inspect goes by the BP08 identifier, not the extension.
    path = tmp_path / "bundle.bin"
    path.write_bytes(open(fixture("linear-bundled.bpte"), "rb").read())
    r = run(str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "kind             bpte (identifier BP08)" in out
    assert "test suites      1" in out
    assert "  forward: 2 test cases" in out
    assert "case 0: inputs 1 [float32 [1, 4]]; expected outputs 1 [float32 [1, 3]]" in out
    assert "verdict          OK" in out
    doc = json.loads(run(str(path), "--json").stdout)
    assert doc["kind"] == "bpte" and doc["ok"] is True
    bundle = doc["bundle"]
    assert bundle["version"] == 2 and bundle["test_suite_count"] == 1
    suite = bundle["test_suites"][0]
    assert suite["method"] == "forward" and suite["test_cases"] == 2
    case = suite["cases"][1]
    assert case["input_values"] == [{"type": "tensor", "dtype": "float32", "sizes": [1, 4], "data_bytes": 16}]
    assert case["expected_output_values"][0]["sizes"] == [1, 3]
    # The embedded program is described like a .pte; its segments' file offsets are in the .bpte.
    assert [m["name"] for m in doc["methods"]] == ["forward"]
    data = path.read_bytes()
    start = bundle["program_offset"]
    assert data[start + 4:start + 8] == b"ET12"
    for seg in doc["segments"]:
        assert seg["file_offset"] == start + doc["header"]["segment_base_offset"] + seg["offset"]


def _program_range(path):
    bundle = json.loads(run(str(path), "--json").stdout)["bundle"]
    return bundle["program_offset"], bundle["program_offset"] + bundle["program_size"]


def _patch_outside_program(path, old, new):
    data = bytearray(path.read_bytes())
    start, end = _program_range(path)
    at = data.find(old, end)
    if at < 0:
        at = data.find(old, 0, start)
    assert at >= 0, old
    data[at:at + len(old)] = new
    path.write_bytes(bytes(data))


def test_bundled_suite_for_a_missing_method_exits_1(tmp_path):
    path = tmp_path / "bad.bpte"
    path.write_bytes(open(fixture("linear-bundled.bpte"), "rb").read())
    _patch_outside_program(path, b"forward", b"forwarx")
    r = run(str(path))
    assert r.returncode == 1
    assert 'is for method "forwarx", which the embedded program does not have' in r.stdout
    assert "verdict          BROKEN" in r.stdout


def test_bundled_tensor_data_size_mismatch_exits_1(tmp_path):
    path = tmp_path / "bad.bpte"
    path.write_bytes(open(fixture("linear-bundled.bpte"), "rb").read())
    # sizes [1, 4] -> [1, 5]: the data still holds 16 bytes
    _patch_outside_program(path, bytes([2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0]), bytes([2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]))
    doc = json.loads(run(str(path), "--json").stdout)
    assert doc["ok"] is False
    assert any("carries 16 bytes" in f["message"] for f in doc["findings"] if f["severity"] == "fatal")


def test_bundled_truncated_exits_1(tmp_path):
    data = open(fixture("linear-bundled.bpte"), "rb").read()
    path = tmp_path / "cut.bpte"
    path.write_bytes(data[: len(data) // 2])
    r = run(str(path))
    assert r.returncode == 1
    assert "FATAL" in r.stdout


VERIFY_BUNDLED = r"""
import sys
from executorch.extension.pybindings.portable_lib import _load_bundled_program_from_buffer
data = open(sys.argv[1], "rb").read()
module = _load_bundled_program_from_buffer(data)
for i in range(int(sys.argv[2])):
    outputs = module.verify_result_with_bundled_expected_output("forward", i)
    print("case", i, "ok", tuple(outputs[0].shape))
"""


def _python():
    python = os.environ.get("PTEFLOW_PYTHON")
    if not python or not os.path.exists(python):
        pytest.skip("PTEFLOW_PYTHON (the venv with executorch) is not available")
    probe = subprocess.run([python, "-c", "import executorch.extension.pybindings.portable_lib"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip("executorch's pybindings are not importable: " + probe.stderr[-300:])
    return python


def test_bundled_cases_verify_through_executorch(tmp_path):
    """What inspect counts is what ExecuTorch's own bundled-program API runs and checks."""
    python = _python()
    path = fixture("linear-bundled.bpte")
    doc = json.loads(run(path, "--json").stdout)
    n_cases = doc["bundle"]["test_suites"][0]["test_cases"]
    assert n_cases == 2
    script = tmp_path / "verify_bundled.py"
    script.write_text(VERIFY_BUNDLED)
    r = subprocess.run([python, str(script), path, str(n_cases)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(" ok (1, 3)") == n_cases
    # The check can fail: an expected output changed by one byte is refused by ExecuTorch.
    data = bytearray(open(path, "rb").read())
    start, end = _program_range(path)
    import struct
    probe = subprocess.run([python, "-c", VERIFY_BUNDLED.replace('print("case", i, "ok", tuple(outputs[0].shape))',
                                                                 'print(*outputs[0].flatten().tolist())'),
                            path, "1"], capture_output=True, text=True, timeout=600)
    values = [float(x) for x in probe.stdout.split()]
    expected = struct.pack("<3f", *values)
    at = data.find(expected, end)
    if at < 0:
        at = data.find(expected, 0, start)
    assert at >= 0, "expected output bytes of case 0 not found outside the program"
    data[at:at + 4] = struct.pack("<f", values[0] + 1.0)
    bad = tmp_path / "tampered.bpte"
    bad.write_bytes(bytes(data))
    assert run(str(bad)).returncode == 0, "structurally still sound"
    r = subprocess.run([python, str(script), str(bad), "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
