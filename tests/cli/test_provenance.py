"""Release provenance through the real binary: `pteflow keygen`, `pteflow run --sign-key` writing
provenance.intoto.jsonl (an in-toto Statement v1 / SLSA provenance v1 in a DSSE envelope), and
`pteflow verify --provenance`. Pipelines here are quick steps that write small files; no export runs.

Covered: key pairs of both types (mode 0600, never overwritten, keyid = SHA-256 of the DER
SubjectPublicKeyInfo), signed and unsigned runs, the files against schemas/provenance.schema.json,
five kinds of tampering (each exit 1 naming the failing check), expected repo and ref, malformed
input (exit 2), GitHub Actions builder and invocation ids, no secret in the statement, and
interoperability in both directions with securesystemslib (the DSSE implementation in-toto uses),
including its default keyid, and a URI builder id outside GitHub Actions.
"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import textwrap

import pytest

from conftest import SOURCE_DIR, run_pteflow

SCHEMA = json.loads((SOURCE_DIR / "schemas" / "provenance.schema.json").read_text())
PAYLOAD_TYPE = "application/vnd.in-toto+json"
TOKEN = "hf_PROVENANCEtoken0123456789abcdef"


def write_pipeline(folder, body, name="p.yaml"):
    path = pathlib.Path(folder) / name
    path.write_text(textwrap.dedent(body))
    return path


SMALL = """\
    version: 1
    name: small
    vars: { word: hello, seq_len: "512" }
    steps:
      - name: make
        run: ["/bin/sh", "-c", "printf '${vars.word}' > ${out}/model.pte.txt; mkdir -p ${out}/sub; printf x > ${out}/sub/w.bin"]
    artifacts:
      - { path: model.pte.txt, kind: file }
      - { path: sub/w.bin, kind: file }
"""


def keygen(folder, name, key_type="ed25519"):
    r = run_pteflow("keygen", pathlib.Path(folder) / f"{name}.pem", "--type", key_type, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def run_small(tmp_path, key=None, env=None, body=SMALL, out_name="out"):
    p = write_pipeline(tmp_path, body)
    out = tmp_path / out_name
    args = ["run", p, "--out", out, "--no-echo"]
    if key:
        args += ["--sign-key", key]
    r = run_pteflow(*args, env=env)
    assert r.code == 0, r
    return out


def envelope_of(out):
    lines = (out / "provenance.intoto.jsonl").read_text().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def statement_of(env):
    return json.loads(base64.b64decode(env["payload"]))


def write_envelope(out, env):
    (out / "provenance.intoto.jsonl").write_text(json.dumps(env, separators=(",", ":")) + "\n")


def with_statement(env, statement):
    e = dict(env)
    e["payload"] = base64.b64encode(json.dumps(statement, separators=(",", ":")).encode()).decode()
    return e


def verify(out, *extra):
    return run_pteflow("verify", out / "manifest.json", "--provenance", out / "provenance.intoto.jsonl", *extra)


def failed_checks(r):
    return [line.split()[2].rstrip(":") for line in r.out.splitlines() if line.startswith("FAILED  provenance ")]


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {"ed25519": (d, keygen(d, "ed", "ed25519")), "ecdsa-p256": (d, keygen(d, "ec", "ecdsa-p256"))}


# ---- keygen ----

def test_keygen_both_types_modes_keyid_and_no_overwrite(tmp_path):
    crypto = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    for key_type, name in (("ed25519", "ed"), ("ecdsa-p256", "ec")):
        info = keygen(tmp_path, name, key_type)
        priv, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
        assert info == {"private_key": str(priv), "public_key": str(pub), "type": key_type, "keyid": info["keyid"]}
        assert priv.stat().st_mode & 0o777 == 0o600
        assert pub.stat().st_mode & 0o777 == 0o644
        assert b"PRIVATE KEY" in priv.read_bytes() and b"ENCRYPTED" not in priv.read_bytes()
        key = crypto.load_pem_public_key(pub.read_bytes())
        der = key.public_bytes(crypto.Encoding.DER, crypto.PublicFormat.SubjectPublicKeyInfo)
        assert info["keyid"] == hashlib.sha256(der).hexdigest()
        before = priv.read_bytes()
        r = run_pteflow("keygen", priv, "--type", key_type)
        assert r.code == 2, r
        assert "never overwrites" in r.err and str(priv) in r.err
        assert priv.read_bytes() == before
    r = run_pteflow("keygen", tmp_path / "x.pem", "--type", "rsa")
    assert r.code == 2 and "ed25519 or ecdsa-p256" in r.err
    assert not (tmp_path / "x.pem").exists()
    r = run_pteflow("keygen")
    assert r.code == 2
    r = run_pteflow("keygen", tmp_path / "plain.pem")
    assert r.code == 0 and "type:        ed25519" in r.out and "keyid:" in r.out


def test_help_of_new_options():
    r = run_pteflow("keygen", "--help")
    assert r.code == 0 and r.out.startswith("usage: pteflow keygen")
    assert run_pteflow("help", "keygen").out == r.out
    r = run_pteflow("verify", "--help")
    assert r.code == 0
    for opt in ("--provenance", "--key", "--expect-repo", "--expect-ref"):
        assert opt in r.out
    assert "--sign-key" in run_pteflow("run", "--help").out
    assert "keygen" in run_pteflow("help").out


# ---- signed and unsigned runs ----

@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_signed_run_verifies_and_follows_the_schema(tmp_path, keys, key_type):
    jsonschema = pytest.importorskip("jsonschema")
    d, info = keys[key_type]
    out = run_small(tmp_path, key=info["private_key"])
    env = envelope_of(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(env)
    st = statement_of(env)
    jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/statement"}).validate(st)
    assert env["payloadType"] == PAYLOAD_TYPE
    # pteflow's keyid, then the same signature under securesystemslib's default keyid (issue 19)
    assert [s["keyid"] for s in env["signatures"]][0] == info["keyid"]
    assert len(env["signatures"]) == 2 and env["signatures"][1]["keyid"] != info["keyid"]
    assert env["signatures"][0]["sig"] == env["signatures"][1]["sig"]
    sig = base64.b64decode(env["signatures"][0]["sig"])
    if key_type == "ed25519":
        assert len(sig) == 64
    else:
        assert sig[0] == 0x30  # DER ECDSA-Sig-Value
    subjects = {s["name"]: s["digest"]["sha256"] for s in st["subject"]}
    assert subjects == {
        "model.pte.txt": hashlib.sha256(b"hello").hexdigest(),
        "sub/w.bin": hashlib.sha256(b"x").hexdigest(),
    }
    pred = st["predicate"]
    ext = pred["buildDefinition"]["externalParameters"]
    assert ext["pipeline"]["path"].endswith("p.yaml")
    assert ext["pipeline"]["sha256"] == hashlib.sha256((tmp_path / "p.yaml").read_bytes()).hexdigest()
    assert ext["vars"] == {"word": "hello", "seq_len": "512"}
    assert ext["target"] is None and ext["model"] is None
    steps = pred["buildDefinition"]["internalParameters"]["steps"]
    assert steps[0]["name"] == "make" and steps[0]["argv"][0] == "/bin/sh"
    # SLSA v1: builder.id is a URI, also outside GitHub Actions
    assert pred["runDetails"]["builder"]["id"].startswith("https://pteflow.dev/builders/local@")
    meta = pred["runDetails"]["metadata"]
    assert meta["invocationId"].startswith("urn:uuid:") and meta["startedOn"] <= meta["finishedOn"]
    manifest = pred["runDetails"]["byproducts"][0]
    assert manifest["name"] == "manifest.json"
    assert manifest["digest"]["sha256"] == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()

    r = verify(out, "--key", info["public_key"])
    assert r.code == 0, r
    lines = r.out.splitlines()
    for check in ("envelope", "signature", "statement", "subjects", "manifest"):
        assert any(line.startswith(f"OK  provenance {check}: ") for line in lines), (check, r.out)
    assert lines[-1] == "provenance verified: signed, 2 subject(s) match"
    assert "verified: all 2 files match the manifest" in lines


def test_json_report_includes_the_provenance_checks(tmp_path, keys):
    d, info = keys["ed25519"]
    out = run_small(tmp_path, key=info["private_key"])
    r = verify(out, "--key", info["public_key"], "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["ok"] is True and len(doc["files"]) == 2
    prov = doc["provenance"]
    assert prov["ok"] is True and prov["signature_checked"] is True and prov["subjects"] == 2
    assert [c["name"] for c in prov["checks"]] == ["envelope", "signature", "statement", "subjects", "manifest"]
    assert all(c["status"] == "OK" for c in prov["checks"])
    (out / "sub" / "w.bin").write_bytes(b"y")
    r = verify(out, "--key", info["public_key"], "--json")
    assert r.code == 1
    doc = json.loads(r.out)
    assert doc["ok"] is False
    assert {c["name"]: c["status"] for c in doc["provenance"]["checks"]}["subjects"] == "FAILED"


def test_unsigned_run_says_so_and_never_passes_a_signature_check(tmp_path, keys):
    out = run_small(tmp_path)
    env = envelope_of(out)
    assert env["signatures"] == []
    r = verify(out)
    assert r.code == 0, r
    assert "UNSIGNED  provenance signature: not checked" in r.out
    assert "NOT checked" in r.out.splitlines()[-1]
    assert "NOT checked" in r.err
    r = verify(out, "--key", keys["ed25519"][1]["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["signature"]
    assert "unsigned" in r.out and 'provenance check "signature" failed' in r.err


# ---- tampering: each exit 1 with the failing check named ----

@pytest.fixture
def signed(tmp_path, keys):
    d, info = keys["ecdsa-p256"]
    out = run_small(tmp_path, key=info["private_key"])
    assert verify(out, "--key", info["public_key"]).code == 0
    return out, info


def test_tamper_changed_subject_digest(signed):
    out, info = signed
    env = envelope_of(out)
    st = statement_of(env)
    st["subject"][0]["digest"]["sha256"] = hashlib.sha256(b"evil").hexdigest()
    write_envelope(out, with_statement(env, st))
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["signature", "subjects"]
    assert "model.pte.txt" in r.out
    assert 'FAILED: provenance check "signature" failed' in r.out


def test_tamper_artifact_changed_on_disk(signed):
    out, info = signed
    (out / "model.pte.txt").write_text("hellO")
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert "subjects" in failed_checks(r) and "signature" not in failed_checks(r)
    assert "MISMATCH  model.pte.txt" in r.out


def test_tamper_changed_predicate_field(signed):
    out, info = signed
    env = envelope_of(out)
    st = statement_of(env)
    st["predicate"]["runDetails"]["builder"]["id"] = "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main"
    write_envelope(out, with_statement(env, st))
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["signature"]
    assert "changed after signing" in r.out


def test_tamper_wrong_key(signed, keys):
    out, _ = signed
    r = verify(out, "--key", keys["ed25519"][1]["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["signature"]
    assert "does not verify with the given key" in r.out


def test_tamper_truncated_envelope(signed):
    out, info = signed
    p = out / "provenance.intoto.jsonl"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["envelope"]
    assert "cut short" in r.out and 'provenance check "envelope" failed' in r.err


def test_tamper_second_signature_from_unknown_key(signed):
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
    out, info = signed
    env = envelope_of(out)
    unknown = ec.generate_private_key(ec.SECP256R1())
    sig = unknown.sign(pae(env["payloadType"], base64.b64decode(env["payload"])), ec.ECDSA(hashes.SHA256()))
    env["signatures"].append({"keyid": "unknown", "sig": base64.b64encode(sig).decode()})
    write_envelope(out, env)
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["signature"]
    assert "signature 3 of 3" in r.out and "did not trust" in r.out


def test_manifest_edited_after_signing(signed):
    out, info = signed
    m = json.loads((out / "manifest.json").read_text())
    m["status"] = "passed "
    (out / "manifest.json").write_text(json.dumps(m))
    r = verify(out, "--key", info["public_key"])
    assert r.code == 1, r
    assert failed_checks(r) == ["manifest"]


# ---- malformed input and usage ----

@pytest.mark.parametrize("text", ["not json at all\n", "[]\n", '{"payload": 5, "payloadType": "x", "signatures": []}\n',
                                  '{"payload": "e30=", "payloadType": "x", "signatures": [{"sig": "@@"}]}\n',
                                  '{"payload":"e30=","payloadType":"x","signatures":[]}\n{"x":1}\n'])
def test_malformed_envelope_is_exit_2(signed, text):
    out, info = signed
    (out / "provenance.intoto.jsonl").write_text(text)
    r = verify(out, "--key", info["public_key"])
    assert r.code == 2, r
    assert "provenance.intoto.jsonl" in r.err


def test_usage_and_environment_errors(signed, tmp_path):
    out, info = signed
    r = run_pteflow("verify", out / "manifest.json", "--key", info["public_key"])
    assert r.code == 2 and "--provenance" in r.err
    r = verify(out, "--key", info["private_key"])
    assert r.code == 2 and "is a private key" in r.err
    r = verify(out, "--key", tmp_path / "nope.pub.pem")
    assert r.code == 2 and "does not exist" in r.err
    r = run_pteflow("verify", out / "manifest.json", "--provenance", tmp_path / "none.jsonl")
    assert r.code == 3 and "does not exist" in r.err
    r = verify(out, "--provenance")
    assert r.code == 2
    p = write_pipeline(tmp_path, SMALL, "q.yaml")
    r = run_pteflow("run", p, "--out", tmp_path / "o2", "--sign-key", info["public_key"])
    assert r.code == 2 and "is a public key" in r.err
    assert not (tmp_path / "o2").exists(), "the key is checked before anything runs"
    r = run_pteflow("run", p, "--out", tmp_path / "o3", "--sign-key", tmp_path / "missing.pem")
    assert r.code == 2 and "pteflow keygen" in r.err


def test_failed_run_attests_nothing_and_removes_a_stale_file(tmp_path, keys):
    info = keys["ed25519"][1]
    out = run_small(tmp_path, key=info["private_key"])
    assert (out / "provenance.intoto.jsonl").exists()
    p = write_pipeline(tmp_path, SMALL.replace("printf x >", "exit 3; printf x >"))
    r = run_pteflow("run", p, "--out", out, "--sign-key", info["private_key"], "--no-echo")
    assert r.code == 1, r
    assert not (out / "provenance.intoto.jsonl").exists()


# ---- the source, the builder, secrets ----

def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
                            GIT_COMMITTER_EMAIL="t@e"))


def test_local_source_from_git_and_expected_repo_and_ref(tmp_path, keys):
    info = keys["ed25519"][1]
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "release")
    write_pipeline(repo, SMALL)
    git(repo, "add", "p.yaml")
    git(repo, "commit", "-q", "-m", "x")
    git(repo, "remote", "add", "origin", "git@github.com:Org/Models.git")
    out = run_small(repo, key=info["private_key"])
    st = statement_of(envelope_of(out))
    src = st["predicate"]["buildDefinition"]["externalParameters"]["source"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert src["repository"] == "Org/Models" and src["ref"] == "refs/heads/release" and src["commit"] == head
    deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"gitCommit": head} in [d["digest"] for d in deps]
    r = verify(out, "--key", info["public_key"], "--expect-repo", "org/models", "--expect-ref", "release")
    assert r.code == 0, r
    assert "OK  provenance source-repo:" in r.out and "OK  provenance source-ref:" in r.out
    r = verify(out, "--key", info["public_key"], "--expect-repo", "https://github.com/org/models.git",
               "--expect-ref", "refs/heads/release")
    assert r.code == 0, r
    r = verify(out, "--key", info["public_key"], "--expect-repo", "org/other")
    assert r.code == 1 and failed_checks(r) == ["source-repo"]
    assert 'expected "org/other", the provenance names "Org/Models"' in r.out
    r = verify(out, "--key", info["public_key"], "--expect-ref", "refs/tags/v1")
    assert r.code == 1 and failed_checks(r) == ["source-ref"]


def test_github_actions_builder_invocation_and_source(tmp_path, keys):
    info = keys["ecdsa-p256"][1]
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "org/models",
        "GITHUB_REF": "refs/tags/v1.2.0", "GITHUB_SHA": "a" * 40, "GITHUB_RUN_ID": "987654",
        "GITHUB_RUN_ATTEMPT": "3", "GITHUB_WORKFLOW": "export", "GITHUB_JOB": "export",
        "GITHUB_WORKFLOW_REF": "org/models/.github/workflows/export.yml@refs/tags/v1.2.0",
    }
    out = run_small(tmp_path, key=info["private_key"], env=env)
    st = statement_of(envelope_of(out))
    run = st["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://github.com/org/models/.github/workflows/export.yml@refs/tags/v1.2.0"
    assert run["metadata"]["invocationId"] == "https://github.com/org/models/actions/runs/987654/attempts/3"
    src = st["predicate"]["buildDefinition"]["externalParameters"]["source"]
    assert src == {"repository": "org/models", "ref": "refs/tags/v1.2.0", "commit": "a" * 40,
                   "uri": "git+https://github.com/org/models@refs/tags/v1.2.0", "dirty": src["dirty"]}
    r = verify(out, "--key", info["public_key"], "--expect-repo", "org/models", "--expect-ref", "v1.2.0")
    assert r.code == 0, r
    r = verify(out, "--key", info["public_key"], "--expect-repo", "org/models", "--expect-ref", "v1.2.1")
    assert r.code == 1 and failed_checks(r) == ["source-ref"]


def test_no_secret_in_the_statement(tmp_path, keys):
    info = keys["ed25519"][1]
    body = """\
        version: 1
        name: secret
        vars: { word: "${env.HF_TOKEN}" }
        steps:
          - name: make
            run: ["/bin/sh", "-c", "printf %s \\"$HF_TOKEN\\" | wc -c > ${out}/n.txt", "--token=${env.HF_TOKEN}"]
            env: { HF_TOKEN: "${env.HF_TOKEN}" }
        artifacts:
          - { path: n.txt, kind: file }
    """
    out = run_small(tmp_path, key=info["private_key"], env={"HF_TOKEN": TOKEN}, body=body)
    raw = (out / "provenance.intoto.jsonl").read_text()
    payload = base64.b64decode(json.loads(raw)["payload"]).decode()
    assert TOKEN not in raw and TOKEN not in payload
    st = json.loads(payload)
    argv = st["predicate"]["buildDefinition"]["internalParameters"]["steps"][0]["argv"]
    assert argv[-1] == "--token=***", argv
    assert (out / "n.txt").read_text().strip() == str(len(TOKEN)), "the step did get the token"
    assert verify(out, "--key", info["public_key"]).code == 0


# ---- interoperability with securesystemslib (independent DSSE implementation) ----

def sslib():
    dsse = pytest.importorskip("securesystemslib.dsse", reason="securesystemslib is not in this Python")
    signer = pytest.importorskip("securesystemslib.signer")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    return dsse, signer, serialization


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_pteflow_envelope_verifies_with_securesystemslib(tmp_path, keys, key_type):
    dsse, signer, serialization = sslib()
    info = keys[key_type][1]
    out = run_small(tmp_path, key=info["private_key"])
    env_dict = envelope_of(out)
    pub = serialization.load_pem_public_key(pathlib.Path(info["public_key"]).read_bytes())
    key = signer.SSlibKey.from_crypto(pub, keyid=info["keyid"])
    env = dsse.Envelope.from_dict(env_dict)
    assert env.payload_type == PAYLOAD_TYPE
    accepted = env.verify([key], 1)
    assert list(accepted) == [info["keyid"]]
    # and a changed payload does not verify there either
    env.payload = env.payload.replace(b"model.pte.txt", b"model.pte.TXT")
    with pytest.raises(Exception):
        env.verify([key], 1)


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_securesystemslib_default_keyid_finds_the_signature(tmp_path, keys, key_type):
    """securesystemslib (and in-toto, which loads keys through it) match signatures by keyid; a key
    loaded the default way, without keyid=, must find pteflow's signature (issue 19)."""
    dsse, signer, serialization = sslib()
    info = keys[key_type][1]
    out = run_small(tmp_path, key=info["private_key"])
    pub = serialization.load_pem_public_key(pathlib.Path(info["public_key"]).read_bytes())
    key = signer.SSlibKey.from_crypto(pub)  # default keyid: securesystemslib computes it
    assert key.keyid != info["keyid"]
    env = dsse.Envelope.from_dict(envelope_of(out))
    assert list(env.verify([key], 1)) == [key.keyid]
    r = verify(out, "--key", info["public_key"])
    assert r.code == 0, r
    assert "OK  provenance signature: 2 of 2" in r.out
    # the same public key with the other keyid still verifies; another key does not
    other = keys["ecdsa-p256" if key_type == "ed25519" else "ed25519"][1]
    other_key = signer.SSlibKey.from_crypto(
        serialization.load_pem_public_key(pathlib.Path(other["public_key"]).read_bytes()))
    with pytest.raises(Exception):
        env.verify([other_key], 1)


@pytest.mark.parametrize("curve", ["SECP384R1", "SECP521R1"])
def test_p384_and_p521_keys_sign_as_securesystemslib_verifies(tmp_path, curve):
    """Keys keygen does not make but openssl and model_signing users have: SHA-384/SHA-512 signatures
    under securesystemslib's ecdsa-sha2-nistp384/521 default keyid."""
    dsse, signer, serialization = sslib()
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    key = ec.generate_private_key(getattr(ec, curve)())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "k.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    out = run_small(tmp_path, key=tmp_path / "k.pem")
    sslib_key = signer.SSlibKey.from_crypto(key.public_key())
    env = dsse.Envelope.from_dict(envelope_of(out))
    assert list(env.verify([sslib_key], 1)) == [sslib_key.keyid]
    r = verify(out, "--key", tmp_path / "k.pub.pem")
    assert r.code == 0, r


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_securesystemslib_envelope_verifies_with_pteflow(tmp_path, key_type):
    dsse, signer, serialization = sslib()
    out = run_small(tmp_path)  # unsigned: securesystemslib signs the statement pteflow wrote
    payload = base64.b64decode(envelope_of(out)["payload"])
    crypto_signer = (signer.CryptoSigner.generate_ed25519() if key_type == "ed25519"
                     else signer.CryptoSigner.generate_ecdsa())
    env = dsse.Envelope(payload, PAYLOAD_TYPE, {})
    env.sign(crypto_signer)
    write_envelope(out, env.to_dict())
    pub_pem = crypto_signer.public_key._crypto_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "sslib.pub.pem").write_bytes(pub_pem)
    r = verify(out, "--key", tmp_path / "sslib.pub.pem")
    assert r.code == 0, r
    assert "OK  provenance signature: 1 of 1" in r.out
    # a payload changed after securesystemslib signed it fails in pteflow
    d = env.to_dict()
    d["payload"] = base64.b64encode(payload.replace(b"sub/w.bin", b"sub/W.bin")).decode()
    write_envelope(out, d)
    r = verify(out, "--key", tmp_path / "sslib.pub.pem")
    assert r.code == 1 and "signature" in failed_checks(r)


def test_provenance_that_cannot_be_written_fails_the_run(tmp_path, keys):
    """As with the manifest: the run does not pass without its provenance, and the manifest says why."""
    info = keys["ed25519"][1]
    p = write_pipeline(tmp_path, SMALL)
    out = tmp_path / "out"
    (out / "provenance.intoto.jsonl").mkdir(parents=True)  # a folder where the file must go
    r = run_pteflow("run", p, "--out", out, "--sign-key", info["private_key"], "--no-echo")
    assert r.code == 1, r
    assert "the provenance could not be written" in r.err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "failed" and "provenance" in m["failure"]
    assert not [f for f in os.listdir(out) if ".tmp." in f]
