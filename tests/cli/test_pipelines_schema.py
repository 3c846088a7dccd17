"""The C parser and schemas/pipeline.schema.json must not drift.

Every pipelines/*.yaml of the repository and every valid fixture must pass both
`pteflow validate` and Python's jsonschema (YAML read with PyYAML). Every invalid
fixture must be refused by the C parser and, unless it is listed below with the
reason the schema cannot say it, by the schema too. The lists are checked in
both directions: a case listed as beyond the schema must really pass the schema,
so when the schema learns to express it the test says to move it. Besides the
fixtures, a few hundred one-change documents (test_small_documents_agree) go
through both, key by key, type by type, bound by bound.
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


# ---- small documents fed to both sides -------------------------------------------------------------------------
#
# Each case changes one thing in a minimal valid pipeline. Both sides must agree on every case, except those in
# C_STRICTER, where pteflow refuses on purpose what the schema (after PyYAML) accepts: each of those must really
# disagree that way, so a case that starts to agree is noticed and removed. A document PyYAML cannot load counts
# as refused by the schema side.

STEP = "steps: [{name: s, run: [x]}]\n"
HEAD = "version: 1\nname: p\n"


def _cases():
    c = {}

    def add(key, doc):
        assert key not in c, key
        c[key] = doc

    for key, v in {"1": "1", "2": "2", "str": '"1"', "float": "1.0", "octal": "01", "hex": "0x1", "bool": "true",
                   "null": "~"}.items():
        add(f"version_{key}", f"version: {v}\nname: p\n" + STEP)
    for key, n in {"plain": "p", "digits_quoted": '"123"', "int": "123", "dotted": "1.2.3", "exp_unsigned": "1.5e3",
                   "exp_signed": "1.5e+3", "leading_zero": "09", "not_binary": "0b12", "sexagesimal": "1:30",
                   "not_sexagesimal": "1:60", "underscored": "1_0", "bool": "yes", "date": "2024-01-01",
                   "space": '"a b"', "dash_first": "-a", "len128": "a" * 128, "len129": "a" * 129, "null": "~",
                   "non_ascii": '"\u00e9"'}.items():
        add(f"name_{key}", f"version: 1\nname: {n}\n" + STEP)
    for key, d in {"text": "x", "empty": '""', "null": "~", "int": "1", "list": "[a]", "date": "2024-01-01"}.items():
        add(f"description_{key}", HEAD + f"description: {d}\n" + STEP)
    for key, m in {"ok": "{hf: a/b}", "name_only": "{hf: gpt2}", "three_parts": '{hf: "a/b/c"}',
                   "double_dash": "{hf: a--b}", "dots": "{hf: a/..b}", "trailing_slash": '{hf: "a/"}',
                   "number": "{hf: 1.2.3}", "revision_dotted": "{hf: a/b, revision: 1.2.3}",
                   "revision_float": "{hf: a/b, revision: 1.0}", "revision_empty": '{hf: a/b, revision: ""}',
                   "revision_date": "{hf: a/b, revision: 2024-01-01}", "repo_type": "{hf: a/b, repo_type: dataset}",
                   "repo_type_bad": "{hf: a/b, repo_type: x}", "include_empty": "{hf: a/b, include: []}",
                   "include_empty_item": '{hf: a/b, include: [""]}', "include_int": "{hf: a/b, include: [1]}",
                   "exclude_null": "{hf: a/b, exclude: ~}", "unknown_key": "{hf: a/b, x: 1}",
                   "missing_hf": "{revision: x}"}.items():
        add(f"model_{key}", HEAD + f"model: {m}\n" + STEP)
    for key, v in {"text": "{a: b}", "int": "{a: 1}", "float": "{a: 1.5}", "bool": "{a: yes}", "null": "{a: ~}",
                   "list": "{a: [1]}", "date": "{a: 2024-01-01}", "inf": "{a: .inf}", "empty_text": '{a: ""}',
                   "digit_first": "{1a: x}", "underscore_first": "{_a: x}", "dash": "{a-b: x}", "space": '{"a b": x}',
                   "empty": "{}", "list_not_map": "[]"}.items():
        add(f"vars_{key}", HEAD + f"vars: {v}\n" + STEP)
    sizes = {"int": "1", "zero": "0", "zero_text": '"0"', "zero_gb": '"0GB"', "zero_fraction": '"0.0KB"',
             "zero_b": "0B", "gb": "1GB", "fraction_gb": "1.5GB", "gib": "6GiB", "kb_lower": "1kB", "gb_lower": "1gb",
             "space": '"1 GB"', "unitless_fraction": '"1.5"', "unitless_whole_fraction": '"1.0"',
             "byte_fraction": "1.5B", "float": "1.5", "float_whole": "1.0", "float_exp": "1.5e+3", "exp_text": "1e3",
             "underscore": "1_000", "hex": "0x10", "octal": "010", "octal_quoted": '"010"', "plus": "+5", "minus": "-5",
             "minus_zero": "-0", "sexagesimal": "1:30", "max": "18446744073709551615",
             "over_max": "18446744073709551616", "over_max_text": '"18446744073709551616"', "far_over_max": "9" * 20,
             "over_max_unit": "16384PiB", "rounding": "1.1KiB", "bool": "true", "null": "~", "list": "[1]"}
    for key, s in sizes.items():
        add(f"memory_{key}", HEAD + f"limits: {{memory: {s}}}\n" + STEP)
        add(f"min_size_{key}", HEAD + STEP + f"artifacts: [{{path: a.bin, min_size: {s}}}]\n")
    durations = {"s": "90s", "unitless": "90", "unitless_text": '"90"', "zero": "0s", "zero_parts": "0h0m",
                 "hm": "1h30m", "order": "30m1h", "repeat": "1h1h", "ms": "500ms", "fraction": "1.5h",
                 "sexagesimal": "1:30", "trailing_zero": "1m0s", "space": "1 h", "max": "8760h", "over_max": "8761h",
                 "far_over_max": "10000000000000000ms", "overflow": "99999999999999999999h", "bool": "true",
                 "null": "~"}
    for key, d in durations.items():
        add(f"timeout_{key}", HEAD + f"limits: {{timeout: {d}}}\n" + STEP)
    for key, lim in {"empty": "{}", "null": "~", "list": "[]", "unknown_key": "{memory: 1GB, x: 1}",
                     "expect_zero": "{expect: 0}", "expect": "{expect: 1GiB}"}.items():
        add(f"limits_{key}", HEAD + f"limits: {lim}\n" + STEP)
    steps = {"empty": "[]", "null": "~", "map": "{}", "missing_run": "[{name: s}]", "missing_name": "[{run: [x]}]",
             "run_string": "[{name: s, run: x}]", "shell": "[{name: s, run: x, shell: true}]",
             "shell_yes": "[{name: s, run: x, shell: yes}]", "shell_list": "[{name: s, run: [x], shell: true}]",
             "shell_empty": '[{name: s, run: "", shell: true}]', "shell_int_run": "[{name: s, run: 123, shell: true}]",
             "shell_false": "[{name: s, run: [x], shell: false}]", "shell_int": "[{name: s, run: [x], shell: 1}]",
             "shell_quoted": '[{name: s, run: [x], shell: "true"}]', "program_empty": '[{name: s, run: [""]}]',
             "arg_empty": '[{name: s, run: [x, ""]}]', "run_empty": "[{name: s, run: []}]",
             "run_number": "[{name: s, run: [0, 1.5, yes]}]", "run_null": "[{name: s, run: [x, ~]}]",
             "run_nested": "[{name: s, run: [x, [y]]}]", "run_date": "[{name: s, run: [x, 2024-01-01]}]",
             "run_dotted": "[{name: s, run: [x, 1.2.3]}]", "name_dotted": "[{name: 1.2.3, run: [x]}]",
             "env": "[{name: s, run: [x], env: {A: b}}]", "env_bad_name": "[{name: s, run: [x], env: {1A: b}}]",
             "env_null": "[{name: s, run: [x], env: {A: ~}}]", "env_int": "[{name: s, run: [x], env: {A: 1}}]",
             "env_list": "[{name: s, run: [x], env: []}]", "cwd": "[{name: s, run: [x], cwd: a}]",
             "cwd_empty": '[{name: s, run: [x], cwd: ""}]', "cwd_null": "[{name: s, run: [x], cwd: ~}]",
             "cwd_int": "[{name: s, run: [x], cwd: 1}]", "unknown_key": "[{name: s, run: [x], x: 1}]",
             "literal_dollar": '[{name: s, run: [x, "$${x}"]}]', "env_ref": '[{name: s, run: [x, "${env.X}"]}]',
             "duplicate_name": "[{name: s, run: [x]}, {name: s, run: [y]}]", "item_text": "[a]",
             "item_list": "[[a]]", "empty_var_name": '[{name: s, run: [x, "${vars.}"]}]'}
    for key, s in steps.items():
        add(f"steps_{key}", HEAD + f"steps: {s}\n")
    artifacts = {"empty": "[]", "null": "~", "pte": "[{path: a.pte}]", "absolute": "[{path: /a}]",
                 "dotdot": "[{path: ../a}]", "inner_dotdot": "[{path: a/../b}]", "dot": "[{path: ./a}]",
                 "trailing_slash": "[{path: a/}]", "double_slash": '[{path: "a//b"}]', "backslash": '[{path: "a\\\\b"}]',
                 "path_empty": '[{path: ""}]', "path_int": "[{path: 1}]", "path_dotted": "[{path: 1.2.3}]",
                 "path_var": '[{path: "a${x}"}]', "path_space": '[{path: "a b"}]', "kind": "[{path: a, kind: pte}]",
                 "kind_bad": "[{path: a, kind: x}]", "kind_int": "[{path: a, kind: 1}]",
                 "methods": "[{path: a.pte, methods: [forward]}]", "methods_empty_item": '[{path: a.pte, methods: [""]}]',
                 "methods_text": "[{path: a.pte, methods: forward}]", "data": "[{path: a.pte, data: [w.ptd]}, {path: w.ptd}]",
                 "data_int": "[{path: a.pte, data: [1]}]", "unknown_key": "[{path: a, x: 1}]",
                 "missing_path": "[{kind: pte}]", "min_over_max": "[{path: a.pte, max_size: 1GB, min_size: 2GB}]",
                 "max_zero": "[{path: a.pte, max_size: 0}]", "max_zero_b": '[{path: a.pte, max_size: "0B"}]'}
    for key, a in artifacts.items():
        add(f"artifacts_{key}", HEAD + STEP + f"artifacts: {a}\n")
    targets = {"empty": "[]", "null": "~", "name": "[{name: t}]", "unknown_key": "[{name: t, x: 1}]",
               "missing_name": "[{vars: {}}]", "runner_empty": '[{name: t, runner: ""}]', "runner_int": "[{name: t, runner: 1}]",
               "limits": "[{name: t, limits: {memory: 1GB}}]", "override": "[{name: t, artifacts: [{path: a.pte, max_size: 1GB}]}]",
               "override_kind": "[{name: t, artifacts: [{path: a.pte, kind: pte}]}]",
               "undeclared_var": "[{name: t, vars: {a: 1}}]"}
    for key, t in targets.items():
        add(f"targets_{key}", HEAD + STEP + f"artifacts: [{{path: a.pte}}]\ntargets: {t}\n")
    for key, m in {"ok": "m.json", "absolute": "/m", "empty": '""', "int": "1", "null": "~", "nested": "a/b.json",
                   "var": '"${out}/m"'}.items():
        add(f"manifest_{key}", HEAD + STEP + f"manifest: {m}\n")
    add("root_merge_key", HEAD + STEP + "<<: {description: x}\n")
    add("root_int_key", HEAD + STEP + "1: 2\n")
    add("root_duplicate_key", "version: 1\nname: p\nname: q\n" + STEP)
    return c


CASES = _cases()

_NOTATION = "YAML 1.1 integer notations are refused in sizes: readers disagree on their value (010 is 8 or 10)"
C_STRICTER = {
    "version_float": "JSON Schema cannot tell 1.0 from 1; pteflow wants the integer",
    "version_octal": "pteflow wants the digit 1, not a YAML 1.1 notation of it",
    "version_hex": "pteflow wants the digit 1, not a YAML 1.1 notation of it",
    "root_duplicate_key": "PyYAML keeps the last of two equal keys silently",
    "root_merge_key": "PyYAML merges '<<' (YAML 1.1 only); pteflow has no merge keys",
    "steps_duplicate_name": "uniqueness of a property across array items",
    "steps_empty_var_name": "${...} names are checked by interpolation, not by a pattern",
    "artifacts_min_over_max": "comparing two sizes with units",
    "targets_undeclared_var": "target vars must be declared in the pipeline's vars: a cross-reference",
    "timeout_over_max": "the 8760h bound of a duration is arithmetic",
    "timeout_far_over_max": "the 8760h bound of a duration is arithmetic",
    "timeout_overflow": "the 8760h bound of a duration is arithmetic",
}
for _k in ("memory", "min_size"):
    C_STRICTER.update({
        f"{_k}_float_whole": "JSON Schema counts 1.0 as an integer; pteflow wants a unit after a number with a point",
        f"{_k}_float_exp": "JSON Schema counts 1500.0 as an integer; pteflow wants a unit after a number with a point",
        f"{_k}_over_max_text": "the 2^64-1 bound of a size written as text is arithmetic",
        f"{_k}_over_max_unit": "the 2^64-1 bound of a size with a unit is arithmetic",
        f"{_k}_rounding": "exactness of a decimal fraction of a unit is arithmetic",
        **{f"{_k}_{n}": _NOTATION for n in ("underscore", "hex", "octal", "plus", "sexagesimal")},
    })
C_STRICTER["min_size_minus_zero"] = _NOTATION  # PyYAML reads -0 as 0, a valid min_size


def schema_accepts(validator, text):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False, "PyYAML cannot load it"
    errors = list(validator.iter_errors(doc))
    return not errors, errors[0].message if errors else ""


def test_small_documents_agree(validator, tmp_path):
    """Every case: pteflow validate and the schema give the same verdict, or the listed reason says why not."""
    assert set(C_STRICTER) <= set(CASES), f"listed but not a case: {set(C_STRICTER) - set(CASES)}"
    paths = {}
    for key, text in CASES.items():
        paths[key] = tmp_path / f"{key}.yaml"
        paths[key].write_text(text)
    r, files = c_validate(paths.values())
    assert r.returncode == 2, r.stderr
    problems = []
    for key, path in paths.items():
        c_ok = files[str(path)]["ok"]
        s_ok, why = schema_accepts(validator, CASES[key])
        if key in C_STRICTER:
            if c_ok or not s_ok:
                problems.append(f"{key}: listed as refused only by pteflow ({C_STRICTER[key]}) but pteflow "
                                f"{'accepts' if c_ok else 'refuses'} and the schema {'accepts' if s_ok else 'refuses'}")
        elif c_ok != s_ok:
            problems.append(f"{key}: pteflow {'accepts' if c_ok else 'refuses: ' + files[str(path)]['message']}; "
                            f"schema {'accepts' if s_ok else 'refuses: ' + why}")
    assert not problems, "\n".join(problems)
