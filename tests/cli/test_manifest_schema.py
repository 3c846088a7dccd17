"""manifest.json against schemas/manifest.schema.json (JSON Schema 2020-12).

The manifest comes from pteflow's writer: the manifest unit test binary renders a record with
every optional part (model, CI context, steps with results, structure, every gate) and writes
it where PF_MANIFEST_SAMPLE_OUT points. Negative cases make sure the schema is not vacuous.
"""
import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this Python")

SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = os.environ.get("PTEFLOW_BINARY_DIR")
SCHEMA = json.loads((SRC / "schemas" / "manifest.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    test_bin = Path(BUILD or "") / "tests" / "test_manifest"
    if not BUILD or not test_bin.exists():
        pytest.skip("PTEFLOW_BINARY_DIR/tests/test_manifest is not built: run through ctest")
    out = tmp_path_factory.mktemp("manifest") / "manifest.json"
    r = subprocess.run([str(test_bin), "--filter", "manifest_render/full_record"],
                       env=dict(os.environ, PF_MANIFEST_SAMPLE_OUT=str(out)), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


def test_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_full_record_validates(sample):
    VALIDATOR.validate(sample)
    assert sample["model"] is not None and sample["ci"] is not None
    assert sample["runtime"] == "ExecuTorch"
    assert {g["name"] for g in sample["artifacts"][0]["gates"]} >= {"max_size", "methods", "backends"}
    assert sample["steps"][0]["prediction"]["artifacts"][0]["size"]["within"] is False


@pytest.mark.parametrize("mutate, why", [
    (lambda m: m["artifacts"][0].update(sha256="ABC"), "sha256 pattern"),
    (lambda m: m["artifacts"][0].update(path="../escape.pte"), "path escaping the folder"),
    (lambda m: m["artifacts"][0].update(path="/abs.pte"), "absolute path"),
    (lambda m: m.pop("created"), "required field"),
    (lambda m: m.update(created="yesterday"), "RFC 3339 time"),
    (lambda m: m.update(runtime="PyTorch"), "runtime constant"),
    (lambda m: m["steps"][0].update(status="fine"), "step status enum"),
    (lambda m: m["artifacts"][0]["gates"][0].pop("max_size_bytes"), "max_size gate machine field"),
    (lambda m: m.update(extra=1), "unknown top-level field"),
    (lambda m: m["steps"][0]["prediction"]["peak_memory"].pop("within"), "prediction figure field"),
    (lambda m: m["steps"][0]["prediction"]["peak_memory"]["predicted"].update(low=-1), "negative interval bound"),
])
def test_schema_rejects(sample, mutate, why):
    m = copy.deepcopy(sample)
    mutate(m)
    assert list(VALIDATOR.iter_errors(m)), f"the schema accepted a manifest with a bad {why}"
