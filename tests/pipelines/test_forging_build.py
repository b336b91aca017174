"""tests -> labels -> preferences over HumanEval problems whose `candidates` column holds
programs that are wrong and try to forge their verdict: none may be labelled passing, and
none may become `chosen`."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from codekiln.pipelines.storage.store import Store

from tests.conftest import humaneval, run_cli

ALWAYS_EQUAL = ("class _E:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                "    def __bool__(self): return True\n    __hash__ = object.__hash__\n")


def forgers(p: dict) -> list[str]:
    """Wrong solutions of problem `p`, each with one way of forging a pass."""
    head = p["prompt"]
    wrong = head + "    return None\n"
    return [
        ALWAYS_EQUAL + head + "    return _E()\n",
        wrong + "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.eval = lambda *a, **k: _E()\n"
        + ALWAYS_EQUAL,
        wrong + "import __main__\nfor _n in dir(__main__):\n    _f = getattr(__main__, _n)\n"
                "    if callable(getattr(_f, '__code__', None)) or hasattr(_f, '__code__'):\n"
                "        try:\n            _f.__code__ = (lambda *a, **k: True).__code__\n"
                "        except Exception:\n            pass\n",
        head + "    import sys\n    f = sys._getframe(1)\n    while f is not None:\n"
               "        for c in f.f_code.co_consts[::-1]:\n            if c is not None and not isinstance(c, str):\n"
               "                return c\n        f = f.f_back\n    return None\n",
        head + "    import gc, os\n    for o in gc.get_objects():\n        if isinstance(o, str) and len(o) == 33:\n"
               "            for fd in range(3, 1024):\n                try:\n"
               "                    os.write(fd, (o + 'P\\n' + o + 'V 0 true\\n' + o + 'D\\n').encode())\n"
               "                except OSError:\n                    pass\n    os._exit(0)\n",
        wrong + "import os\nfor _p in ('/proc/1/fd/1', '/proc/1/mem'):\n    try:\n"
                "        os.write(os.open(_p, os.O_WRONLY), b'{\"verdict\": \"passed\"}\\n')\n"
                "    except OSError:\n        pass\n",
    ]


def test_forging_candidates_are_never_passing_or_chosen(tmp_path):
    problems = humaneval()
    src = tmp_path / "problems.jsonl"
    with open(src, "w") as f:
        for p in problems:
            f.write(json.dumps(dict(p, candidates=forgers(p))) + "\n")
    config = {
        "defaults": {"license": "mit", "beam": {"runner": "local"}},
        "datasets": [
            {"name": "tests", "kind": "tests",
             "source": {"name": "he", "path": str(src), "license": "mit", "domain": "code",
                        "fields": {"id": "task_id", "prompt": "prompt", "solution": "{prompt}{canonical_solution}",
                                   "tests": "test", "entry_point": "entry_point"},
                        "metadata": ["candidates"]},
             "params": {"pool_size": 20, "max_mutants": 20, "seed": 0}},
            {"name": "labels", "kind": "labels", "source": {"dataset": "tests"},
             "params": {"max_candidates": 24, "seed": 0}},
            {"name": "preferences", "kind": "preferences", "source": {"dataset": "labels"},
             "params": {"rule": "plum", "max_pairs_per_prompt": 8}},
        ],
    }
    path = tmp_path / "forging.yaml"
    path.write_text(yaml.safe_dump(config))
    root = tmp_path / "store"
    run_cli("build", str(path), "--root", str(root), "-q")
    store = Store(str(root))

    def rows(name):
        return [r for f in store.files(store.resolve(name)) for r in pq.read_table(f).to_pylist()]

    labels = rows("labels")
    forged = [r for r in labels if r["origin"] == "source"]
    assert len(forged) == 6 * len(problems)  # every forger was run
    assert not [r["problem_id"] for r in forged if r["label"]], "a forging candidate was labelled passing"
    assert all(r["pass_ratio"] < 1 for r in forged)
    references = [r for r in labels if r["origin"] == "reference"]
    assert len(references) == len(problems) and all(r["label"] for r in references)
    pairs = rows("preferences")
    assert pairs and all(p["chosen_origin"] != "source" for p in pairs)
    assert {p["rejected_origin"] for p in pairs} >= {"source"}
    assert Path(root).exists()
