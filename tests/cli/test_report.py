"""Issue 22, through the real binary: each step's memory series and phases
in the manifest (the curve's top is the peak the manifest records),
`pteflow report` rendered by a real headless Chromium (the SVG of every
step is there; a screenshot is kept in the build tree for people to look
at), escaping of a hostile manifest, the KPI section, the GitHub summary's
Mermaid charts against a checker of the xychart-beta grammar, and the run
table's sparkline. One small run (two steps of a few hundred ms, the alloc
helper) serves every test."""
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import jsonschema
import pytest

from conftest import BINARY_DIR, SOURCE_DIR, manifest_of, run_pteflow, tool, write_pipeline
from mermaid_xychart import XYChartError, mermaid_blocks, parse

SCHEMA = json.loads((SOURCE_DIR / "schemas" / "manifest.schema.json").read_text())
ARTIFACTS = BINARY_DIR / "test-artifacts"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def pipeline_body():
    a = tool("alloc")
    grow = (f"echo PTEFLOW_PHASE=load; {a} --mib 24 --step-mib 8 --rate-mib-s 80 --hold-ms 200; "
            f"echo PTEFLOW_PHASE=export; {a} --mib 64 --step-mib 16 --rate-mib-s 160 --hold-ms 300; "
            f"echo PTEFLOW_PHASE=serialize; printf model > ${{out}}/model.bin")
    return f"""\
        version: 1
        name: report-demo
        steps:
          - name: grow
            run: ["/bin/sh", "-c", "{grow}"]
            limits: {{ memory: 256MiB }}
          - name: small
            run: ["{a}", "--mib", "8", "--hold-ms", "300"]
        artifacts:
          - {{ path: model.bin, kind: file, max_size: 1KB, min_size: 2B }}
    """


def hold_pipeline(tmp_path, hold_ms):
    """A one-step pipeline that holds 4 MiB for hold_ms."""
    return write_pipeline(tmp_path, f"""\
        version: 1
        name: hold
        steps:
          - name: hold
            run: ["{tool("alloc")}", "--mib", "4", "--hold-ms", "{hold_ms}"]
    """)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    p = write_pipeline(tmp, pipeline_body())
    out = tmp / "out"
    summary = tmp / "summary.md"
    r = run_pteflow("run", p, "--out", out, "--no-cache",
                    env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "LANG": "C.UTF-8"})
    assert r.code == 0, r
    return out, r, summary.read_text()


def test_each_step_has_a_bounded_curve_whose_top_is_the_recorded_peak(run):
    out, _r, _s = run
    m = manifest_of(out)
    jsonschema.validate(m, SCHEMA)
    for s in m["steps"]:
        mem = s["memory"]
        assert mem["interval_ms"] == 250 and mem["source"] in ("cgroup", "tree")
        assert 1 <= len(mem["bytes"]) == len(mem["t_ms"]) <= 120
        assert mem["t_ms"] == sorted(mem["t_ms"]) and mem["t_ms"][-1] <= s["duration_ms"] + 50
        assert max(mem["bytes"]) == s["peak_memory_bytes"], (s["name"], mem)
    grow = m["steps"][0]
    # the curve saw the step grow: 64 MiB allocated in its export phase, far above its start
    assert grow["peak_memory_bytes"] >= 64 * 2**20 and min(grow["memory"]["bytes"]) < 48 * 2**20
    assert [p["name"] for p in grow["phases"]] == ["load", "export", "serialize"]
    t = [p["t_ms"] for p in grow["phases"]]
    assert t == sorted(t) and t[1] >= 200 and t[2] <= grow["duration_ms"]
    assert "phases" not in m["steps"][1]


def test_sampling_interval_is_an_option_and_zero_turns_it_off(tmp_path):
    p = hold_pipeline(tmp_path, 400)
    r = run_pteflow("run", p, "--out", tmp_path / "fast", "--no-cache", "--memory-sample-ms", "50")
    assert r.code == 0, r
    fast = manifest_of(tmp_path / "fast")["steps"][0]["memory"]
    assert fast["interval_ms"] == 50 and len(fast["t_ms"]) >= 5
    r = run_pteflow("run", p, "--out", tmp_path / "off", "--no-cache", "--memory-sample-ms", "0")
    assert r.code == 0, r
    assert "memory" not in manifest_of(tmp_path / "off")["steps"][0]
    r = run_pteflow("run", p, "--memory-sample-ms", "often")
    assert r.code == 2 and "--memory-sample-ms" in r.err


def chromium(*args):
    """Headless Chromium (Debian's package; scripts/setup-deps.sh installs it) on a local file."""
    if not CHROMIUM:
        pytest.skip("chromium is not installed (scripts/setup-deps.sh installs it)")
    # A throwaway profile: Chromium's profile files record absolute paths, which have no place in the
    # build tree's test-artifacts/ (only the screenshot is kept there).
    with tempfile.TemporaryDirectory(prefix="pteflow-chromium-") as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--user-data-dir=" + profile, *args], capture_output=True, text=True, timeout=120)


def test_report_renders_in_a_real_browser_with_one_curve_per_step(run):
    out, _r, _s = run
    html = out / "report.html"
    r = run_pteflow("report", out / "manifest.json", "-o", html)
    assert r.code == 0, r
    page = html.read_text()
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    ARTIFACTS.mkdir(exist_ok=True)
    dom = chromium("--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = manifest_of(out)
    svgs = re.findall(r'<svg class="mem" data-step="(\d+)" data-points="(\d+)"', dom.stdout)
    assert [int(i) for i, _ in svgs] == list(range(len(m["steps"])))
    assert [int(n) for _, n in svgs] == [len(s["memory"]["bytes"]) for s in m["steps"]]
    assert dom.stdout.count('<polyline class="curve"') == len(m["steps"])
    assert dom.stdout.count('<line class="limit"') == 1  # only "grow" has a limit
    assert dom.stdout.count('<line class="phase"') == 3
    assert dom.stdout.count('<svg class="size"') == 1
    assert 'id="verdict"><span class="pass">passed' in dom.stdout
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    r = chromium(f"--screenshot={shot}", "--window-size=900,1400", html.as_uri())
    assert r.returncode == 0 and shot.stat().st_size > 10_000, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_hostile_manifest_injects_nothing(run, tmp_path):
    out, _r, _s = run
    m = manifest_of(out)
    evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    m["pipeline"]["name"] = evil
    m["steps"][0]["name"] = evil
    m["steps"][0]["phases"][0]["name"] = evil
    m["artifacts"][0]["path"] = evil
    m["artifacts"][0]["gates"][0]["actual"] = evil
    m["failure"] = evil
    m["kpi"] = {evil: evil, "list": [evil, 1, True]}
    # junk numbers are clamped and drawn; a series of the wrong type is not drawn; neither crashes
    m["steps"][1]["memory"] = {"t_ms": [0, "a", -1, 1e30], "bytes": [1e308, -5, "y", None]}
    m["steps"].append(dict(copy.deepcopy(m["steps"][1]), memory={"t_ms": "x", "bytes": 3}, phases="p"))
    f = tmp_path / "manifest.json"
    f.write_text(json.dumps(m))
    r = run_pteflow("report", f, "-o", tmp_path / "r.html")
    assert r.code == 0, r
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img" in page
    dom = chromium("--dump-dom", (tmp_path / "r.html").as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<script" not in dom.stdout and "<img" not in dom.stdout
    assert dom.stdout.count('<svg class="mem"') == 2 and dom.stdout.count('<section class="step"') == 3


def test_report_refuses_what_is_not_a_manifest(tmp_path):
    for name, text in (("list.json", "[1, 2]"), ("deep.json", "[" * 100 + "]" * 100), ("bad.json", "{")):
        (tmp_path / name).write_text(text)
        r = run_pteflow("report", tmp_path / name)
        assert r.code == 2 and "manifest" in r.err, r
    r = run_pteflow("report", tmp_path / "absent.json")
    assert r.code == 3, r
    r = run_pteflow("report")
    assert r.code == 2, r


def test_report_renders_a_kpi_section_whatever_its_shape(run, tmp_path):
    out, _r, _s = run
    m = manifest_of(out)
    m["kpi"] = {"prd_compliant": False, "decode_tokens_per_s": {"value": 41.5, "min": 40},
                "notes": ["int8", "xnnpack"]}
    f = tmp_path / "manifest.json"
    f.write_text(json.dumps(m))
    r = run_pteflow("report", f)
    assert r.code == 0, r
    page = (tmp_path / "report.html").read_text()
    kpi = page[page.index("<h2>KPI</h2>"):]
    assert "prd_compliant" in kpi and '<span class="fail">false</span>' in kpi
    assert "decode_tokens_per_s" in kpi and "41.5" in kpi and "xnnpack" in kpi
    r = run_pteflow("report", out / "manifest.json", "-o", tmp_path / "plain.html")
    assert r.code == 0 and "<h2>KPI</h2>" not in (tmp_path / "plain.html").read_text(), r


def test_github_summary_draws_each_curve_as_a_valid_xychart_with_its_limit(run):
    out, _r, summary = run
    m = manifest_of(out)
    blocks = mermaid_blocks(summary)
    assert len(blocks) == len(m["steps"])
    for block, step in zip(blocks, m["steps"]):
        chart = parse(block)
        assert step["name"] in chart["title"]
        memory = chart["lines"][0]
        assert max(memory) == pytest.approx(step["peak_memory_bytes"] / 2**20, abs=0.05)
        assert chart["y"]["range"][1] >= max(memory)
        assert chart["x"]["range"] == (0, pytest.approx(step["duration_ms"] / 1000, abs=0.1))
        if step["guard"]["limit_bytes"]:
            assert chart["lines"][1] == [step["guard"]["limit_bytes"] / 2**20] * len(memory)
        else:
            assert len(chart["lines"]) == 1


@pytest.mark.parametrize("bad", [
    "graph TD\n  line [1, 2]",
    "xychart-beta\n  line [1, , 2]",
    "xychart-beta\n  line [1, 2]\n  line [1, 2, 3]",
    'xychart-beta\n  title "a "quoted" title"\n  line [1]',
    "xychart-beta\n  x-axis 5 --> 1\n  line [1]",
    "xychart-beta\n  y-axis [a, b]\n  line [1, 2]",
    "xychart-beta\n  title memory 50%% full\n  line [1]",
    "xychart-beta\n  area [1, 2]",
    "xychart-beta\n  title only",
])
def test_the_xychart_checker_refuses_what_mermaid_would_not_draw(bad):
    with pytest.raises(XYChartError):
        parse(bad)


def test_run_table_has_a_sparkline_in_blocks_or_ascii(run, tmp_path):
    _out, r, _s = run
    rows = [l for l in r.out.splitlines() if l.lstrip().startswith("step")]
    assert len(rows) == 2 and all(re.search(r"  mem [\u2581-\u2588]{24}$", l) for l in rows), r.out
    p = hold_pipeline(tmp_path, 300)
    r = run_pteflow("run", p, "--out", tmp_path / "o", "--no-cache", env={"LANG": "C", "LC_ALL": ""})
    assert r.code == 0, r
    row = next(l for l in r.out.splitlines() if l.lstrip().startswith("step"))
    assert re.search(r"  mem [_.\-~=+*#]{24}$", row), row
