"""The whole bundled demo built under each of Beam's local running modes gives the same datasets.

math-verify's `signal.alarm` timeouts used to fail off the main thread, so under multi_threading
and multi_processing every EFA came out invalid and the build still succeeded: the fingerprints
and the valid EFAs below catch that, and anything else that depends on the thread, the process,
the hash seed or the machine's load (the three builds run at once, on purpose).
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import DEMO_DATASETS, run_cli

# mode -> (workers, PYTHONHASHSEED; in_memory: the session demo build). Each build goes to its own fresh root, so its own execution
# cache (<root>/.cache/exec): every mode really executes. Both multi modes run the stages off the
# main thread; multi_threading splits the work between two threads, multi_processing runs it in
# one worker process (two would double its cost: every pipeline starts its workers anew).
MODES = {"in_memory": (1, None), "multi_threading": (2, "22"), "multi_processing": (1, "33")}


def _read(root) -> dict:
    manifests = {name: json.loads(run_cli("show", name, "--root", str(root)).stdout) for name in DEMO_DATASETS}
    cache = json.loads(run_cli("cache", "stats", "--root", str(root)).stdout)
    return {"manifests": manifests, "executions": cache["executions"]["results"]}


def _build(tmp_path, mode: str) -> dict:
    workers, hash_seed = MODES[mode]
    root = tmp_path / mode
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    run_cli("build", "configs/demo.yaml", "--root", str(root), "-q",
            "--set", f"beam.mode={mode}", "--set", f"beam.workers={workers}", env=env)
    return _read(root)


def test_every_local_mode_builds_the_same_demo(tmp_path, demo_store):
    """in_memory (the demo's own mode) is the session's demo build; the other two run at once."""
    multi = [m for m in MODES if m != "in_memory"]
    with ThreadPoolExecutor(len(multi)) as ex:
        built = dict(zip(multi, ex.map(lambda m: _build(tmp_path, m), multi), strict=True))
    built["in_memory"] = _read(demo_store)
    for mode, b in built.items():
        assert b["executions"] > 0, f"{mode}: nothing executed into its own cache"
        for name, m in b["manifests"].items():
            assert m["config"]["beam"]["mode"] == mode, (mode, name, m["config"]["beam"])
        efas = b["manifests"]["efas"]
        funnel = efas["quality"]["funnel"][0]
        assert funnel["matches_original"] == 4 and efas["rejects"]["rows"] == 0, (mode, funnel)  # four valid EFAs
        assert b["manifests"]["efa-variants"]["splits"]["train"]["rows"] == 4 * 16, mode
    fingerprints = {mode: {name: m["fingerprint"] for name, m in b["manifests"].items()} for mode, b in built.items()}
    assert fingerprints["multi_threading"] == fingerprints["in_memory"]
    assert fingerprints["multi_processing"] == fingerprints["in_memory"]
