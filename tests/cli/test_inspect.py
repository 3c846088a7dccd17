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
