"""Big models on small machines (issue 21), through the binary: export_llm of the real Llama shapes with
random weights under a memory guard sized to the target, the peak pteflow's guard measured inside
`pteflow plan`'s interval, and the numerical check passing.

Opt-in (PTEFLOW_FULL_TESTS=1): the 1B shape takes 3-6 minutes and 3 GiB, the 3B shape (4 of its 28
layers) about as long. The default suite covers the memory levers with a tiny model
(tests/cli/test_steps.py: the program is byte-identical with and without them, and weights are released).
"""

import json
import os

import pytest

from conftest import PYTHON, SOURCE_DIR, manifest_of, run_pteflow, write_pipeline

FULL = os.environ.get("PTEFLOW_FULL_TESTS", "") not in ("", "0")
pytestmark = pytest.mark.skipif(not FULL, reason="opt-in: PTEFLOW_FULL_TESTS=1 (minutes and several GiB each)")
GiB = 1024 ** 3

CASES = {
    # name: (random config, layers, quant, export guard)
    "1b-int8": ("llama3.2-1b", 0, "int8", "3.5GiB"),
    "3b-8da4w-4layers": ("llama3.2-3b", 4, "8da4w", "7GiB"),
}


def pipeline(config, layers, quant, guard):
    lay = f', "--layers", "{layers}"' if layers else ""
    return f"""version: 1
name: big-{config}-{quant}
limits: {{ memory: 8GiB, timeout: 60m }}
steps:
  - name: export
    run: ["${{python}}", "-m", "pteflow_steps.export_llm", "--random-config", "{config}", "--seed", "0"{lay},
          "--quant", "{quant}", "--group-size", "32", "--embedding-quant", "int4", "--max-seq-len", "512",
          "--xnnpack", "--out", "${{out}}/model.pte"]
    limits: {{ memory: {guard} }}
  - name: check
    run: ["${{python}}", "-m", "pteflow_steps.check", "--export-result", "${{out}}/model.export_llm.json",
          "--atol", "1.0", "--rtol", "0.1", "--decode-tokens", "4", "--out", "${{out}}/check.json"]
artifacts:
  - {{ path: model.pte, kind: pte, methods: [forward], backends: [XnnpackBackend] }}
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_fits_its_guard_and_the_prediction(tmp_path, name):
    config, layers, quant, guard = CASES[name]
    p = write_pipeline(tmp_path, pipeline(config, layers, quant, guard))
    env = dict(os.environ, PTEFLOW_STEPS_PATH=str(SOURCE_DIR / "python"))
    plan = run_pteflow("plan", p, "--json", "--python", PYTHON, env=env)
    assert plan.code == 0, plan
    exp = next(s for s in json.loads(plan.out)["plans"][0]["steps"] if s["name"] == "export")
    predicted = exp["peak_memory"]
    r = run_pteflow("run", p, "--out", tmp_path / "out", "--python", PYTHON, env=env, timeout=3600)
    assert r.code == 0, r
    m = manifest_of(tmp_path / "out")
    step = next(s for s in m["steps"] if s["name"] == "export")
    # The export's resident memory (the step process's maximum RSS, as pteflow measured it): what the
    # targets and the prediction are about. The cgroup's own figure also counts the page cache of the
    # .pte being written, which the kernel reclaims at the limit instead of killing (it reads up to the
    # limit itself on the 1B shape), so it is not held against the guard here.
    peak = step["maxrss_bytes"]
    assert step["status"] == "success" and step["guard"]["oom_kills"] == 0
    assert peak < step["guard"]["limit_bytes"], (peak / GiB, step["guard"])
    assert predicted["low"] <= peak <= predicted["high"], (peak / GiB, predicted)
    assert step["prediction"]["peak_memory"]["within"] is True, step["prediction"]["peak_memory"]
    res = json.loads((tmp_path / "out" / "model.export_llm.json").read_text())
    assert res["delegation"]["low_memory"]["weights_released_while_lowering"] > 0
