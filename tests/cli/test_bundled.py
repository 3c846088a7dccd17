"""Artifacts of kind bpte through the real binary (issue 16): a pipeline whose
step writes a bundled program (.bpte) and a program with metadata methods
(.pte), both made by ExecuTorch (tests/resources/pte/make_fixtures.py);
`pteflow run` gates them (structure, methods of the embedded program),
records structure.bundle and structure.metadata in the manifest (valid
against schemas/manifest.schema.json), and `pteflow verify` re-checks them."""
import hashlib
import json
import shutil
import textwrap

import pytest

from conftest import SOURCE_DIR, run_pteflow

RES = (SOURCE_DIR / "tests" / "resources" / "pte").resolve()
SCHEMA = SOURCE_DIR / "schemas" / "manifest.schema.json"

PIPELINE = """\
    version: 1
    name: bundled
    steps:
      - name: export
        run: ["/bin/sh", "-c", "cp {res}/linear-bundled.bpte ${{out}}/model.bpte && cp {res}/linear-metadata.pte ${{out}}/model.pte"]
    artifacts:
      - {{ path: model.bpte, methods: [{methods}], max_size: 16KB }}
      - {{ path: model.pte, methods: [forward, get_max_seq_len] }}
"""


def write(tmp_path, methods="forward", body=PIPELINE):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(body).format(res=RES, methods=methods))
    return path


def test_bpte_artifact_is_gated_recorded_and_verified(tmp_path):
    out = tmp_path / "out"
    r = run_pteflow("run", write(tmp_path), "--out", out)
    assert r.code == 0, r
    manifest = json.loads((out / "manifest.json").read_text())
    arts = {a["path"]: a for a in manifest["artifacts"]}
    bpte = arts["model.bpte"]
    assert bpte["kind"] == "bpte" and bpte["passed"] is True
    gates = {g["name"]: g for g in bpte["gates"]}
    assert gates["structure"]["passed"] and gates["methods"]["passed"]
    assert bpte["structure"]["kind"] == "bpte"
    assert bpte["structure"]["bundle"]["test_suites"] == [{"method": "forward", "test_cases": 2}]
    assert bpte["structure"]["methods"][0]["name"] == "forward"
    pte = arts["model.pte"]
    assert pte["structure"]["metadata"] == {"get_max_seq_len": 128, "get_eos_ids": [1, 2], "use_kv_cache": True,
                                            "get_head_dim": 64.0, "name": "x"}
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this Python")
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(manifest)

    r = run_pteflow("verify", out / "manifest.json")
    assert r.code == 0, r
    # A bundle whose suite no longer matches its program fails verify.
    data = bytearray((out / "model.bpte").read_bytes())
    bundle = bpte["structure"]["bundle"]
    end = bundle["program_offset"] + bundle["program_size"]
    at = data.find(b"forward", end)
    if at < 0:
        at = data.find(b"forward", 0, bundle["program_offset"])
    data[at + 6] = ord("x")
    (out / "model.bpte").write_bytes(bytes(data))
    r = run_pteflow("verify", out / "manifest.json")
    assert r.code == 1 and "MISMATCH  model.bpte" in r.out, r
    # With the hash edited to match, the structure check still refuses it.
    for a in manifest["artifacts"]:
        if a["path"] == "model.bpte":
            a["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    r = run_pteflow("verify", out / "manifest.json")
    assert r.code == 1, r
    assert 'STRUCTURE  model.bpte: "model.bpte" is not a valid .bpte: test suite 0 is for method "forwarx"' in r.out


def test_methods_gate_applies_to_the_embedded_program(tmp_path):
    r = run_pteflow("run", write(tmp_path, methods="forward, decode"), "--out", tmp_path / "out")
    assert r.code == 1, r
    assert 'has no method "decode"' in r.out + r.err


def test_bpte_found_by_bytes_not_extension_in_gates(tmp_path):
    # A .pte artifact that is really a bundle fails its structure gate with the kind it is.
    body = PIPELINE.replace("cp {res}/linear-metadata.pte ${{out}}/model.pte",
                            "cp {res}/linear-bundled.bpte ${{out}}/model.pte")
    r = run_pteflow("run", write(tmp_path, body=body), "--out", tmp_path / "out")
    assert r.code == 1, r
    assert "is a bpte file, but the pipeline declares kind pte" in r.out + r.err


def test_data_is_refused_on_a_bpte_artifact(tmp_path):
    body = PIPELINE.replace("max_size: 16KB }}", "max_size: 16KB, data: [x.ptd] }}")
    r = run_pteflow("validate", write(tmp_path, body=body))
    assert r.code == 2, r
    assert '"data" applies to .pte artifacts only' in r.out + r.err
    body = PIPELINE.replace("max_size: 16KB }}", "max_size: 16KB, kind: bpte }}")
    assert run_pteflow("validate", write(tmp_path, body=body)).code == 0
