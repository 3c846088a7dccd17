"""`pteflow run` through the real binary, with steps that are small shell
scripts written by the tests: success, the silent empty-artifact failure,
failing steps, timeouts that must leave no process behind, a memory kill,
secrets, a clean environment, interrupts, bad environments, targets."""
import json
import os
import pathlib
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import PTEFLOW, PYTHON, manifest_of, pid_alive, run_pteflow, small_tmpfs, tool, write_pipeline


OK_PIPELINE = """\
    version: 1
    name: ok
    steps:
      - name: make
        run: ["/bin/sh", "-c", "printf 'hello world' > ${out}/a.bin; echo made it"]
    artifacts:
      - { path: a.bin, kind: file, max_size: 1KB }
"""


def test_success_writes_manifest_and_sums(tmp_path):
    p = write_pipeline(tmp_path, OK_PIPELINE)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 0, r
    m = manifest_of(out)
    assert m["status"] == "passed"
    art = m["artifacts"][0]
    assert art["path"] == "a.bin" and art["size_bytes"] == 11
    sums = (out / "SHA256SUMS").read_text()
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "a.bin" in sums
    assert "made it" in (out / "logs" / "make.log").read_text()
    assert "[make] made it" in r.err
    assert not [f for f in os.listdir(out) if ".tmp." in f]
    assert "passed" in r.out


def test_exit_zero_with_empty_artifact_fails_plainly(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: empty
        steps:
          - name: export
            run: ["/bin/sh", "-c", ": > ${out}/model.pte"]
        artifacts:
          - { path: model.pte, kind: pte }
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 1, r
    assert "model.pte" in r.err and "empty" in r.err
    m = manifest_of(out)
    assert m["status"] == "failed"
    assert m["artifacts"][0]["passed"] is False


def test_exit_zero_with_missing_artifact_fails(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: missing
        steps:
          - name: export
            run: ["/bin/true"]
        artifacts:
          - { path: model.pte, kind: pte }
    """)
    r = run_pteflow("run", p, "--out", tmp_path / "out")
    assert r.code == 1, r
    assert "model.pte" in r.err
    assert manifest_of(tmp_path / "out")["artifacts"][0]["passed"] is False


def test_failing_step_names_step_status_and_log_and_stops(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: fails
        steps:
          - name: first
            run: ["/bin/sh", "-c", "echo boom >&2; exit 3"]
          - name: second
            run: ["/bin/sh", "-c", "touch ${out}/second-ran"]
        artifacts: []
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 1, r
    assert '"first"' in r.err and "3" in r.err and "first.log" in r.err
    assert not (out / "second-ran").exists()
    m = manifest_of(out)
    assert m["steps"][0]["exit_code"] == 3
    assert m["status"] == "failed"


def test_timeout_kills_whole_tree_including_detached_grandchild(tmp_path):
    pids = tmp_path / "pids"
    script = tmp_path / "tree.sh"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        sleep 300 &
        echo $! >> {pids}
        setsid sleep 300 &
        echo $! >> {pids}
        ( trap '' TERM; sleep 300 ) &
        echo $! >> {pids}
        echo $$ >> {pids}
        sleep 300
    """))
    script.chmod(0o755)
    p = write_pipeline(tmp_path, f"""\
        version: 1
        name: hang
        steps:
          - name: hang
            run: ["{script}"]
            limits: {{ timeout: 2s }}
        artifacts: []
    """)
    t0 = time.monotonic()
    r = run_pteflow("run", p, "--out", tmp_path / "out", timeout=120)
    assert r.code == 1, r
    assert "timed out" in r.err
    assert time.monotonic() - t0 < 60
    listed = [int(x) for x in pids.read_text().split()]
    assert len(listed) == 4
    time.sleep(0.5)
    alive = [pid for pid in listed if pid_alive(pid)]
    assert alive == [], f"processes survived the timeout: {alive}"


def test_lots_of_output_does_not_block(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: chatty
        steps:
          - name: chatty
            run: ["/bin/sh", "-c", "i=0; while [ $i -lt 60000 ]; do echo line $i of chatter; i=$((i+1)); done"]
        artifacts: []
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out, "--no-echo", timeout=300)
    assert r.code == 0, r.err[-2000:]
    log = (out / "logs" / "chatty.log").read_text()
    assert "line 59999 of chatter" in log
    assert log.count("\n") == 60000


def test_secret_reaches_only_the_step_that_names_it_and_is_redacted(tmp_path):
    token = "hf_TESTTOKENabcdef0123456789"
    p = write_pipeline(tmp_path, """\
        version: 1
        name: secrets
        steps:
          - name: uses
            run: ["/bin/sh", "-c", "echo token=$HF_TOKEN; echo ${env.HF_TOKEN} >&2; printf x > ${out}/a"]
            env: { HF_TOKEN: "${env.HF_TOKEN}" }
          - name: other
            run: ["/bin/sh", "-c", "echo other-sees=[$HF_TOKEN] [$PTEFLOW_TEST_LEAK]"]
        artifacts:
          - { path: a, kind: file }
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out, "--json", env={"HF_TOKEN": token, "PTEFLOW_TEST_LEAK": "leak"})
    assert r.code == 0, r
    for text in (r.out, r.err):
        assert token not in text
    for f in out.rglob("*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes(), f
    assert "token=***" in (out / "logs" / "uses.log").read_text()
    other = (out / "logs" / "other.log").read_text()
    assert "other-sees=[] []" in other
    json.loads(r.out)


def test_memory_kill_is_reported_as_memory(tmp_path):
    alloc = tool("alloc")
    if not os.path.exists(alloc):
        pytest.skip("pf_tool_alloc not built")
    p = write_pipeline(tmp_path, f"""\
        version: 1
        name: hungry
        steps:
          - name: export
            run: ["{alloc}", "--mib", "600", "--step-mib", "16", "--hold-ms", "2000"]
            limits: {{ memory: 200MiB, timeout: 2m }}
        artifacts: []
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 1, r
    assert "exceeded its memory limit" in r.err, r.err
    step = manifest_of(out)["steps"][0]
    assert step["guard"]["memory_kill"] is True


def test_sigterm_stops_step_tree_and_still_writes_manifest(tmp_path):
    pids = tmp_path / "pids"
    p = write_pipeline(tmp_path, f"""\
        version: 1
        name: interrupted
        steps:
          - name: long
            run: ["/bin/sh", "-c", "setsid sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; sleep 300"]
        artifacts: []
    """)
    out = tmp_path / "out"
    proc = subprocess.Popen([PTEFLOW, "run", str(p), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pids.exists() and len(pids.read_text().split()) >= 2):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    time.sleep(0.5)
    alive = [int(x) for x in pids.read_text().split() if pid_alive(int(x))]
    assert alive == []
    assert manifest_of(out)["status"] == "failed"


def test_missing_interpreter_is_an_environment_error(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: nopython
        steps:
          - name: export
            run: ["${python}", "-c", "print(1)"]
        artifacts: []
    """)
    r = run_pteflow("run", p, "--out", tmp_path / "out", "--python", str(tmp_path / "no-such-python"))
    assert r.code == 3, r
    assert "no-such-python" in r.err and "not found" in r.err


def test_unwritable_output_folder_is_an_environment_error(tmp_path):
    p = write_pipeline(tmp_path, OK_PIPELINE)
    r = run_pteflow("run", p, "--out", "/proc/pteflow-cannot-write-here")
    assert r.code == 3, r
    assert "output folder" in r.err


def test_invalid_pipeline_is_usage_error_with_position(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: bad
        steps:
          - name: a
            rnu: ["/bin/true"]
    """)
    r = run_pteflow("run", p, "--out", tmp_path / "out")
    assert r.code == 2, r
    assert f"{p}:5:" in r.err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_dry_run_prints_plan_and_runs_nothing(tmp_path):
    p = write_pipeline(tmp_path, OK_PIPELINE)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out, "--dry-run")
    assert r.code == 0, r
    assert "make" in r.out and "a.bin" in r.out
    assert not out.exists()


def test_targets_each_run_into_their_own_folder(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: multi
        vars: { word: none }
        steps:
          - name: make
            run: ["/bin/sh", "-c", "printf '${vars.word}' > ${out}/w.txt"]
        artifacts:
          - { path: w.txt, kind: file }
        targets:
          - name: small
            vars: { word: tiny }
          - name: large
            vars: { word: enormous }
    """)
    out = tmp_path / "out"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 0, r
    assert (out / "small" / "w.txt").read_text() == "tiny"
    assert (out / "large" / "w.txt").read_text() == "enormous"
    assert manifest_of(out / "large")["pipeline"]["target"] == "large"
    r = run_pteflow("run", p, "--out", tmp_path / "one", "--target", "small")
    assert r.code == 0, r
    assert (tmp_path / "one" / "w.txt").read_text() == "tiny"
    r = run_pteflow("run", p, "--out", tmp_path / "none", "--target", "medium")
    assert r.code == 2, r
    assert "small" in r.err and "large" in r.err


def test_help_and_usage_errors():
    r = run_pteflow("run", "--help")
    assert r.code == 0 and "--memory-guard" in r.out and "exit codes" in r.out
    r = run_pteflow("run")
    assert r.code == 2
    r = run_pteflow("run", "x.yaml", "--memory-guard", "bogus")
    assert r.code == 2 and "bogus" in r.err


def listed_commands():
    r = run_pteflow("help")
    assert r.code == 0, r
    body = r.out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in body.splitlines() if line.strip()]


def test_every_command_has_help():
    commands = listed_commands()
    assert set(commands) >= {"run", "plan", "validate", "fetch", "inspect", "verify", "keygen", "matrix", "explain", "store",
                             "version", "help"}, commands
    for command in commands:
        r = run_pteflow(command, "--help")
        assert r.code == 0, r
        assert r.out.startswith(f"usage: pteflow {command}"), r.out
        assert run_pteflow("help", command).out == r.out


def test_full_disk_leaves_no_half_written_manifest_and_does_not_pass(tmp_path):
    """The step fills the output folder's disk and exits 0: the run must fail as an
    environment problem, say so once, and leave no manifest or temporary file."""
    with small_tmpfs(tmp_path / "small", "1m") as mnt:
        p = write_pipeline(tmp_path, """\
            version: 1
            name: full
            steps:
              - name: fill
                run: ["/bin/sh", "-c", "head -c 2000000 /dev/zero > ${out}/a.bin; echo filled"]
            artifacts:
              - { path: a.bin, kind: file }
        """)
        out = mnt / "out"
        r = run_pteflow("run", p, "--out", out)
        assert r.code == 3, r
        assert "full: FAILED" in r.out and "passed" not in r.out
        assert "No space left on device" in r.err and "free some disk space" in r.err
        assert r.err.count("the manifest could not be written") == 1
        left = os.listdir(out)
        assert "manifest.json" not in left and not [f for f in left if ".tmp" in f], left


def test_dry_run_says_why_a_value_is_not_expanded(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: dr
        steps:
          - name: s
            run: ["/bin/echo", "${env.PTEFLOW_SURELY_UNSET_VAR}"]
        artifacts:
          - { path: a.bin, kind: file }
    """)
    env = {k: v for k, v in os.environ.items() if k != "PTEFLOW_SURELY_UNSET_VAR"}
    r = run_pteflow("run", p, "--dry-run", "--out", tmp_path / "o", env=env)
    assert r.code == 0, r
    assert "<${env.PTEFLOW_SURELY_UNSET_VAR}>" in r.out
    assert "not expanded on this host" in r.out and '"PTEFLOW_SURELY_UNSET_VAR" is not set' in r.out


def test_arguments_over_the_kernel_limit_are_refused_before_starting(tmp_path):
    big = "x" * 120_000
    p = write_pipeline(tmp_path, """\
        version: 1
        name: big
        vars: { big: "%s" }
        steps:
          - name: s
            run: ["/bin/sh", "-c", "touch ${out}/ran", %s]
        artifacts:
          - { path: ran, kind: file }
    """ % (big, ", ".join(['"${vars.big}"'] * 14)))
    out = tmp_path / "o"
    r = run_pteflow("run", p, "--out", out)
    assert r.code == 2, r
    assert "more than 1536 KiB" in r.err and "pass long values in a file" in r.err
    assert not (out / "ran").exists()
