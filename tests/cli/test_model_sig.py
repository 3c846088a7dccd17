"""OpenSSF model signing through the real binary, against model-signing 1.1.1 (PyPI, the
sigstore/model-transparency implementation, pinned in python/requirements.txt) in both directions:
`pteflow run --sign-key` with an ECDSA P-256 key writes model.sig, which `model_signing verify key`
accepts for the output folder as it is; `pteflow verify --model-sig` checks what
`model_signing sign key` wrote. Pipelines are quick shell steps; no export runs.

Covered: the bundle and statement pteflow writes (media type, key hint, DER signature, predicate,
resources = the artifacts, ignore_paths = everything else), acceptance by the model_signing CLI and
its rejection of a changed artifact; pteflow's check of model_signing signatures (nested folders,
hidden files, .git ignored), extra, missing and changed files named, a wrong key, a changed payload,
a sharded or foreign bundle (exit 2), links never followed; Ed25519 keys and failed runs write no
model.sig and remove a stale one, and a model.sig the pipeline itself writes is left alone; usage errors.
"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from conftest import PYTHON, run_pteflow

pytest.importorskip("model_signing", reason="model-signing is not in this Python (python/requirements.txt)")

SMALL = """\
    version: 1
    name: small
    steps:
      - name: make
        run: ["/bin/sh", "-c", "printf hello > ${out}/model.pte.txt; mkdir -p ${out}/sub ${out}/junk; printf x > ${out}/sub/w.bin; printf y > ${out}/sub/notes.txt; printf z > ${out}/junk/a"]
    artifacts:
      - { path: model.pte.txt, kind: file }
      - { path: sub/w.bin, kind: file }
"""

FAILING = """\
    version: 1
    name: small
    steps:
      - name: make
        run: ["/bin/sh", "-c", "printf hello > ${out}/model.pte.txt"]
    artifacts:
      - { path: model.pte.txt, kind: file, max_size: 2B }
"""


def model_signing(*args, cwd=None):
    """The model_signing 1.1.1 command line, as a user runs it."""
    p = subprocess.run([PYTHON, "-m", "model_signing", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


def keygen(folder, name, key_type):
    r = run_pteflow("keygen", pathlib.Path(folder) / f"{name}.pem", "--type", key_type, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {"ec": keygen(d, "ec", "ecdsa-p256"), "ec2": keygen(d, "ec2", "ecdsa-p256"), "ed": keygen(d, "ed", "ed25519")}


def run_small(tmp_path, key=None, body=SMALL, expect=0):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(body))
    out = tmp_path / "out"
    args = ["run", p, "--out", out, "--no-echo"] + (["--sign-key", key] if key else [])
    r = run_pteflow(*args)
    assert r.code == expect, r
    return out, r


def bundle_of(path):
    b = json.loads(pathlib.Path(path).read_text())
    return b, json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))


def pteflow_verify(*args):
    return run_pteflow("verify", *args)


# ---- pteflow signs, model_signing verifies ----

def test_run_writes_model_sig_that_model_signing_accepts(tmp_path, keys):
    info = keys["ec"]
    out, r = run_small(tmp_path, key=info["private_key"])
    assert "model signature:" in r.err
    b, st = bundle_of(out / "model.sig")
    assert b["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    pem = pathlib.Path(info["public_key"]).read_bytes()
    assert b["verificationMaterial"] == {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []}
    env = b["dsseEnvelope"]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert len(env["signatures"]) == 1 and env["signatures"][0]["keyid"] == ""
    assert base64.b64decode(env["signatures"][0]["sig"])[0] == 0x30  # DER ECDSA-Sig-Value
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://model_signing/signature/v1.0"
    res = st["predicate"]["resources"]
    assert [(x["name"], x["algorithm"], x["digest"]) for x in res] == [
        ("model.pte.txt", "sha256", hashlib.sha256(b"hello").hexdigest()),
        ("sub/w.bin", "sha256", hashlib.sha256(b"x").hexdigest())]
    root = hashlib.sha256(b"".join(bytes.fromhex(x["digest"]) for x in res)).hexdigest()
    assert st["subject"] == [{"name": "out", "digest": {"sha256": root}}]
    ser = st["predicate"]["serialization"]
    assert ser["method"] == "files" and ser["hash_type"] == "sha256" and ser["allow_symlinks"] is False
    ignored = set(ser["ignore_paths"])
    for name in ("manifest.json", "SHA256SUMS", "provenance.intoto.jsonl", "model.sig", "logs", "junk",
                 "sub/notes.txt", ".git"):
        assert name in ignored, (name, ignored)
    assert not ignored & {"model.pte.txt", "sub/w.bin", "sub"}

    # the model_signing CLI accepts the output folder as it is, from outside and from inside it
    code, text = model_signing("verify", "key", "--signature", out / "model.sig", "--public_key",
                               info["public_key"], out)
    assert code == 0 and "Verification succeeded" in text, text
    code, text = model_signing("verify", "key", "--signature", "model.sig", "--public_key", info["public_key"], ".",
                               cwd=out)
    assert code == 0, text
    # pteflow checks the same file, beside the manifest checks
    r = pteflow_verify(out / "manifest.json", "--model-sig", out / "model.sig", "--key", info["public_key"])
    assert r.code == 0, r
    assert "OK  model-sig signature: verifies with the given key" in r.out
    assert "OK  model-sig files: 2 of 2 signed file(s) match" in r.out
    r = pteflow_verify(out / "manifest.json", "--model-sig", out / "model.sig", "--key", info["public_key"], "--json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["ok"] is True and doc["model_sig"]["ok"] is True and doc["model_sig"]["files"] == 2

    # an artifact changed after signing: model_signing and pteflow both refuse it
    (out / "sub" / "w.bin").write_bytes(b"X")
    code, text = model_signing("verify", "key", "--signature", out / "model.sig", "--public_key",
                               info["public_key"], out)
    assert code == 1 and "Hash mismatch for 'sub/w.bin'" in text, text
    r = pteflow_verify(out / "manifest.json", "--model-sig", out / "model.sig", "--key", info["public_key"])
    assert r.code == 1, r
    assert 'FAILED  model-sig files: changed file "sub/w.bin"' in r.out


def test_ed25519_key_and_failed_run_write_no_model_sig(tmp_path, keys):
    out, _ = run_small(tmp_path, key=keys["ec"]["private_key"])
    assert (out / "model.sig").exists()
    # an Ed25519 key signs the provenance only: model_signing takes EC keys; the stale file goes
    out, r = run_small(tmp_path, key=keys["ed"]["private_key"])
    assert not (out / "model.sig").exists()
    assert "model.sig not written" in r.err and "ecdsa-p256" in r.err
    assert (out / "provenance.intoto.jsonl").exists()
    run_small(tmp_path, key=keys["ec"]["private_key"])
    assert (out / "model.sig").exists()
    # a run without a key, and a failed run, remove it too
    run_small(tmp_path)
    assert not (out / "model.sig").exists()
    run_small(tmp_path, key=keys["ec"]["private_key"])
    out, _ = run_small(tmp_path, key=keys["ec"]["private_key"], body=FAILING, expect=1)
    assert not (out / "model.sig").exists() and not (out / "provenance.intoto.jsonl").exists()


def test_model_sig_that_cannot_be_written_fails_the_run(tmp_path, keys):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(SMALL))
    out = tmp_path / "out"
    (out / "model.sig").mkdir(parents=True)  # a folder where the file must go
    r = run_pteflow("run", p, "--out", out, "--sign-key", keys["ec"]["private_key"], "--no-echo")
    assert r.code == 1, r
    assert "the model signature could not be written" in r.err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "failed"
    assert not (out / "provenance.intoto.jsonl").exists()


OWN_SIG = """\
    version: 1
    name: own
    steps:
      - name: make
        run: ["/bin/sh", "-c", "printf hello > ${out}/model.pte.txt; printf mine > ${out}/model.sig"]
    artifacts:
      - { path: model.pte.txt, kind: file }
"""


def test_a_model_sig_the_pipeline_writes_is_never_touched(tmp_path, keys):
    """A step that writes model.sig itself (say, by running model_signing): pteflow neither removes nor
    overwrites it, signed run or not, and says why it wrote no signature of its own."""
    out, r = run_small(tmp_path, key=keys["ec"]["private_key"], body=OWN_SIG)
    assert (out / "model.sig").read_text() == "mine"
    assert "was made by the pipeline" in r.err
    out, r = run_small(tmp_path, body=OWN_SIG)  # unsigned: not removed either
    assert (out / "model.sig").read_text() == "mine"
    out, r = run_small(tmp_path, key=keys["ec"]["private_key"],
                       body=OWN_SIG + "      - { path: model.sig, kind: file }\n")
    assert (out / "model.sig").read_text() == "mine"


# ---- model_signing signs, pteflow verifies ----

@pytest.fixture
def signed_model(tmp_path, keys):
    m = tmp_path / "my-model"
    (m / "d" / "e").mkdir(parents=True)
    (m / ".git").mkdir()
    (m / "config.json").write_text("{}")
    (m / "model.pte").write_bytes(b"hello")
    (m / "d" / "e" / "x.bin").write_bytes(b"abc")
    (m / ".hidden").write_bytes(b"h")
    (m / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    code, text = model_signing("sign", "key", "--private_key", keys["ec"]["private_key"], "--signature",
                               m / "model.sig", m)
    assert code == 0 and "Signing succeeded" in text, text
    return m


def test_pteflow_verifies_a_model_signing_signature(signed_model, keys):
    m = signed_model
    _, st = bundle_of(m / "model.sig")
    assert sorted(x["name"] for x in st["predicate"]["resources"]) == [".hidden", "config.json", "d/e/x.bin",
                                                                         "model.pte"]
    for args in ([], [m]):  # the folder defaults to the signature's
        r = pteflow_verify(*args, "--model-sig", m / "model.sig", "--key", keys["ec"]["public_key"])
        assert r.code == 0, r
        assert "OK  model-sig files: 4 of 4 signed file(s) match" in r.out
        assert r.out.splitlines()[-1] == "model signature verified: the folder holds exactly the signed files"
    r = pteflow_verify(m, "--model-sig", m / "model.sig", "--key", keys["ec"]["public_key"], "--json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc == {"ok": True, "model_sig": doc["model_sig"]}
    assert doc["model_sig"]["model_name"] == "my-model"
    assert [c["status"] for c in doc["model_sig"]["checks"]] == ["OK", "OK"]


def test_extra_missing_and_changed_files_are_named(signed_model, keys):
    m = signed_model
    (m / "new.bin").write_bytes(b"new")
    (m / "config.json").unlink()
    (m / "d" / "e" / "x.bin").write_bytes(b"abd")
    (m / ".git" / "index").write_bytes(b"ignored, as model_signing does")
    r = pteflow_verify("--model-sig", m / "model.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 1, r
    line = [x for x in r.out.splitlines() if x.startswith("FAILED  model-sig files:")][0]
    assert 'extra file "new.bin"' in line and 'missing file "config.json"' in line
    assert 'changed file "d/e/x.bin"' in line and ".git" not in line
    assert 'model signature check "files" failed' in r.err
    code, text = model_signing("verify", "key", "--signature", m / "model.sig", "--public_key",
                               keys["ec"]["public_key"], m)
    assert code == 1, text  # the reference refuses the same folder


def test_wrong_key_and_changed_payload_fail_the_signature(signed_model, keys):
    m = signed_model
    r = pteflow_verify("--model-sig", m / "model.sig", "--key", keys["ec2"]["public_key"])
    assert r.code == 1, r
    assert "FAILED  model-sig signature: key mismatch" in r.out
    assert "SKIPPED  model-sig files: not checked" in r.out
    # a statement changed after signing (the hint still matches): the signature fails
    b = json.loads((m / "model.sig").read_text())
    st = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
    st["predicate"]["resources"] = [x for x in st["predicate"]["resources"] if x["name"] != "model.pte"]
    st["subject"][0]["digest"]["sha256"] = hashlib.sha256(
        b"".join(bytes.fromhex(x["digest"]) for x in st["predicate"]["resources"])).hexdigest()
    st["predicate"]["serialization"].setdefault("ignore_paths", []).append("model.pte")
    b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (m / "forged.sig").write_text(json.dumps(b))
    r = pteflow_verify(m, "--model-sig", m / "forged.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 1 and "FAILED  model-sig signature: does not verify" in r.out, r
    # a hint that is not a digest (terminal escapes, say) is never printed
    evil = json.loads((m / "model.sig").read_text())
    evil["verificationMaterial"]["publicKey"]["hint"] = "\x1b[2J\x1b[31mtrust me"
    (m / "evil.sig").write_text(json.dumps(evil))
    r = pteflow_verify(m, "--model-sig", m / "evil.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 1 and "key mismatch" in r.out and "(not a digest)" in r.out, r
    assert "\x1b" not in r.out + r.err
    (m / "evil.sig").unlink()
    # without a hint, every given key is tried
    del b["verificationMaterial"]["publicKey"]["hint"]
    b["dsseEnvelope"]["payload"] = json.loads((m / "model.sig").read_text())["dsseEnvelope"]["payload"]
    (m / "nohint.sig").write_text(json.dumps(b))
    r = pteflow_verify(m, "--model-sig", m / "nohint.sig", "--key", keys["ec2"]["public_key"], "--key",
                       keys["ec"]["public_key"])
    assert r.code == 1 and "OK  model-sig signature" in r.out, r  # nohint.sig and forged.sig are extra files
    assert 'extra file "forged.sig"' in r.out


@pytest.mark.parametrize("curve", ["SECP384R1", "SECP521R1"])
def test_p384_and_p521_keys_both_ways(tmp_path, curve):
    """model_signing also signs with P-384 and P-521 keys (SHA-384, SHA-512): pteflow checks those, and
    signs its run with one when --sign-key is such a key (made with openssl or cryptography, not keygen)."""
    ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    key = ec.generate_private_key(getattr(ec, curve)())
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    priv.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    m = tmp_path / "m"
    m.mkdir()
    (m / "w.bin").write_bytes(b"weights")
    code, text = model_signing("sign", "key", "--private_key", priv, "--signature", tmp_path / "m.sig", m)
    assert code == 0, text
    r = pteflow_verify(m, "--model-sig", tmp_path / "m.sig", "--key", pub)
    assert r.code == 0, r
    out, _ = run_small(tmp_path, key=priv)
    code, text = model_signing("verify", "key", "--signature", out / "model.sig", "--public_key", pub, out)
    assert code == 0, text
    assert pteflow_verify(out / "manifest.json", "--provenance", out / "provenance.intoto.jsonl", "--key", pub,
                          "--model-sig", out / "model.sig").code == 0


@pytest.mark.parametrize("text, why", [
    ("not json", "not a JSON object"),
    ('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.2+json"}', "mediaType"),
    ('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}}', "dsseEnvelope"),
    ('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}, '
     '"dsseEnvelope": {"payload": "@@", "payloadType": "x", "signatures": [{"sig": "MEQ="}]}}', "base64"),
])
def test_not_a_model_signature_is_exit_2(tmp_path, keys, text, why):
    (tmp_path / "bad.sig").write_text(text)
    r = pteflow_verify(tmp_path, "--model-sig", tmp_path / "bad.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 2, r
    assert why in r.err


def test_sharded_signature_is_refused_clearly(tmp_path, keys):
    m = tmp_path / "m"
    m.mkdir()
    (m / "w.bin").write_bytes(b"w" * 100)
    code = subprocess.run([PYTHON, "-c", textwrap.dedent(f"""
        import model_signing
        model_signing.signing.Config().use_elliptic_key_signer(private_key={str(keys['ec']['private_key'])!r}) \\
            .set_hashing_config(model_signing.hashing.Config().use_shard_serialization(shard_size=64)) \\
            .sign({str(m)!r}, {str(tmp_path / 'shards.sig')!r})
        """)], capture_output=True, text=True, timeout=120)
    assert code.returncode == 0, code.stderr
    r = pteflow_verify(m, "--model-sig", tmp_path / "shards.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 2 and "shards" in r.err, r


def test_links_and_fifos_in_the_folder_are_never_followed(signed_model, keys, tmp_path):
    m = signed_model
    secret = tmp_path / "outside.txt"
    secret.write_text("outside")
    os.symlink(secret, m / "link.txt")
    os.mkfifo(m / "pipe")
    r = pteflow_verify("--model-sig", m / "model.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 1, r
    assert 'symbolic link (never followed) "link.txt"' in r.out
    assert 'special file (never read) "pipe"' in r.out


def test_usage_errors(tmp_path, keys):
    r = pteflow_verify(tmp_path, "--model-sig", tmp_path / "model.sig")
    assert r.code == 2 and "--model-sig needs --key" in r.err
    r = pteflow_verify(tmp_path, "--model-sig", tmp_path / "model.sig", "--key", keys["ec"]["public_key"])
    assert r.code == 3 and "does not exist" in r.err
    r = pteflow_verify(tmp_path, "--model-sig", tmp_path / "x", "--key", keys["ec"]["public_key"], "--provenance", "p")
    assert r.code == 2
    assert "--model-sig" in run_pteflow("verify", "--help").out
    assert "model.sig" in run_pteflow("run", "--help").out
