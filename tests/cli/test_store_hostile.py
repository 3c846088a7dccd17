"""A store shared with people who may write into it, and release folders from anyone (issue 24): every
byte in the store is hostile. One test per case of the issue, through the real binary: planted links are
never followed (writing, deleting, restoring), FIFOs never block, lock waits are bounded and stop at the
first signal, sizes are checked before hashing, restored bytes are the bytes hashed, verify --provenance
reads each file once (none when the signature failed), secrets stay out of records and stored results,
listings escape control characters, and a restore racing gc is a plain miss."""
import fcntl
import hashlib
import json
import mmap
import os
import pathlib
import signal
import subprocess
import threading
import time

from conftest import PTEFLOW, PYTHON, run_pteflow, write_pipeline

TOKEN = "hf_HostileStoreTokenNeverStored42"

ONE_STEP = """\
    version: 1
    name: hostile
    steps:
      - name: make
        run: ["sh", "-c", "printf 'hello\\\\n' > ${out}/a.txt"]
    artifacts:
      - { path: a.txt, kind: file }
"""
A_SHA = hashlib.sha256(b"hello\n").hexdigest()


def run(p, out, store, *extra, env=None, timeout=120):
    e = {"PTEFLOW_STORE": str(store)}
    e.update(env or {})
    return run_pteflow("run", p, "--out", out, "--python", PYTHON, *extra, env=e, timeout=timeout)


def steps_of(out):
    m = json.loads((pathlib.Path(out) / "manifest.json").read_text())
    return {s["name"]: s for s in m["steps"]}


def fingerprint(p, out, store, step):
    r = run_pteflow("explain", p, "--out", out, "--python", PYTHON, "--json", env={"PTEFLOW_STORE": str(store)})
    assert r.code == 0, r
    return {s["name"]: s for s in json.loads(r.out)["steps"]}[step]["fingerprint"]


def index_id(pipeline, target, step):
    return hashlib.sha256(f"{pipeline}\0{target or ''}\0{step}\0".encode()).hexdigest()


def stored(tmp_path, body=ONE_STEP):
    """A pipeline run once: its store holds one entry."""
    p = write_pipeline(tmp_path, body)
    out, store = tmp_path / "out", tmp_path / "store"
    r = run(p, out, store)
    assert r.code == 0, r
    return p, out, store


def record_of(store, step):
    paths = [f for f in (store / "entries").glob("*.json") if json.loads(f.read_text())["step"] == step]
    assert len(paths) == 1, paths
    return paths[0]


def replace_object(store, sha, data=None, size=None):
    obj = store / "objects" / sha[:2] / sha
    obj.unlink()
    with open(obj, "wb") as f:
        if data is not None:
            f.write(data)
        if size is not None:
            f.truncate(size)
    return obj


# 1. planted links are never written through


def test_1_links_planted_at_temporary_and_lock_names_are_never_followed(tmp_path):
    p, out, store = stored(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    fp = fingerprint(p, out, store, "make")
    # a new value: the step runs and stores again, writing a record and the index
    p.write_text(p.read_text().replace("hello", "hullo"))
    fp2 = fingerprint(p, out, store, "make")
    # the names the store wrote through before (<name>.tmp.<pid>), planted for the pid pteflow will have
    script = ('ln -s "$V" "$S/index/$ID.tmp.$$"; ln -s "$V" "$S/entries/$FP.json.tmp.$$"; '
              'exec "$PTEFLOW" run "$P" --out "$O" --python "$PY"')
    env = dict(os.environ, V=str(victim), S=str(store), ID=index_id("hostile", None, "make"), FP=fp2,
               PTEFLOW=PTEFLOW, P=str(p), O=str(out), PY=PYTHON, PTEFLOW_STORE=str(store))
    r = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n"
    assert steps_of(out)["make"]["cache"]["stored"] is True
    # lock files: a link there creates nothing anywhere
    (store / "locks" / f"{fp}.lock").unlink(missing_ok=True)
    (store / "locks" / f"{fp}.lock").symlink_to(tmp_path / "made-by-lock")
    p.write_text(p.read_text().replace("hullo", "hello"))
    r = run(p, out, store)
    assert r.code == 0, r
    assert not (tmp_path / "made-by-lock").exists()
    assert "symbolic link" in r.err
    (store / "store.lock").unlink()
    (store / "store.lock").symlink_to(tmp_path / "made-by-store-lock")
    r = run(p, out, store)
    assert r.code == 0, r
    assert not (tmp_path / "made-by-store-lock").exists()
    assert "cannot be used" in r.err and "symbolic link" in r.err


# 2. planted folder links are never followed when deleting


def test_2_linked_store_folders_are_never_followed_to_delete_or_write(tmp_path):
    p, out, store = stored(tmp_path)
    # objects/<xx> linked to a folder holding a 64-hex-named file (as Hugging Face blobs are named)
    victim = tmp_path / "blobs"
    victim.mkdir()
    (victim / A_SHA).write_bytes(b"a blob of someone else's\n")
    sub = store / "objects" / A_SHA[:2]
    for f in sub.iterdir():
        f.unlink()
    sub.rmdir()
    sub.symlink_to(victim)
    r = run(p, out, store)
    assert r.code == 0, r
    assert (victim / A_SHA).read_bytes() == b"a blob of someone else's\n"
    # tmp/ linked to a folder: gc removes nothing there
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("keep\n")
    (store / "tmp").rmdir()
    (store / "tmp").symlink_to(other)
    r = run_pteflow("store", "gc", "--max-size", "0", "--store", store)
    assert (other / "keep.txt").exists(), r
    assert r.code == 3 and "symbolic link" in r.err, r
    # a whole objects/ linked elsewhere receives nothing
    (store / "tmp").unlink()
    (store / "tmp").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rename(store / "objects", tmp_path / "objects.old")
    (store / "objects").symlink_to(elsewhere)
    p.write_text(p.read_text().replace("hello", "hullo"))
    r = run(p, out, store)
    assert r.code == 0, r
    assert list(elsewhere.iterdir()) == []


# 3. a restore never writes through a link inside the output folder


def test_3_a_restore_refuses_a_link_on_the_way_inside_the_output_folder(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    p, out, store = stored(tmp_path, f"""\
        version: 1
        name: linkout
        steps:
          - name: link
            cache: false
            run: ["sh", "-c", "ln -sfn {shared} ${{out}}/shared"]
          - name: make
            run: ["sh", "-c", "printf 'hello\\\\n' > ${{out}}/a.txt"]
    """)
    # a record that adds shared/x, with its object in the store
    evil = b"written outside\n"
    sha = hashlib.sha256(evil).hexdigest()
    (store / "objects" / sha[:2]).mkdir(exist_ok=True)
    (store / "objects" / sha[:2] / sha).write_bytes(evil)
    rec_path = record_of(store, "make")
    rec = json.loads(rec_path.read_text())
    rec["outputs"].append({"path": "shared/x", "sha256": sha, "size": len(evil)})
    rec_path.write_text(json.dumps(rec))
    r = run(p, out, store)
    assert r.code == 0, r
    assert not (shared / "x").exists()
    assert steps_of(out)["make"]["cached"] is False
    assert "symbolic link" in r.err


# 4. FIFOs never block run, explain, store ls, gc or verify


def test_4_fifos_in_the_store_and_the_release_folder_never_block(tmp_path):
    p, out, store = stored(tmp_path)
    fp = fingerprint(p, out, store, "make")
    rec = store / "entries" / f"{fp}.json"
    rec.unlink()
    os.mkfifo(rec)
    (store / "index" / index_id("hostile", None, "make")).unlink()
    os.mkfifo(store / "index" / index_id("hostile", None, "make"))
    r = run(p, out, store, timeout=60)
    assert r.code == 0, r
    assert "not a regular file" in r.err
    os.mkfifo(store / "entries" / ("e" * 64 + ".json"))
    r = run_pteflow("explain", p, "--out", out, "--python", PYTHON, env={"PTEFLOW_STORE": str(store)}, timeout=60)
    assert r.code == 0, r
    r = run_pteflow("store", "ls", "--store", store, timeout=60)
    assert r.code == 0, r
    r = run_pteflow("store", "gc", "--max-size", "1GB", "--store", store, timeout=60)
    assert r.code == 0, r
    # a FIFO named as an artifact and a provenance subject
    (out / "a.txt").unlink()
    os.mkfifo(out / "a.txt")
    r = run_pteflow("verify", out / "manifest.json", timeout=60)
    assert r.code == 1, r
    r = run_pteflow("verify", out / "manifest.json", "--provenance", out / "provenance.intoto.jsonl", timeout=60)
    assert r.code == 1, r
    assert "not a regular file" in r.out + r.err


# 5. lock waits are bounded and stop at the first signal


def test_5_a_held_lock_is_waited_for_a_bounded_time_and_one_sigterm_stops_the_wait(tmp_path):
    p, out, store = stored(tmp_path)
    p.write_text(p.read_text().replace("hello", "hullo"))
    fp = fingerprint(p, out, store, "make")
    lock = store / "locks" / f"{fp}.lock"
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        t0 = time.monotonic()
        r = run(p, out, store, env={"PTEFLOW_STORE_LOCK_TIMEOUT": "2"}, timeout=60)
        assert r.code == 0, r
        assert time.monotonic() - t0 < 30
        assert f"locks/{fp}.lock" in r.err and "PTEFLOW_STORE_LOCK_TIMEOUT" in r.err, r
        env = dict(os.environ, PTEFLOW_STORE=str(store))
        env.pop("PTEFLOW_STORE_LOCK_TIMEOUT", None)
        proc = subprocess.Popen([PTEFLOW, "run", p, "--out", out, "--python", PYTHON], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, "it waits for the lock"
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("one SIGTERM did not stop a run waiting for a store lock")
        assert proc.returncode != 0
        assert "interrupted while waiting for the store lock" in err


# 6. the size is compared before a byte is hashed


def test_6_a_huge_object_is_refused_by_its_size_without_being_read(tmp_path):
    p, out, store = stored(tmp_path)
    replace_object(store, A_SHA, size=1 << 40)  # 1 TiB, sparse; the record says 6 bytes
    t0 = time.monotonic()
    r = run(p, out, store, timeout=90)
    assert r.code == 0, r
    assert time.monotonic() - t0 < 30
    assert "its record says 6" in r.err
    assert steps_of(out)["make"]["cached"] is False


# 7. restored bytes are the bytes hashed


def test_7_an_object_rewritten_through_a_shared_mapping_is_never_restored_unchecked(tmp_path):
    size = 32 << 20
    body = f"""\
        version: 1
        name: mapped
        steps:
          - name: big
            run: ["{PYTHON}", "-c", "open('${{out}}/big.bin','wb').write(bytes(range(256)) * {size // 256})"]
    """
    p = write_pipeline(tmp_path, body)
    out, store = tmp_path / "out", tmp_path / "store"
    want = hashlib.sha256(bytes(range(256)) * (size // 256)).hexdigest()
    bad = []
    for _ in range(6):
        r = run(p, out, store)
        assert r.code == 0, r
        obj = store / "objects" / want[:2] / want
        with open(obj, "r+b") as f:
            m = mmap.mmap(f.fileno(), 0)
            stop = threading.Event()

            def flip():
                pos = [7, size // 2, size - 9]
                while not stop.is_set():
                    for q in pos:
                        m[q] = m[q] ^ 0xFF
                        m[q] = m[q] ^ 0xFF

            t = threading.Thread(target=flip)
            t.start()
            try:
                r = run(p, out, store)
            finally:
                stop.set()
                t.join()
                m.close()
        assert r.code == 0, r
        if steps_of(out)["big"]["cached"]:
            got = hashlib.sha256((out / "big.bin").read_bytes()).hexdigest()
            if got != want:
                bad.append(got)
    assert not bad, f"{len(bad)} restore(s) reported cached with bytes that do not match the record"


# 8. verify --provenance: subjects deduplicated, nothing read when the signature fails


def _provenance_with_subjects(out, subjects):
    env = json.loads((out / "provenance.intoto.jsonl").read_text().splitlines()[0])
    import base64
    st = json.loads(base64.b64decode(env["payload"]))
    st["subject"] = subjects
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (out / "provenance.intoto.jsonl").write_text(json.dumps(env) + "\n")


def test_8_provenance_subjects_are_read_once_and_not_at_all_when_the_signature_fails(tmp_path):
    p, out, store = stored(tmp_path)
    data = os.urandom(1 << 20) * 50
    (out / "big.bin").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    _provenance_with_subjects(out, [{"name": "./big.bin", "digest": {"sha256": sha}}] * 300 +
                              [{"name": "big.bin", "digest": {"sha256": sha}}, {"name": ".//big.bin",
                                                                               "digest": {"sha256": sha}}])
    t0 = time.monotonic()
    r = run_pteflow("verify", out / "manifest.json", "--provenance", out / "provenance.intoto.jsonl", timeout=120)
    took = time.monotonic() - t0
    assert "302 subject(s) match" in r.out, r
    assert took < 4, f"{took:.1f} s: the file was read more than once"
    # signed, then edited: the signature fails and no subject's file is read (a 64 GiB sparse one here)
    keys = run_pteflow("keygen", tmp_path / "k.pem", "--type", "ed25519", "--json")
    assert keys.code == 0, keys
    info = json.loads(keys.out)
    out2, store2 = tmp_path / "out2", tmp_path / "store2"
    r = run(p, out2, store2, "--sign-key", info["private_key"])
    assert r.code == 0, r
    with open(out2 / "huge.bin", "wb") as f:
        f.truncate(64 << 30)
    _provenance_with_subjects(out2, [{"name": "./huge.bin", "digest": {"sha256": "0" * 64}}])
    t0 = time.monotonic()
    r = run_pteflow("verify", out2 / "manifest.json", "--provenance", out2 / "provenance.intoto.jsonl", "--key",
                    info["public_key"], timeout=180)
    took = time.monotonic() - t0
    assert r.code == 1, r
    assert "not read: the signature failed" in r.out, r
    assert took < 10, f"{took:.1f} s: a subject was hashed although the signature failed"


# 9. secrets stay out of fingerprints' shown values and of stored results


def test_9_a_token_in_an_inputs_pattern_or_a_result_file_is_never_stored(tmp_path):
    p = write_pipeline(tmp_path, """\
        version: 1
        name: secret
        steps:
          - name: uses-token
            run: ["sh", "-c", "echo ok > ${out}/ok.txt; mkdir -p ${out}/steps; printf '{\\"t\\": \\"%s\\"}' \\"$HF_TOKEN\\" > ${out}/steps/uses-token.result.json"]
            env: { HF_TOKEN: "${env.HF_TOKEN}" }
            inputs: ["data/${env.HF_TOKEN}/*.txt"]
    """)
    out, store = tmp_path / "out", tmp_path / "store"
    r = run(p, out, store, env={"HF_TOKEN": TOKEN})
    assert r.code == 0, r
    assert steps_of(out)["uses-token"]["cache"]["stored"] is True
    for f in store.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    r = run_pteflow("explain", p, "--out", out, "--python", PYTHON, env={"PTEFLOW_STORE": str(store),
                                                                         "HF_TOKEN": TOKEN + "x"})
    assert r.code == 0, r
    assert TOKEN not in r.out + r.err
    # the token still counts: another token is a miss
    assert "miss" in r.out


# 10. listings escape control characters


def test_10_store_ls_and_explain_escape_control_characters_from_records(tmp_path):
    p, out, store = stored(tmp_path)
    fp = fingerprint(p, out, store, "make")
    rec_path = store / "entries" / f"{fp}.json"
    rec = json.loads(rec_path.read_text())
    rec["pipeline"] = "x\x1b]0;owned\x07y"
    rec["step"] = "s\x1b[2J"
    rec["created_utc"] = "2026\x1b[31mred"
    rec_path.write_text(json.dumps(rec))
    r = run_pteflow("store", "ls", "--store", store)
    assert r.code == 0, r
    assert "\x1b" not in r.out and "\x07" not in r.out
    assert "\\x1b]0;owned\\x07" in r.out
    r = run_pteflow("explain", p, "--out", out, "--python", PYTHON, env={"PTEFLOW_STORE": str(store)})
    assert r.code == 0, r
    assert "\x1b" not in r.out and "\\x1b[31mred" in r.out


# 11. a restore racing gc is a plain miss


def test_11_an_entry_removed_by_gc_while_a_run_waits_is_a_miss_not_a_damaged_entry(tmp_path):
    p, out, store = stored(tmp_path)
    fp = fingerprint(p, out, store, "make")
    env = dict(os.environ, PTEFLOW_STORE=str(store))
    with open(store / "store.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as gc holds it
        proc = subprocess.Popen([PTEFLOW, "run", p, "--out", out, "--python", PYTHON], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # it has looked the entry up and waits to restore it
        (store / "entries" / f"{fp}.json").unlink()  # what gc --max-size 0 removes
        (store / "objects" / A_SHA[:2] / A_SHA).unlink()
        fcntl.flock(lock, fcntl.LOCK_UN)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "missing from the store" not in err and "warning" not in err, err
    assert steps_of(out)["make"]["cached"] is False
    # and a real gc at the same time as runs: no warning either
    for _ in range(3):
        procs = [subprocess.Popen([PTEFLOW, "run", p, "--out", tmp_path / f"o{i}", "--python", PYTHON], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        g = run_pteflow("store", "gc", "--max-size", "0", "--store", store)
        assert g.code == 0, g
        for q in procs:
            _, err = q.communicate(timeout=120)
            assert q.returncode == 0, err
            assert "missing from the store" not in err, err
