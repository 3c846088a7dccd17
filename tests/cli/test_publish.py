"""`pteflow publish` through the real binary against the local Hub (tests/hub/hubserver.py with its write
half, tests/hub/hubwrite.py): verify first and upload nothing unless every check passes; repo
creation, preupload, LFS batch with multipart parts, verify, one NDJSON commit on the head read
first. Round trip: publish, `pteflow fetch` of the new commit, then `verify` (manifest, provenance,
model.sig) on the fetched files. Faults: a token refused (401) or without write access (403), a repo
that does not exist (with and without --create), a part cut mid-upload (retried from that part), 429
and 503 with Retry-After, a push that happened meanwhile (412: nothing committed). The server's
fidelity: huggingface_hub's upload_folder commits to it too.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from conftest import PYTHON, SOURCE_DIR, run_pteflow

sys.path.insert(0, str(SOURCE_DIR / "tests" / "hub"))
from hubfixture import LocalHub  # noqa: E402

TOKEN = "hf_PUBLISHwriteToken0123456789"
CHUNK = 1000

RELEASE = """\
    version: 1
    name: tiny-release
    steps:
      - name: make
        run: ["/bin/sh", "-c", "head -c 2500 /dev/urandom > ${out}/model.pte; mkdir -p ${out}/sub; printf 'w' > ${out}/sub/w.bin"]
    artifacts:
      - { path: model.pte, kind: file }
      - { path: sub/w.bin, kind: file }
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    d = tmp_path_factory.mktemp("release")
    r = run_pteflow("keygen", d / "k.pem", "--type", "ecdsa-p256")
    assert r.code == 0, r
    (d / "p.yaml").write_text(textwrap.dedent(RELEASE))
    r = run_pteflow("run", d / "p.yaml", "--out", d / "out", "--no-echo", "--sign-key", d / "k.pem")
    assert r.code == 0, r
    assert (d / "out" / "model.sig").exists()
    return d


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "hubroot"
    root.mkdir()
    h = LocalHub(str(root), token=TOKEN, python=PYTHON).start()
    h.control(chunk_size=CHUNK)
    yield h
    h.stop()


def publish(hub, release, *extra, token=TOKEN, tmp=None, **env):
    out = release / "out"
    e = hub.env(token=token, HF_HOME=str(tmp or release / "hfhome"), PTEFLOW_HUB_BACKOFF_MS="50", **env)
    return run_pteflow("publish", out / "manifest.json", "--provenance", out / "provenance.intoto.jsonl",
                       "--key", release / "k.pub.pem", *extra, env=e)


def writes(hub):
    return [e for e in hub.log() if e["method"] in ("POST", "PUT") and e["path"] != "/_control"]


def head_files(hub, repo):
    with urllib.request.urlopen(hub.url + "/api/models/%s/revision/main" % repo, timeout=10) as r:
        info = json.loads(r.read())
    return info["sha"], sorted(s["rfilename"] for s in info["siblings"])


def test_round_trip_publish_fetch_verify(hub, release, tmp_path):
    r = publish(hub, release, "--to", "hf:org/tiny", "--create", "--json", "--message", "v1")
    assert r.code == 0, r
    doc = json.loads(r.out)
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == {"model.pte", "sub/w.bin", "manifest.json", "SHA256SUMS", "provenance.intoto.jsonl",
                          "model.sig", "README.md"}
    assert files["model.pte"]["lfs"] is True and len(files["model.pte"]["oid"]) == 64
    assert files["manifest.json"]["lfs"] is False and len(files["manifest.json"]["oid"]) == 40
    assert doc["committed"] is True and doc["commit_url"].endswith(doc["commit"])
    st = hub.state()
    assert st["violations"] == []  # the token never reached the storage host
    assert st["part_puts"] == [1, 2, 3]  # 2500 bytes in parts of 1000: multipart
    assert all(not e["auth"] for e in st["log"] if e["server"] == "cdn")
    commit, names = head_files(hub, "org/tiny")
    assert commit == doc["commit"] and "README.md" in names and "model.pte" in names
    # the model card
    card_path = tmp_path / "card"
    r = run_pteflow("fetch", "org/tiny", "--revision", doc["commit"], "--local-dir", card_path,
                    env=hub.env(token=TOKEN, HF_HOME=str(tmp_path / "h")))
    assert r.code == 0, r
    card = (card_path / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: executorch\ntags:\n- \"executorch\"\n")
    assert "| model.pte | 2500 |" in card
    # the fetched files verify: manifest, provenance, OpenSSF signature (README.md, .gitattributes and the
    # download's .cache/huggingface are not signed files, and model.sig says so)
    r = run_pteflow("verify", card_path / "manifest.json", "--provenance", card_path / "provenance.intoto.jsonl",
                    "--key", release / "k.pub.pem", "--model-sig", card_path / "model.sig")
    assert r.code == 0, r
    # publishing the same release again changes nothing and sends no bytes
    before = len(writes(hub))
    r = publish(hub, release, "--to", "hf:org/tiny", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["committed"] is False
    again = writes(hub)[before:]
    assert [e["path"].split("?")[0].rsplit("/", 1)[-1] for e in again] == ["main"]  # preupload only


def test_objects_the_hub_has_are_not_sent_again(hub, release):
    assert publish(hub, release, "--to", "hf:org/a", "--create").code == 0
    before = len(hub.log())
    r = publish(hub, release, "--to", "hf:org/b", "--create")
    assert r.code == 0, r
    assert not [e for e in hub.log()[before:] if e["server"] == "cdn"]


def test_a_release_that_does_not_verify_uploads_nothing(hub, release, tmp_path):
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(release / "out"), str(out)], check=True)
    (out / "sub" / "w.bin").write_bytes(b"X")
    e = hub.env(token=TOKEN, HF_HOME=str(tmp_path / "h"))
    r = run_pteflow("publish", out / "manifest.json", "--to", "hf:org/bad", "--create", env=e)
    assert r.code == 1, r
    assert "does not verify" in r.err and "sub/w.bin" in r.err and "nothing was uploaded" in r.err
    assert writes(hub) == []
    # a provenance signed by another key: refused too
    r = run_pteflow("keygen", tmp_path / "other.pem", "--type", "ecdsa-p256")
    assert r.code == 0
    r = publish(hub, release, "--to", "hf:org/bad", "--create")
    assert r.code == 0  # sanity: with the right key it goes
    before = len(writes(hub))
    out = release / "out"
    r = run_pteflow("publish", out / "manifest.json", "--to", "hf:org/bad", "--provenance",
                    out / "provenance.intoto.jsonl", "--key", tmp_path / "other.pub.pem", env=e)
    assert r.code == 1 and 'provenance check "signature" failed' in r.err, r
    assert len(writes(hub)) == before


def test_token_refused_and_token_without_write_access(hub, release, tmp_path):
    for extra in (["--create"], []):  # refused at repo creation, or at the first read of the branch
        r = publish(hub, release, "--to", "hf:org/x", *extra, token="hf_wrong", tmp=tmp_path)
        assert r.code == 3 and "401" in r.err and "HF_TOKEN" in r.err, r
        assert "hf_wrong" not in r.err
    hub.control(write_forbidden=-1)
    r = publish(hub, release, "--to", "hf:org/x", "--create", tmp=tmp_path)
    assert r.code == 3 and "403" in r.err and "write access" in r.err, r
    assert TOKEN not in r.err + r.out


def test_a_repo_that_does_not_exist(hub, release):
    r = publish(hub, release, "--to", "hf:org/missing")
    assert r.code == 1 and "does not exist" in r.err and "--create" in r.err, r
    assert not [e for e in writes(hub) if "/commit/" in e["path"]]
    r = publish(hub, release, "--to", "hf:org/missing", "--create", "--private")
    assert r.code == 0, r
    req = urllib.request.Request(hub.url + "/api/models/org/missing/revision/main",
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["private"] is True


def test_a_part_cut_mid_upload_is_retried_from_that_part(hub, release):
    hub.control(cut_part=1, cut_part_number=2)
    r = publish(hub, release, "--to", "hf:org/cut", "--create")
    assert r.code == 0, r
    parts = [e["path"].rsplit("/", 1)[-1] for e in hub.log() if "/part/" in e["path"]]
    assert parts == ["1", "2", "2", "3"], parts  # part 1 was not sent again
    assert "retrying" in r.err


@pytest.mark.parametrize("status, target", [(429, "preupload"), (503, "batch"), (503, "part")])
def test_rate_limits_and_server_errors_are_waited_out(hub, release, status, target):
    hub.control(write_fail=1, write_fail_status=status, write_fail_target=target, retry_after=1)
    r = publish(hub, release, "--to", "hf:org/busy", "--create")
    assert r.code == 0, r
    assert [e["status"] for e in hub.log() if e["status"] == status] == [status]
    # Retry-After: 1 is waited (plus a second, as huggingface_hub does), not the 50 ms backoff
    assert re.search(r"retrying in [12][0-9]{3} ms", r.err), r.err


def test_a_push_meanwhile_fails_the_commit_and_commits_nothing(hub, release):
    hub.control(bump_head=1)  # someone pushes to main between our head read and our commit
    r = publish(hub, release, "--to", "hf:org/race", "--create")
    assert r.code == 1, r
    assert "412" in r.err and "nothing was committed" in r.err and "publish again" in r.err
    _, names = head_files(hub, "org/race")
    assert names == [".gitattributes", "OTHER.md"]  # their push stands, nothing of ours is in the branch
    r = publish(hub, release, "--to", "hf:org/race")
    assert r.code == 0, r
    _, names = head_files(hub, "org/race")
    assert "OTHER.md" in names and "model.pte" in names


def test_huggingface_hub_upload_folder_works_against_the_local_hub(hub, tmp_path):
    """The server is faithful enough for the reference client: create_repo, upload_folder (multipart LFS)."""
    hf = pytest.importorskip("huggingface_hub")
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.pte").write_bytes(os.urandom(2500))
    (folder / "sub" / "notes.txt").write_text("hi\n")
    code = textwrap.dedent(f"""
        import os
        from huggingface_hub import HfApi
        api = HfApi(endpoint={hub.url!r}, token={TOKEN!r})
        api.create_repo("org/ref")
        api.create_repo("org/ref", exist_ok=True)
        info = api.upload_folder(folder_path={str(folder)!r}, repo_id="org/ref", commit_message="up")
        print(info.oid)
        """)
    env = hub.env(token=TOKEN, HF_HOME=str(tmp_path / "h"))
    p = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    commit, names = head_files(hub, "org/ref")
    assert commit == p.stdout.strip().splitlines()[-1]
    assert names == [".gitattributes", "model.pte", "sub/notes.txt"]
    st = hub.state()
    assert st["violations"] == [] and st["part_puts"] == [1, 2, 3]
    assert hf is not None


def test_usage(tmp_path):
    r = run_pteflow("publish", "--help")
    assert r.code == 0 and r.out.startswith("usage: pteflow publish")
    assert run_pteflow("publish", tmp_path / "m.json").code == 2
    r = run_pteflow("publish", tmp_path / "m.json", "--to", "gh:org/x")
    assert r.code in (2, 3)
    assert run_pteflow("publish", tmp_path / "m.json", "--to", "hf:o/x", "--private").code == 2
    assert "publish" in run_pteflow("help").out
