"""pteflow inside GitHub Actions (GITHUB_ACTIONS=true), through the real
binary: annotations that point at the pipeline YAML. Also the helpers that
the `run` end-to-end checks use (environment with temporary
GITHUB_STEP_SUMMARY / GITHUB_OUTPUT files, a parser of workflow commands with
GitHub's unescaping, a reader of the outputs file with its heredoc form, the
summary table, and the masking check); they are tested here on known text.

Helpers for other test files: `from test_gha import gha_env, ...`."""
import re
import textwrap

from conftest import run_pteflow

# ---- helpers ----

_DATA_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROP_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")


def _unescape(text, table):
    # Split on %25 first so "%253A" stays the literal "%3A".
    parts = text.split("%25")
    out = []
    for part in parts:
        for esc, ch in table:
            if esc != "%25":
                part = part.replace(esc, ch)
        out.append(part)
    return "%".join(out)


def gha_env(tmp_path, **extra):
    """Environment for a pteflow run inside Actions; returns (env, summary_path, output_path)."""
    summary = tmp_path / "step_summary.md"
    output = tmp_path / "github_output.txt"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY": "pteflow/test",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_WORKFLOW": "export",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "0" * 40,
        "RUNNER_OS": "Linux",
        "GITHUB_JOB": "export",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    env.update(extra)
    return env, summary, output


def parse_commands(stdout):
    """Workflow commands in stdout: list of (name, {prop: value}, data), unescaped."""
    found = []
    for line in stdout.splitlines():
        m = _COMMAND.match(line)
        if not m:
            continue
        props = {}
        if m.group(2):
            for pair in m.group(2).split(","):
                key, _, value = pair.partition("=")
                props[key] = _unescape(value, _PROP_UNESCAPE)
        found.append((m.group(1), props, _unescape(m.group(3), _DATA_UNESCAPE)))
    return found


def annotations(stdout, level="error"):
    return [(props, data) for name, props, data in parse_commands(stdout) if name == level]


def read_outputs(path):
    """The GITHUB_OUTPUT file as a dict: name=value lines and name<<DELIM heredocs."""
    values = {}
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"heredoc for {name} has no closing {delim}"
            i += 1
            values[name] = "\n".join(body)
        else:
            name, sep, value = line.partition("=")
            assert sep, f"malformed output line {line!r}"
            values[name] = value
    return values


def summary_tables(text):
    """Markdown tables of the job summary: list of tables, each a list of rows of stripped cells."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def assert_masked(result, token):
    """The token is announced with ::add-mask:: (on stderr, where pteflow writes workflow commands)
    before any other line there, and never appears elsewhere."""
    lines = result.err.splitlines()
    mask = f"::add-mask::{token}"
    assert mask in lines, f"no {mask!r} in stderr: {result!r}"
    first = lines.index(mask)
    assert all(line.startswith("::add-mask::") for line in lines[:first]), lines[:first]
    assert token not in "\n".join(lines[first + 1:]), "token printed in clear on stderr"
    assert token not in result.out, "token printed in clear on stdout"


# ---- the real binary ----

INVALID = """\
    version: 1
    name: bad
    stepz:
      - name: export
        run: ["true"]
"""


def test_validate_annotates_the_yaml_position(tmp_path):
    path = tmp_path / "bad,name: x.yaml"
    path.write_text(textwrap.dedent(INVALID))
    env, _, _ = gha_env(tmp_path)
    r = run_pteflow("validate", path, env=env)
    assert r.code == 2, r
    errs = annotations(r.err)
    assert len(errs) == 1, r
    props, message = errs[0]
    # ',' and ':' in the file name must arrive escaped and decode back exactly.
    assert props["file"] == str(path), r
    assert props["line"] == "3" and props["col"] == "1", r
    assert message and "\n" not in message
    raw = next(line for line in r.err.splitlines() if line.startswith("::error "))
    assert "%2C" in raw and "%3A" in raw, raw


def test_validate_prints_no_annotation_outside_actions(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(INVALID))
    r = run_pteflow("validate", path)
    assert r.code == 2, r
    assert "::error" not in r.out + r.err, r


# ---- the helpers, on known text ----

def test_parse_commands_unescapes_like_the_runner():
    out = ("::add-mask::abc%25def\n"
           "plain line\n"
           "::error file=a%2Cb%3Ac.yaml,line=3,col=7,title=x%3A y::one%0Atwo 100%25 %253A\n"
           "::endgroup::\n")
    cmds = parse_commands(out)
    assert cmds[0] == ("add-mask", {}, "abc%def")
    assert cmds[1] == ("error", {"file": "a,b:c.yaml", "line": "3", "col": "7", "title": "x: y"},
                       "one\ntwo 100% %3A")
    assert cmds[2] == ("endgroup", {}, "")


def test_read_outputs_handles_heredocs(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("manifest=/x/manifest.json\nnotes<<ghadelimiter_ab12\nline 1\nline=2\n"
                 "ghadelimiter_ab12\nstatus=passed\n")
    assert read_outputs(p) == {"manifest": "/x/manifest.json", "notes": "line 1\nline=2", "status": "passed"}


def test_summary_tables_split_cells():
    text = ("## x\n\n| artifact | gates |\n| --- | ---: |\n| `a.pte` | ok<br>fail |\n| `b\\|c` | x |\n\n"
            "### Steps\n\n| step | status |\n| --- | --- |\n| `export` | success |\n")
    t = summary_tables(text)
    assert t[0] == [["artifact", "gates"], ["`a.pte`", "ok<br>fail"], ["`b\\|c`", "x"]]
    assert t[1] == [["step", "status"], ["`export`", "success"]]


def test_assert_masked_catches_a_leak():
    class R:
        err = "::add-mask::tok12345\nhello\n"
        out = "using tok12345\n"
    try:
        assert_masked(R(), "tok12345")
    except AssertionError as e:
        assert "stdout" in str(e)
    else:
        raise AssertionError("assert_masked missed a token on stdout")


# ---- `pteflow run` inside Actions ----

RUN_PIPELINE = """\
    version: 1
    name: gha-run
    steps:
      - name: export
        run: ["/bin/sh", "-c", "echo using $HF_TOKEN; printf 'abc' > ${out}/small.bin; printf 'abcdefgh' > ${out}/big.bin"]
        env: { HF_TOKEN: "${env.HF_TOKEN}" }
    artifacts:
      - { path: small.bin, kind: file }
      - { path: big.bin, kind: file, max_size: 4B }
"""


def test_run_masks_groups_annotates_summarises_and_writes_outputs(tmp_path):
    import json
    token = "hf_ActionsRunToken0123456789"
    pipeline = tmp_path / "gha-run.yaml"
    pipeline.write_text(textwrap.dedent(RUN_PIPELINE))
    env, summary, output = gha_env(tmp_path, HF_TOKEN=token)
    out = tmp_path / "out"
    r = run_pteflow("run", pipeline, "--out", out, "--json", env=env)
    assert r.code == 1, r
    assert_masked(r, token)
    json.loads(r.out)  # stdout stays pure JSON inside Actions
    cmds = parse_commands(r.err)
    names = [c[0] for c in cmds]
    assert "group" in names and "endgroup" in names
    errs = annotations(r.err)
    gate = [(p, m) for p, m in errs if "big.bin" in m]
    assert gate, errs
    props, message = gate[0]
    assert props["file"] == str(pipeline) and props["line"] == "9", props
    tables = summary_tables(summary.read_text())
    flat = "\n".join("|".join(row) for t in tables for row in t)
    assert "small.bin" in flat and "big.bin" in flat
    assert token not in summary.read_text()
    outs = read_outputs(output)
    assert outs["status"] == "failed"
    assert outs["manifest"] == str(out / "manifest.json")
    sha_small = json.loads((out / "manifest.json").read_text())["artifacts"][0]["sha256"]
    assert sha_small in outs.values()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ci"]["run_id"] == "4242" and manifest["ci"]["repository"] == "pteflow/test"
    assert token not in (out / "manifest.json").read_text()
