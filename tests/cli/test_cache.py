"""Incremental runs through the real binary: step fingerprints, the store,
`explain`, `store ls|gc`, --no-cache, --rebuild, cache: false, inputs:, a
model whose files change on a local Hub, damaged store entries, and two runs
sharing one store at once. Steps here are small shell and Python commands;
the real demo export is in test_e2e_demo.py."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import textwrap
import time

import jsonschema
import pytest

from conftest import PTEFLOW, PYTHON, SOURCE_DIR, run_pteflow, small_tmpfs
from hubfixture import LocalHub, write_repo

SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
PTE = SOURCE_DIR / "tests" / "resources" / "pte" / "xnnpack-linear.pte"
TOKEN = "hf_CacheTestTokenNeverStored0123"


def write(tmp, text, name="p.yaml"):
    p = pathlib.Path(tmp) / name
    p.write_text(textwrap.dedent(text))
    return p


def manifest_of(out):
    m = json.loads((pathlib.Path(out) / "manifest.json").read_text())
    jsonschema.validate(m, SCHEMA)
    return m


def steps_of(out):
    return {s["name"]: s for s in manifest_of(out)["steps"]}


def run(p, out, store, *extra, env=None):
    e = {"PTEFLOW_STORE": str(store)}
    e.update(env or {})
    return run_pteflow("run", p, "--out", out, "--python", PYTHON, *extra, env=e)


def explain(p, out, store, *extra, env=None):
    e = {"PTEFLOW_STORE": str(store)}
    e.update(env or {})
    r = run_pteflow("explain", p, "--out", out, "--python", PYTHON, "--json", *extra, env=e)
    assert r.code == 0, r
    return {s["name"]: s for s in json.loads(r.out)["steps"]}


TWO_STEPS = """\
    version: 1
    name: two-steps
    vars: {{ a: "{a}", b: "{b}" }}
    steps:
      - name: first
        run: ["sh", "-c", "echo ${{vars.a}} > ${{out}}/a.txt"]
      - name: second
        run: ["sh", "-c", "cat ${{out}}/a.txt ${{out}}/a.txt > ${{out}}/b.txt; echo ${{vars.b}} >> ${{out}}/b.txt"]
    artifacts:
      - {{ path: a.txt, kind: file }}
      - {{ path: b.txt, kind: file }}
"""


def test_second_run_restores_every_step_and_still_checks_every_gate(tmp_path):
    p = write(tmp_path, TWO_STEPS.format(a="1", b="2"))
    out, store = tmp_path / "out", tmp_path / "store"
    r = run(p, out, store)
    assert r.code == 0, r
    first = steps_of(out)
    assert [first[s]["cache"]["status"] for s in ("first", "second")] == ["miss", "miss"]
    assert all(first[s]["cache"]["stored"] and not first[s]["cached"] for s in first)
    assert first["first"]["cache"]["reason"] == "never stored before"

    r = run(p, out, store)
    assert r.code == 0, r
    assert r.out.count(" cached ") == 2, r.out
    m = manifest_of(out)
    again = {s["name"]: s for s in m["steps"]}
    for name in ("first", "second"):
        s = again[name]
        assert s["cached"] is True and s["status"] == "success" and s["cache"]["status"] == "hit"
        assert s["fingerprint"] == first[name]["fingerprint"]
        # the stored run's figures, and when it ran
        assert first[name]["cache"]["original_run_utc"] is None
        assert s["cache"]["original_run_utc"].endswith("Z") and s["cache"]["restore_ms"] >= 0
        assert s["duration_ms"] == first[name]["duration_ms"]
        assert s["peak_memory_bytes"] == first[name]["peak_memory_bytes"]
        assert s["log"]["sha256"] == first[name]["log"]["sha256"]
    # the gates ran on the restored files
    for a in m["artifacts"]:
        assert a["passed"] and {g["name"] for g in a["gates"]} >= {"exists", "non_empty"}, a
        assert a["sha256"] == hashlib.sha256((out / a["path"]).read_bytes()).hexdigest()
    assert (out / "b.txt").read_text() == "1\n1\n2\n"


def test_a_changed_value_reruns_exactly_the_steps_that_depend_on_it_and_explain_names_it(tmp_path):
    out, store = tmp_path / "out", tmp_path / "store"
    p = write(tmp_path, TWO_STEPS.format(a="1", b="2"))
    assert run(p, out, store).code == 0

    # b only reaches the second step
    p = write(tmp_path, TWO_STEPS.format(a="1", b="3"))
    e = explain(p, out, store)
    assert e["first"]["status"] == "hit"
    assert e["second"]["status"] == "miss" and e["second"]["component"] == "command"
    assert '"argv[2]" changed' in e["second"]["reason"] and "echo 2" in e["second"]["reason"] \
        and "echo 3" in e["second"]["reason"]
    r = run(p, out, store)
    assert r.code == 0, r
    s = steps_of(out)
    assert s["first"]["cached"] and not s["second"]["cached"]
    assert (out / "b.txt").read_text() == "1\n1\n3\n"

    # a reaches the first step; the second reads its output, so it runs too, for that reason
    p = write(tmp_path, TWO_STEPS.format(a="9", b="3"))
    e = explain(p, out, store)
    assert e["first"]["status"] == "miss" and e["first"]["component"] == "command"
    assert e["second"]["status"] == "miss" and e["second"]["component"] == "upstream"
    assert 'runs after "first"' in e["second"]["reason"]
    r = run(p, out, store)
    assert r.code == 0, r
    s = steps_of(out)
    assert not s["first"]["cached"] and not s["second"]["cached"]
    assert s["second"]["cache"]["reason"].startswith('upstream: "a.txt" changed')
    assert (out / "b.txt").read_text() == "9\n9\n3\n"

    # back to the first values: both restored, no step runs
    p = write(tmp_path, TWO_STEPS.format(a="1", b="2"))
    r = run(p, out, store)
    assert r.code == 0 and r.out.count(" cached ") == 2, r
    assert (out / "b.txt").read_text() == "1\n1\n2\n"


def test_an_identical_output_does_not_rerun_the_steps_after_it(tmp_path):
    """Early cut-off: the second step depends on what the first wrote, not on the first's command."""
    out, store = tmp_path / "out", tmp_path / "store"
    text = TWO_STEPS.replace('echo ${{vars.a}} > ${{out}}/a.txt', 'echo 1 > ${{out}}/a.txt; : ${{vars.a}}')
    assert run(write(tmp_path, text.format(a="x", b="2")), out, store).code == 0
    r = run(write(tmp_path, text.format(a="y", b="2")), out, store)
    assert r.code == 0, r
    s = steps_of(out)
    assert not s["first"]["cached"] and s["second"]["cached"]


def test_a_relocated_checkout_and_output_folder_still_hit(tmp_path):
    store = tmp_path / "store"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert run(write(a, TWO_STEPS.format(a="1", b="2")), a / "out", store).code == 0
    r = run(write(b, TWO_STEPS.format(a="1", b="2")), b / "elsewhere" / "out", store)
    assert r.code == 0 and r.out.count(" cached ") == 2, r


PY_STEP = """\
    version: 1
    name: py-steps
    steps:
      - name: uses-tool
        run: ["${{python}}", "-m", "pkg.tool", "${{out}}/tool.txt"]
        env: {{ PYTHONPATH: "${{pipeline.dir}}/src" }}
        inputs: ["data/*.csv"]
      - name: plain
        run: ["sh", "-c", "echo plain > ${{out}}/plain.txt"]
    artifacts:
      - {{ path: tool.txt, kind: file }}
"""


def py_project(tmp):
    src = pathlib.Path(tmp) / "src" / "pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "helper.py").write_text("VALUE = 1\n")
    (src / "unused.py").write_text("X = 0\n")
    (src / "tool.py").write_text("import sys\nfrom .helper import VALUE\nopen(sys.argv[1], 'w').write(str(VALUE))\n")
    data = pathlib.Path(tmp) / "data"
    data.mkdir()
    (data / "one.csv").write_text("1\n")
    return write(tmp, PY_STEP.format())


def test_declared_inputs_are_hashed_by_content(tmp_path):
    p = py_project(tmp_path)
    out, store = tmp_path / "out", tmp_path / "store"
    assert run(p, out, store).code == 0
    (tmp_path / "data" / "one.csv").write_text("2\n")
    e = explain(p, out, store)
    assert e["uses-tool"]["component"] == "inputs"
    assert "data/one.csv" in e["uses-tool"]["reason"] and "changed" in e["uses-tool"]["reason"]
    assert run(p, out, store).code == 0
    (tmp_path / "data" / "two.csv").write_text("3\n")
    e = explain(p, out, store)
    assert e["uses-tool"]["status"] == "miss" and "data/two.csv" in e["uses-tool"]["reason"] \
        and "is new" in e["uses-tool"]["reason"]


def test_cache_false_always_runs_and_no_cache_neither_reads_nor_writes(tmp_path):
    text = TWO_STEPS.replace("  - name: second\n", "  - name: second\n        cache: false\n")
    p = write(tmp_path, text.format(a="1", b="2"))
    out, store = tmp_path / "out", tmp_path / "store"
    assert run(p, out, store).code == 0
    r = run(p, out, store)
    s = steps_of(out)
    assert s["first"]["cached"] and not s["second"]["cached"] and s["second"]["cache"]["status"] == "off"
    assert explain(p, out, store)["second"]["status"] == "off"

    other = tmp_path / "store2"
    r = run(p, out, other, "--no-cache")
    assert r.code == 0, r
    s = steps_of(out)
    assert all(not x["cached"] and x["cache"]["status"] == "disabled" and x["fingerprint"] is None
               for x in s.values())
    assert not other.exists()  # not even created


def test_rebuild_runs_the_named_step_and_an_unknown_name_is_a_usage_error(tmp_path):
    p = write(tmp_path, TWO_STEPS.format(a="1", b="2"))
    out, store = tmp_path / "out", tmp_path / "store"
    assert run(p, out, store).code == 0
    r = run(p, out, store, "--rebuild", "first")
    assert r.code == 0, r
    s = steps_of(out)
    assert s["first"]["cache"]["status"] == "rebuild" and not s["first"]["cached"]
    assert s["second"]["cached"]  # the same bytes again: the step after it is still restored
    r = run(p, out, store, "--rebuild", "nope")
    assert r.code == 2 and '"nope"' in r.err, r


def steps_project(tmp):
    """A copy of the project's pipelines/ and python/ folders, as a checkout elsewhere."""
    root = pathlib.Path(tmp) / "checkout"
    shutil.copytree(SOURCE_DIR / "python", root / "python",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "pipelines").mkdir(parents=True)
    return root


def test_a_pteflow_steps_file_reruns_only_the_steps_whose_module_imports_it(tmp_path):
    root = steps_project(tmp_path)
    p = write(root / "pipelines", """\
        version: 1
        name: modules
        steps:
          - name: helpers
            run: ["${python}", "-c", "import sys; sys.path.insert(0, sys.argv[1]); open(sys.argv[2], 'w').write('x')",
                  "${pipeline.dir}/../python", "${out}/x.txt"]
          - name: check-help
            run: ["${python}", "-m", "pteflow_steps.check", "--help"]
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    r = run(p, out, store)
    assert r.code == 0, r
    assert all(s["cache"]["status"] == "miss" for s in steps_of(out).values())
    # export_lora.py is not imported by check.py (nor by what it imports): check-help stays a hit
    with open(root / "python" / "pteflow_steps" / "export_lora.py", "a") as f:
        f.write("\n# a change check.py cannot see\n")
    e = explain(p, out, store)
    assert e["helpers"]["status"] == "hit" and e["check-help"]["status"] == "hit", e
    # common.py is: check-help misses, naming it
    with open(root / "python" / "pteflow_steps" / "common.py", "a") as f:
        f.write("\n# a change check.py imports\n")
    e = explain(p, out, store)
    assert e["check-help"]["status"] == "miss" and e["check-help"]["component"] == "steps"
    assert '"pteflow_steps/common.py" changed' in e["check-help"]["reason"]
    # the requirements file is part of every ${python} step
    with open(root / "python" / "requirements.txt", "a") as f:
        f.write("# pinned again\n")
    e = explain(p, out, store)
    assert e["helpers"]["status"] == "miss" and e["helpers"]["component"] == "packages"


def test_a_flipped_byte_in_a_stored_pte_is_caught_and_never_restored(tmp_path):
    p = write(tmp_path, f"""\
        version: 1
        name: tamper
        steps:
          - name: export
            run: ["cp", "{PTE}", "${{out}}/model.pte"]
        artifacts:
          - {{ path: model.pte, kind: pte }}
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    assert run(p, out, store).code == 0
    digest = hashlib.sha256(PTE.read_bytes()).hexdigest()
    obj = store / "objects" / digest[:2] / digest
    assert obj.exists()
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    (out / "model.pte").unlink()

    r = run(p, out, store)
    assert r.code == 0, r
    assert "does not match its SHA-256" in r.err and "tampered" in r.err, r.err
    s = steps_of(out)["export"]
    assert not s["cached"] and s["cache"]["status"] == "miss" and "failed its check" in s["cache"]["reason"]
    assert (out / "model.pte").read_bytes() == PTE.read_bytes()
    # the damaged copy is gone and the step's fresh outputs were stored again
    assert obj.read_bytes() == PTE.read_bytes()
    r = run(p, out, store)
    assert r.code == 0 and " cached " in r.out, r

    # a truncated record is a miss with a warning too
    entry = next((store / "entries").glob("*.json"))
    entry.write_text(entry.read_text()[:40])
    r = run(p, out, store)
    assert r.code == 0 and "unreadable" in r.err, r
    assert not steps_of(out)["export"]["cached"]


def test_two_runs_at_once_on_one_store_both_finish_and_compute_once(tmp_path):
    p = write(tmp_path, """\
        version: 1
        name: racing
        steps:
          - name: slow
            run: ["sh", "-c", "sleep 2; echo done >> ${out}/slow.txt; date +%s%N > ${out}/stamp.txt"]
          - name: after
            run: ["sh", "-c", "cat ${out}/slow.txt > ${out}/after.txt"]
        artifacts:
          - { path: slow.txt, kind: file }
          - { path: after.txt, kind: file }
    """)
    store = tmp_path / "store"
    env = dict(os.environ, PTEFLOW_STORE=str(store))
    procs = [subprocess.Popen([PTEFLOW, "run", str(p), "--out", str(tmp_path / f"out{i}"), "--no-echo"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(2)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    outs = [steps_of(tmp_path / f"out{i}") for i in range(2)]
    # one computed it, the other waited for it and restored the same bytes
    assert sorted(o["slow"]["cached"] for o in outs) == [False, True], results
    assert "waited for another run" in "".join(err for _, err in results)
    for i in range(2):
        assert (tmp_path / f"out{i}" / "slow.txt").read_text() == "done\n"
        assert (tmp_path / f"out{i}" / "after.txt").read_text() == "done\n"
    assert (tmp_path / "out0" / "stamp.txt").read_text() == (tmp_path / "out1" / "stamp.txt").read_text()
    assert len(list((store / "entries").glob("*.json"))) == 2


def test_store_ls_and_gc_least_recently_used_first(tmp_path):
    store = tmp_path / "store"
    for i, size in enumerate((3000, 5000, 7000)):
        d = tmp_path / f"p{i}"
        d.mkdir()
        p = write(d, f"""\
            version: 1
            name: sized{i}
            steps:
              - name: make
                run: ["{PYTHON}", "-c", "open('${{out}}/f.bin', 'wb').write(bytes([{i}]) * {size})"]
        """)
        assert run(p, d / "out", store).code == 0
        time.sleep(1.1)  # entries are ordered by last use, to the second
    # use the oldest again: it becomes the most recently used
    assert " cached " in run(tmp_path / "p0" / "p.yaml", tmp_path / "p0" / "out", store).out
    r = run_pteflow("store", "ls", "--json", "--store", store)
    assert r.code == 0, r
    ls = json.loads(r.out)
    assert [e["pipeline"] for e in ls["entries"]] == ["sized1", "sized2", "sized0"]
    assert all(e["step"] == "make" and len(e["fingerprint"]) == 64 for e in ls["entries"])

    r = run_pteflow("store", "gc", "--max-size", "12KB", "--dry-run", "--json", "--store", store)
    assert r.code == 0 and json.loads(r.out)["entries_removed"] == 1, r
    assert len(json.loads(run_pteflow("store", "ls", "--json", "--store", store).out)["entries"]) == 3
    r = run_pteflow("store", "gc", "--max-size", "12KB", "--json", "--store", store)
    gc = json.loads(r.out)
    assert r.code == 0 and gc["entries_removed"] == 1 and gc["bytes_after"] <= 12000, r
    left = [e["pipeline"] for e in json.loads(run_pteflow("store", "ls", "--json", "--store", store).out)["entries"]]
    assert left == ["sized2", "sized0"]
    r = run_pteflow("store", "gc", "--max-size", "0", "--store", store)
    assert r.code == 0 and "2 entries removed" in r.out, r
    assert not any((store / "objects").rglob("*")) or all(x.is_dir() for x in (store / "objects").rglob("*"))
    # usage errors
    assert run_pteflow("store", "gc", "--store", store).code == 2
    assert run_pteflow("store", "gc", "--max-size", "lots", "--store", store).code == 2
    assert run_pteflow("store", "frob", "--store", store).code == 2


def test_secret_values_never_reach_the_store(tmp_path):
    p = write(tmp_path, """\
        version: 1
        name: secret
        steps:
          - name: uses-token
            run: ["sh", "-c", "echo using $HF_TOKEN > /dev/null; echo ok > ${out}/ok.txt"]
            env: { HF_TOKEN: "${env.HF_TOKEN}" }
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    r = run(p, out, store, env={"HF_TOKEN": TOKEN})
    assert r.code == 0, r
    for f in store.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    # the token's value is part of the fingerprint (hashed): another token is a miss, named but not shown
    e = explain(p, out, store, env={"HF_TOKEN": TOKEN + "x"})
    assert e["uses-token"]["status"] == "miss" and e["uses-token"]["component"] == "env"
    assert TOKEN not in json.dumps(e)


def test_an_unusable_store_is_a_warning_and_the_run_still_passes(tmp_path):
    p = write(tmp_path, TWO_STEPS.format(a="1", b="2"))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    r = run(p, tmp_path / "out", blocker / "store")
    assert r.code == 0, r
    assert "cannot be used" in r.err and "--no-cache" in r.err
    assert all(s["cache"]["status"] == "disabled" for s in steps_of(tmp_path / "out").values())
    r = run_pteflow("explain", p, "--store", blocker / "store")
    assert r.code == 3, r


def test_a_step_that_fails_is_not_stored(tmp_path):
    p = write(tmp_path, """\
        version: 1
        name: failing
        steps:
          - name: bad
            run: ["sh", "-c", "echo partial > ${out}/x.txt; exit 3"]
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    assert run(p, out, store).code == 1
    assert not list((store / "entries").glob("*.json"))
    assert run(p, out, store).code == 1


def test_model_files_count_for_the_steps_that_read_them(tmp_path):
    root = tmp_path / "hubroot"
    write_repo(str(root), "org/cached", {"config.json": '{"a": 1}\n', "weights.bin": b"\x01" * 4096})
    p = write(tmp_path, """\
        version: 1
        name: with-model
        model: { hf: org/cached }
        steps:
          - name: no-model
            run: ["sh", "-c", "echo independent > ${out}/n.txt"]
          - name: reads-model
            run: ["sh", "-c", "cat ${model.dir}/weights.bin > ${out}/w.bin"]
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_TOKEN": TOKEN}
    with LocalHub(str(root), token=TOKEN, python=PYTHON) as hub:
        env["HF_ENDPOINT"] = hub.url
        r = run(p, out, store, env=env)
        assert r.code == 0, r
        r = run(p, out, store, env=env)
        assert r.code == 0 and r.out.count(" cached ") == 2, r
    write_repo(str(root), "org/cached", {"weights.bin": b"\x02" * 4096})
    with LocalHub(str(root), token=TOKEN, python=PYTHON) as hub:
        env["HF_ENDPOINT"] = hub.url
        r = run(p, out, store, env=env)
        assert r.code == 0, r
    s = steps_of(out)
    assert s["no-model"]["cached"] and not s["reads-model"]["cached"]
    assert s["reads-model"]["cache"]["reason"].startswith("model: ")
    # explain looks the model up in the local cache only (no Hub running now)
    e = explain(p, out, store, env=env)
    assert e["no-model"]["status"] == "hit" and e["reads-model"]["status"] == "hit"


def test_invalid_inputs_and_cache_keys_are_reported_with_their_position(tmp_path):
    p = write(tmp_path, """\
        version: 1
        name: bad-cache
        steps:
          - name: s
            run: ["true"]
            cache: maybe
    """)
    r = run_pteflow("validate", p)
    assert r.code == 2 and ":6:" in r.err and '"cache" must be true or false' in r.err, r
    p = write(tmp_path, """\
        version: 1
        name: bad-inputs
        steps:
          - name: s
            run: ["true"]
            inputs: ["${vars.nope}"]
    """)
    r = run_pteflow("validate", p)
    assert r.code == 2 and "nope" in r.err, r


def test_a_full_store_disk_is_a_warning_and_leaves_no_partial_entry(tmp_path):
    with small_tmpfs(tmp_path / "small", "256k") as mnt:
        p = write(tmp_path, """\
            version: 1
            name: big-output
            steps:
              - name: write
                run: ["/bin/sh", "-c", "head -c 600000 /dev/urandom > ${out}/big.bin"]
            artifacts:
              - { path: big.bin, kind: file }
        """)
        out, store = tmp_path / "out", mnt / "store"
        r = run(p, out, store)
        assert r.code == 0, r
        assert "could not be stored" in r.err and "No space left on device" in r.err, r.err
        s = steps_of(out)["write"]
        assert s["cache"]["status"] == "miss" and s["cache"]["stored"] is False
        assert not list((store / "entries").glob("*.json"))
        # no object, record or temporary copy is left behind (only the empty lock files)
        left = [f for f in store.rglob("*") if f.is_file() and f.name != "store.lock" and f.parent.name != "locks"]
        assert left == [], left
        r = run(p, out, store)
        assert r.code == 0 and " cached " not in r.out, r


def test_the_same_interpreter_by_another_path_still_hits(tmp_path):
    """A venv reached through a symbolic link (as <cache>/pteflow/current) is the same interpreter."""
    p = write(tmp_path, """\
        version: 1
        name: interpreter
        steps:
          - name: py
            run: ["${python}", "-c", "import sys; open(sys.argv[1], 'w').write('x')", "${out}/x.txt"]
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    venv = pathlib.Path(PYTHON).parent.parent
    link = tmp_path / "venv-link"
    link.symlink_to(venv, target_is_directory=True)
    assert run(p, out, store).code == 0
    r = run_pteflow("run", p, "--out", out, "--python", link / "bin" / pathlib.Path(PYTHON).name,
                    env={"PTEFLOW_STORE": str(store)})
    assert r.code == 0 and " cached " in r.out, r


def test_explain_says_why_a_step_cannot_be_fingerprinted_and_counts_it_as_running(tmp_path):
    p = write(tmp_path, """\
        version: 1
        name: unset-env
        steps:
          - name: needs-var
            run: ["sh", "-c", "echo ${env.PTEFLOW_TEST_UNSET_VAR} > ${out}/v.txt"]
          - name: after
            run: ["sh", "-c", "cat ${out}/v.txt > ${out}/w.txt"]
    """)
    e = explain(p, tmp_path / "out", tmp_path / "store", env={"PTEFLOW_TEST_UNSET_VAR": ""})
    # an empty value is a value: both steps fingerprint (and miss, never stored)
    assert e["needs-var"]["status"] == "miss" and e["needs-var"]["reason"] == "never stored before"
    r = run_pteflow("explain", p, "--out", tmp_path / "out", "--python", PYTHON, "--json",
                    env={"PTEFLOW_STORE": str(tmp_path / "store")})
    assert r.code == 0, r
    steps = {s["name"]: s for s in json.loads(r.out)["steps"]}
    assert steps["needs-var"]["status"] == "unknown" and steps["needs-var"]["fingerprint"] is None
    assert "PTEFLOW_TEST_UNSET_VAR" in steps["needs-var"]["reason"]
    assert steps["after"]["status"] == "miss"
