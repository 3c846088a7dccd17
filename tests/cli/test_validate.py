"""`pteflow validate` through the real binary: valid and invalid fixtures, exit codes,
positions, --json, and GitHub annotations when GITHUB_ACTIONS=true.

Each invalid fixture in tests/resources/pipelines/invalid/ starts with
"# expect: LINE:COL text": the position and a piece of the message it must give.
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

BIN = os.environ.get("PTEFLOW_BIN")
SRC = Path(os.environ.get("PTEFLOW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
FIXTURES = SRC / "tests" / "resources" / "pipelines"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))

pytestmark = pytest.mark.skipif(not BIN, reason="PTEFLOW_BIN is not set: run through ctest")


def run(*args, env_extra=None, drop=("GITHUB_ACTIONS",), timeout=30):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def expectation(path):
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    m = re.match(r"# expect: (\d+):(\d+) (.+)$", first)
    assert m, f"{path.name}: first line must be '# expect: LINE:COL text'"
    return int(m.group(1)), int(m.group(2)), m.group(3)


def test_fixtures_exist():
    assert len(VALID) >= 4 and len(INVALID) >= 40


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_is_ok(path):
    r = run("validate", path)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(re.escape(str(path)) + r": ok \(\d+ steps?, \d+ artifacts?, \d+ targets?\)\n", r.stdout)
    assert r.stderr == ""


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_reports_position(path):
    line, col, text = expectation(path)
    r = run("validate", path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    prefix = f"pteflow: error: {path}:{line}:{col}: "
    assert r.stderr.startswith(prefix), r.stderr
    assert text in r.stderr.splitlines()[0]
    assert r.stderr.count("\n") == 1, "each fixture holds one problem: one line"


@pytest.mark.parametrize("path", INVALID[:8] + [FIXTURES / "invalid" / "not_utf8.yaml"], ids=lambda p: p.name)
def test_github_annotation(path):
    line, col, text = expectation(path)
    r = run("validate", path, env_extra={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 2
    ann = [l for l in r.stderr.splitlines() if l.startswith("::error ")]
    assert len(ann) == 1, r.stdout
    assert ann[0].startswith(f"::error file={path},line={line},col={col}::"), ann[0]
    assert text.replace("%", "%25") in ann[0]


def test_no_annotation_outside_actions():
    r = run("validate", INVALID[0])
    assert "::error" not in r.stdout + r.stderr
    r = run("validate", INVALID[0], env_extra={"GITHUB_ACTIONS": "false"})
    assert "::error" not in r.stdout + r.stderr


def test_annotation_escapes_file_name(tmp_path):
    bad = tmp_path / "a,b:c%.yaml"
    bad.write_text("version: 1\nname: p\nsteps: [{name: s, run: [x], nmae: y}]\n")
    r = run("validate", bad, env_extra={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 2
    esc = str(bad).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert f"::error file={esc},line=3,col=29::unknown key \"nmae\"" in r.stderr, r.stderr


def test_many_files_and_exit_code_precedence(tmp_path):
    r = run("validate", VALID[0], INVALID[0])
    assert r.returncode == 2
    assert f"{VALID[0]}: ok" in r.stdout
    r = run("validate", VALID[0], INVALID[0], tmp_path / "missing.yaml")
    assert r.returncode == 3
    assert "does not exist" in r.stderr
    r = run("validate", tmp_path)  # a folder cannot be read as a file
    assert r.returncode == 3, r.stderr


def test_json_report():
    r = run("validate", "--json", VALID[0], FIXTURES / "invalid" / "tab_indent.yaml")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    ok, bad = doc["files"]
    assert ok["ok"] is True and ok["steps"] >= 1 and "artifacts" in ok and "targets" in ok
    assert bad["ok"] is False and (bad["line"], bad["col"]) == (5, 1)
    assert "tab character in indentation" in bad["message"]
    r = run("validate", "--json", *VALID)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


def test_file_size_bound(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("version: 1\n" + "#" * (1 << 20) + "\n")
    r = run("validate", big)
    assert r.returncode == 2
    assert f"{big}:1:1: the file is larger than 1024 KiB" in r.stderr


def test_billion_laughs_fails_fast():
    t0 = time.monotonic()
    r = run("validate", FIXTURES / "invalid" / "billion_laughs.yaml", timeout=10)
    assert r.returncode == 2
    assert "anchor \"&a\" is not supported" in r.stderr
    assert time.monotonic() - t0 < 5


def test_usage_errors_and_help():
    assert run("validate").returncode == 2
    r = run("validate", "--bogus", VALID[0])
    assert r.returncode == 2 and "unknown option" in r.stderr
    r = run("validate", "--help")
    assert r.returncode == 0
    for word in ("usage: pteflow validate", "--json", "GITHUB_ACTIONS", "exit codes"):
        assert word in r.stdout
    r = run("help", "validate")
    assert r.returncode == 0 and "usage: pteflow validate" in r.stdout


def test_validate_does_not_read_env_values(tmp_path):
    p = tmp_path / "env.yaml"
    p.write_text('version: 1\nname: p\nsteps: [{name: s, run: [x, "${env.PF_SURELY_UNSET_VARIABLE}"]}]\n')
    r = run("validate", p, drop=("GITHUB_ACTIONS", "PF_SURELY_UNSET_VARIABLE"))
    assert r.returncode == 0, r.stderr


MULTI = """version: 1
name: "bad name"
limits: { memory: 6XB }
steps:
  - name: a
    run: [x]
    colour: red
  - name: b
  - name: a
    run: [y]
artifacts:
  - path: /abs.pte
manifest: ../m.json
"""
MULTI_AT = [(2, 7, "invalid pipeline name"), (3, 19, "invalid size \"6XB\""), (7, 5, "unknown key \"colour\""),
            (8, 5, "missing required key \"run\""), (9, 11, "duplicate step name \"a\""), (12, 11, "is absolute"),
            (13, 11, "contains \"..\"")]


def test_every_independent_problem_is_reported(tmp_path):
    p = tmp_path / "multi.yaml"
    p.write_text(MULTI)
    r = run("validate", p, env_extra={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.startswith("pteflow: ")]
    assert len(lines) == len(MULTI_AT), r.stderr
    ann = [l for l in r.stderr.splitlines() if l.startswith("::error ")]
    assert len(ann) == len(MULTI_AT), r.stderr
    for (line, col, text), err, a in zip(MULTI_AT, lines, ann):
        assert err.startswith(f"pteflow: error: {p}:{line}:{col}: ") and text in err, err
        assert a.startswith(f"::error file={p},line={line},col={col}::") and text in a, a
    doc = json.loads(run("validate", "--json", p).stdout)
    entry = doc["files"][0]
    assert [(e["line"], e["col"]) for e in entry["errors"]] == [(l, c) for l, c, _ in MULTI_AT]
    assert (entry["line"], entry["col"]) == (2, 7)


STEPS = b"steps: [{name: s, run: [x]}]\n"
# Hostile bytes: each gives one error at the offending position, with what to do, and never hangs or crashes.
HOSTILE = {
    "nul_byte": (b"version: 1\nname: p\nsteps: [{name: s, run: [x\x00y]}]\n", 3, 26, "NUL byte"),
    "escape_char": (b'version: 1\nname: "a\x1bb"\n', 2, 9, "control character U+001B"),
    "c1_char": (b"version: 1\nname: p\xc2\x9b\n", 2, 8, "control character U+009B"),
    "crlf_position": (b"version: 1\r\nname: p\r\nsteps: [{name: s, run: [x]}]\r\nfoo: 1\r\n", 4, 1, 'unknown key "foo"'),
    "bom_position": (b"\xef\xbb\xbfversion: 1\nname: p\nsteps: [{name: s, run: [x]}]\nfoo: 1\n", 4, 1,
                     'unknown key "foo"'),
    "python_tag": (b"version: 1\nname: !!python/object:os.system p\n", 2, 7, "is not supported: remove it"),
    "bare_tag": (b"version: 1\nname: ! p\n", 2, 7, 'tag "!" is not supported'),
    "long_timeout": (b"version: 1\nname: p\nlimits: {timeout: 10000000000000000ms}\n" + STEPS, 3, 19,
                     "the maximum is 8760h"),
    "octal_size": (b"version: 1\nname: p\nlimits: {memory: 010}\n" + STEPS, 3, 18, "write plain decimal digits"),
    "date_name": (b"version: 1\nname: 2024-01-01\n" + STEPS, 2, 7, "got a date: put it in quotes"),
    "empty_name": (b"version: 1\nname:\n" + STEPS, 2, 6, "give it a value or remove it"),
    "colon_in_value": (b"version: 1\nname: a: b\n", 2, 8, "put the value in quotes"),
    "nested_reference": (b'version: 1\nname: p\nvars: {a: b}\nsteps: [{name: s, run: [x, "${vars.${a}}"]}]\n', 4, 28,
                         'nested "${"'),
    "empty_file": (b"", 1, 1, "the file is empty"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_hostile_input_is_positioned(case, tmp_path):
    data, line, col, text = HOSTILE[case]
    p = tmp_path / f"{case}.yaml"
    p.write_bytes(data)
    r = run("validate", p, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"pteflow: error: {p}:{line}:{col}: "), r.stderr
    assert text in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_folder_or_unreadable_file_says_what_to_do(tmp_path):
    r = run("validate", tmp_path)
    assert r.returncode == 3
    assert "is a folder, not a pipeline file: give the path of a pipeline file" in r.stderr, r.stderr
    if os.geteuid() == 0:
        pytest.skip("root reads every file: no unreadable file to test")
    p = tmp_path / "locked.yaml"
    p.write_text("version: 1\n")
    p.chmod(0)
    r = run("validate", p)
    assert r.returncode == 3 and "Permission denied" in r.stderr, r.stderr


SECRET_PIPELINE = """version: 1
name: sec
steps:
  - name: s
    run: [echo, "${env.HF_TOKEN}", "${env.PF_TEST_PASSWD}", "${env.GH_PAT}", "${env.NPM_AUTH}"]
    env: { HF_TOKEN: "${env.HF_TOKEN}" }
"""
SECRETS = {"HF_TOKEN": "hf_secretvalue123", "PF_TEST_PASSWD": "hunter2-secret", "GH_PAT": "ghp_secretvalue456",
           "NPM_AUTH": "npm-auth-secret"}


def test_secrets_never_printed_by_validate_or_dry_run(tmp_path):
    p = tmp_path / "sec.yaml"
    p.write_text(SECRET_PIPELINE)
    for args in (("validate", p), ("run", "--dry-run", "--out", tmp_path / "out", p)):
        r = run(*args, env_extra=SECRETS)
        assert r.returncode == 0, r.stderr
        leaked = [v for v in SECRETS.values() if v in r.stdout + r.stderr]
        assert not leaked, f"{args[0]} printed {leaked}:\n{r.stdout}{r.stderr}"
    assert "echo *** *** *** ***" in r.stdout, r.stdout
