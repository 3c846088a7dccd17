"""The C parser and schemas/pipeline.schema.json must not drift.

Every pipelines/*.yaml of the repository and every valid fixture must pass both
`pteflow validate` and Python's jsonschema (YAML read with PyYAML). Every invalid
fixture must be refused by the C parser and, unless it is listed below with the
reason the schema cannot say it, by the schema too. The lists are checked in
both directions: a case listed as beyond the schema must really pass the schema,
so when the schema learns to express it the test says to move it.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this Python")
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed in this Python")

BIN = os.environ.get("PTEFLOW_BIN")
SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCHEMA_PATH = SRC / "schemas" / "pipeline.schema.json"
FIXTURES = SRC / "tests" / "resources" / "pipelines"
REPO_PIPELINES = sorted((SRC / "pipelines").glob("*.yaml")) + sorted((SRC / "pipelines").glob("*.yml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))

pytestmark = pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set: run through ctest")

# Invalid only for the C parser's semantics: the schema passes them (checked below).
BEYOND_SCHEMA = {
    "duplicate_key": "PyYAML keeps the last of two equal keys silently",
    "dup_step_name": "JSON Schema cannot require one property to be unique across array items",
    "dup_artifact_path": "uniqueness of a property across array items",
    "dup_target_name": "uniqueness of a property across array items",
    "unknown_var": "${...} names are checked by interpolation, not by a pattern",
    "undeclared_var": "${vars.NAME} must be declared in vars: a cross-reference",
    "model_var_without_model": "${model.dir} is known only when model: is present",
    "unknown_var_env_value": "${env.} (empty name) inside free text",
    "unterminated_var": "an unclosed ${ inside free text",
    "size_rounding": "exactness of a decimal fraction of a unit is arithmetic, not syntax",
    "size_overflow": "the 2^64-1 bound of a size with a unit is arithmetic",
    "data_missing": "data: must name an artifact of the same pipeline: a cross-reference",
    "data_not_ptd": "data: must name an artifact whose kind is ptd: a cross-reference",
    "methods_on_file": "kind defaults from the path's extension",
    "min_gt_max": "comparing two sizes with units",
    "target_unknown_var": "target vars must be declared in the pipeline's vars: a cross-reference",
    "target_unknown_artifact": "target artifact paths must be pipeline artifacts: a cross-reference",
    "tag": "PyYAML applies !!str; pteflow refuses explicit tags",
}
# pteflow refuses these YAML features or bounds outright; what PyYAML and the schema make of them is irrelevant.
PARSER_BOUNDS = {
    "anchor": "anchors are refused (alias bombs)",
    "alias": "aliases are refused (alias bombs)",
    "billion_laughs": "aliases are refused (alias bombs)",
    "too_deep": "nesting is bounded at 32 levels",
}
# Not YAML (or not one YAML document): PyYAML must refuse to load them too.
YAML_LEVEL = {"tab_indent", "invalid_yaml", "not_utf8", "two_documents"}


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def c_validate(paths):
    r = subprocess.run([BIN, "validate", "--json", *map(str, paths)], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"})
    return r, {f["file"]: f for f in json.loads(r.stdout)["files"]}


def load_yaml(path):
    with open(path, "rb") as f:
        return yaml.safe_load(f)


def test_schema_is_2020_12_and_documented(validator):
    schema = validator.schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "description" not in sub:
                    missing.append(f"{where}.{name}")
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                missing.append(f"{where}: additionalProperties")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(schema, "#")
    assert not missing, f"undocumented or open properties: {missing}"


def test_schema_keys_match_the_c_parser(validator):
    """Each key the schema allows is a key the C parser accepts: a pipeline using every schema key passes both."""
    full = FIXTURES / "valid" / "full.yaml"
    doc = load_yaml(full)
    schema = validator.schema
    assert set(doc) == set(schema["properties"]), "full.yaml must use every top-level key"
    step_keys = set().union(*(set(s) for s in doc["steps"]))
    assert step_keys == set(schema["$defs"]["step"]["properties"])
    art_keys = set().union(*(set(a) for a in doc["artifacts"]))
    assert art_keys == set(schema["$defs"]["artifact"]["properties"])
    target_keys = set().union(*(set(t) for t in doc["targets"]))
    assert target_keys == set(schema["$defs"]["target"]["properties"])
    assert set(doc["model"]) == set(schema["properties"]["model"]["properties"])
    assert set(doc["limits"]) == set(schema["$defs"]["limits"]["properties"])


def test_repo_pipelines_listed():
    # Not a check: says in the log what was covered (pipelines/ may still be empty).
    print(f"pipelines/: {len(REPO_PIPELINES)} file(s); fixtures: {len(VALID)} valid, {len(INVALID)} invalid")
    assert VALID and INVALID


@pytest.mark.parametrize("path", REPO_PIPELINES + VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_passes_both(path, validator):
    r, files = c_validate([path])
    assert r.returncode == 0, f"pteflow validate refused {path}: {r.stderr}"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(load_yaml(path))]
    assert not errors, f"the schema refuses {path}: {errors}"


def test_lists_name_real_fixtures():
    names = {p.stem for p in INVALID}
    for listed in (BEYOND_SCHEMA, PARSER_BOUNDS, YAML_LEVEL):
        assert set(listed) <= names, f"listed but missing: {set(listed) - names}"


def test_every_invalid_fixture_refused_by_c():
    r, files = c_validate(INVALID)
    assert r.returncode == 2
    accepted = [f for f, e in files.items() if e["ok"]]
    assert not accepted, f"pteflow validate accepted: {accepted}"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_schema_verdict(path, validator):
    name = path.stem
    if name in PARSER_BOUNDS:
        pytest.skip(f"schema verdict irrelevant: {PARSER_BOUNDS[name]}")
    if name in YAML_LEVEL:
        with pytest.raises(yaml.YAMLError):
            load_yaml(path)
        return
    doc = load_yaml(path)
    errors = list(validator.iter_errors(doc))
    if name in BEYOND_SCHEMA:
        assert not errors, (f"{name} is listed as beyond the schema ({BEYOND_SCHEMA[name]}) but the schema refuses it: "
                            f"{errors[0].message}; remove it from BEYOND_SCHEMA")
    else:
        assert errors, f"the schema accepts {name}, which pteflow refuses: tighten the schema or list it with a reason"
