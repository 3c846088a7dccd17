"""`pteflow verify` against a release folder of real ExecuTorch files, untouched and tampered with.

Two manifests are used: one crafted here following schemas/manifest.schema.json (so the
reader is held to the schema, not to the writer's habits), and one written by pteflow's own
writer (the verify unit test binary leaves it in a folder when PF_VERIFY_SAMPLE_DIR is set).
Each tamper case checks the exit code and the line that names the file and the problem.
"""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("PTEFLOW_BIN")
SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = os.environ.get("PTEFLOW_BINARY_DIR")
FIXTURES = SRC / "tests" / "resources" / "verify"
SCHEMA = SRC / "schemas" / "manifest.schema.json"

pytestmark = pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set: run through ctest")

FILES = {
    "model.pte": "xnnpack-linear.pte",
    "sep.pte": "separated-linear.pte",
    "weights.ptd": "separated-linear.ptd",
    "add.pte": "add-eh00-segments.pte",
}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def gate(name, **machine):
    g = {"name": name, "expected": "x", "actual": "x", "passed": True}
    g.update(machine)
    return g


def artifact(folder, rel, kind, gates):
    p = folder / rel
    size = p.stat().st_size
    return {
        "path": rel, "kind": kind, "exists": True, "size_bytes": size, "size_gb": round(size / 1e9, 3),
        "sha256": sha256(p), "min_free_ram_bytes": 0, "structure": None, "gates": gates,
        "passed": True, "produced_by": "export",
    }


def craft_manifest(folder):
    arts = [
        artifact(folder, "model.pte", "pte", [gate("max_size", max_size_bytes=1500000000),
                                              gate("methods", methods=["forward"]),
                                              gate("backends", backends=["XnnpackBackend"])]),
        artifact(folder, "sep.pte", "pte", [gate("external_data", data=["weights.ptd"])]),
        artifact(folder, "weights.ptd", "ptd", [gate("min_size", min_size_bytes=16)]),
        artifact(folder, "add.pte", "pte", [gate("methods", methods=["forward"])]),
    ]
    return {
        "schema_version": 1, "pteflow_version": "0.1.0", "runtime": "ExecuTorch",
        "pipeline": {"name": "tamper", "path": "pipelines/tamper.yaml", "sha256": None, "target": None},
        "created": "2026-01-01T00:00:00Z",
        "host": {"os": "Linux", "cpus": 2, "memory_bytes": 1, "memory_available_bytes": 1, "guard_auto": None},
        "git": {"present": False, "repository": None, "commit": None, "branch": None, "dirty": False,
                "describe": None},
        "ci": None, "model": None, "steps": [], "artifacts": arts, "tool_versions": {},
        "duration_ms": 1, "all_gates_passed": True, "status": "passed", "failure": None,
    }


@pytest.fixture
def release(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    for name, fixture in FILES.items():
        shutil.copyfile(FIXTURES / fixture, folder / name)
    manifest = craft_manifest(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def verify(folder, *extra, manifest=None):
    cmd = [BIN, "verify", str(manifest or folder / "manifest.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def edit_manifest(folder, fn):
    p = folder / "manifest.json"
    m = json.loads(p.read_text())
    fn(m)
    p.write_text(json.dumps(m))


def entry(m, path):
    return next(a for a in m["artifacts"] if a["path"] == path)


def test_crafted_manifest_follows_the_schema(release):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this Python")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads((release / "manifest.json").read_text()))


def test_untouched_folder_is_ok_for_every_file(release):
    r = verify(release)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for name in FILES:
        assert f"OK  {name}" in lines
    assert lines[-1] == "verified: all 4 files match the manifest"


def test_json_output(release):
    r = verify(release, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is True
    assert [f["status"] for f in out["files"]] == ["OK"] * 4
    assert out["files"][0]["actual_sha256"] == sha256(release / "model.pte")


def test_flip_one_byte(release):
    p = release / "model.pte"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    r = verify(release)
    assert r.returncode == 1
    assert "MISMATCH  model.pte: expected sha256 " in r.stdout
    assert "OK  sep.pte" in r.stdout
    assert "FAILED: 1 of 4 files do not match the manifest (1 MISMATCH)" in r.stdout


def test_truncate(release):
    p = release / "model.pte"
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size // 2)
    r = verify(release)
    assert r.returncode == 1
    assert f"MISMATCH  model.pte: expected {size} bytes, found {size // 2}" in r.stdout
    assert "the file is truncated" in r.stdout


def test_delete(release):
    (release / "weights.ptd").unlink()
    r = verify(release)
    assert r.returncode == 1
    assert "MISSING  weights.ptd" in r.stdout
    # the .pte whose weights lived there now fails its external data gate, although its bytes match
    assert "STRUCTURE  sep.pte: \"sep.pte\"" in r.stdout
    assert "linear.weight" in r.stdout


def test_rename(release):
    (release / "add.pte").rename(release / "add-renamed.pte")
    r = verify(release)
    assert r.returncode == 1
    assert "MISSING  add.pte: not found in the folder" in r.stdout


def test_swap_two_files(release):
    a, b = release / "model.pte", release / "add.pte"
    tmp = release / "tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    r = verify(release)
    assert r.returncode == 1
    assert 'MISMATCH  model.pte: ' in r.stdout and 'recorded for "add.pte": files swapped or renamed' in r.stdout
    assert 'MISMATCH  add.pte: ' in r.stdout and 'recorded for "model.pte": files swapped or renamed' in r.stdout
    assert "(2 MISMATCH)" in r.stdout


def test_edit_the_manifest_hash(release):
    edit_manifest(release, lambda m: entry(m, "weights.ptd").update(sha256="0" * 64))
    r = verify(release)
    assert r.returncode == 1
    assert "MISMATCH  weights.ptd: expected sha256 0000000000000000.. found " in r.stdout


def test_manifest_not_valid_json(release):
    p = release / "manifest.json"
    p.write_text(p.read_text()[:-40])
    r = verify(release)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not valid JSON" in r.stderr
    assert r.stdout == ""


def test_manifest_wrong_shape(release):
    edit_manifest(release, lambda m: m.pop("artifacts"))
    r = verify(release)
    assert r.returncode == 2
    assert 'no "artifacts" list' in r.stderr


def test_path_escaping_the_folder(release):
    outside = release.parent / "secret.pte"
    shutil.copyfile(FIXTURES / "add-eh00-segments.pte", outside)

    def escape(m):
        a = entry(m, "add.pte")
        a["path"] = "../secret.pte"
        a["sha256"] = sha256(outside)
        m["artifacts"].append(dict(a, path="/etc/passwd"))
    edit_manifest(release, escape)
    r = verify(release)
    assert r.returncode == 1
    assert "UNSAFE  ../secret.pte: path escapes the folder" in r.stdout
    assert "UNSAFE  /etc/passwd: path escapes the folder" in r.stdout
    assert "(2 UNSAFE)" in r.stdout


def test_symlink_is_not_followed(release, tmp_path):
    outside = tmp_path / "outside.pte"
    shutil.copyfile(release / "add.pte", outside)
    (release / "add.pte").unlink()
    (release / "add.pte").symlink_to(outside)
    r = verify(release)
    assert r.returncode == 1
    assert "UNSAFE  add.pte: is, or lies in a folder that is, a symbolic link" in r.stdout


def test_symlinked_parent_folder_is_not_followed(release, tmp_path):
    # the leaf is a regular file, but the folder on its way points outside the release
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(release / "add.pte", outside / "add.pte")
    (release / "add.pte").unlink()
    (release / "sub").symlink_to(outside, target_is_directory=True)
    edit_manifest(release, lambda m: entry(m, "add.pte").update(path="sub/add.pte"))
    r = verify(release)
    assert r.returncode == 1
    assert "UNSAFE  sub/add.pte: is, or lies in a folder that is, a symbolic link" in r.stdout


def test_structure_broken_while_hash_edited_to_match(release):
    p = release / "model.pte"
    with open(p, "r+b") as f:
        f.truncate(300)
    edit_manifest(release, lambda m: entry(m, "model.pte").update(sha256=sha256(p), size_bytes=300))
    r = verify(release)
    assert r.returncode == 1
    assert 'STRUCTURE  model.pte: "model.pte" is not a valid .pte: ' in r.stdout


def test_recorded_gates_are_checked_again(release):
    edit_manifest(release, lambda m: entry(m, "add.pte")["gates"].append(gate("backends", backends=["XnnpackBackend"])))
    r = verify(release)
    assert r.returncode == 1
    assert ('STRUCTURE  add.pte: "add.pte": no method delegates to XnnpackBackend: the export was not lowered'
            in r.stdout)


def test_recorded_max_size_is_checked_again(release):
    edit_manifest(release, lambda m: entry(m, "model.pte")["gates"].__setitem__(
        0, gate("max_size", max_size_bytes=1024)))
    r = verify(release)
    assert r.returncode == 1
    assert 'STRUCTURE  model.pte: "model.pte" is ' in r.stdout and "over its max_size 1 KiB" in r.stdout


def test_dir_option(release, tmp_path):
    elsewhere = tmp_path / "manifests"
    elsewhere.mkdir()
    shutil.move(str(release / "manifest.json"), elsewhere / "m.json")
    r = verify(release, manifest=elsewhere / "m.json")
    assert r.returncode == 1  # looked up next to the manifest: all missing
    assert sum(line.startswith("MISSING ") for line in r.stdout.splitlines()) == 4
    r = verify(release, "--dir", str(release), manifest=elsewhere / "m.json")
    assert r.returncode == 0, r.stdout


def test_cannot_read(tmp_path):
    r = verify(tmp_path, manifest=tmp_path / "nope.json")
    assert r.returncode == 3
    assert "does not exist" in r.stderr


def test_usage_and_help():
    r = subprocess.run([BIN, "verify"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "give the manifest.json" in r.stderr
    r = subprocess.run([BIN, "verify", "a.json", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([BIN, "verify", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: pteflow verify MANIFEST [--dir DIR] [--json]")
    assert "exit codes:" in r.stdout


def test_writer_manifest_verifies_and_validates(tmp_path):
    """The manifest and SHA256SUMS written by pteflow's own writer over real files."""
    test_bin = Path(BUILD or "") / "tests" / "test_verify"
    if not BUILD or not test_bin.exists():
        pytest.skip("the verify unit test binary is not built: the writer's own manifest was not checked")
    out = tmp_path / "release"
    out.mkdir()
    r = subprocess.run([str(test_bin), "--filter", "verify_manifest/write_sample"],
                       env=dict(os.environ, PF_VERIFY_SAMPLE_DIR=str(out)), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = verify(out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("\nOK ") + r.stdout.startswith("OK ") == 3
    if shutil.which("sha256sum"):
        s = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
        assert s.returncode == 0, s.stdout + s.stderr
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this Python")
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(
        json.loads((out / "manifest.json").read_text()))
