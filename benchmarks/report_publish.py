"""Cost of looking at and publishing a version, at N and 100 N rows, side by side in one run.

For a `problems` dataset of N and 100 N rows (HumanEval and MATH-500 records cycled with unique
ids), in one process: `render_report` (DuckDB queries + Altair specs + the inlined Vega bundle),
the page's size, the dry-run publish (card + files) and `diff` between the two versions. The page
must not grow with the rows (charts are aggregated in DuckDB; samples are a fixed number).

    .venv/bin/python benchmarks/report_publish.py [--records 1000] [--factor 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from beam_overhead import corpus  # noqa: E402
from codekiln.pipelines.building.build import build_dataset  # noqa: E402
from codekiln.pipelines.config import parse  # noqa: E402
from codekiln.pipelines.publishing.publish import repo_files, write_dir  # noqa: E402
from codekiln.pipelines.publishing.report import render_report, vega_bundle  # noqa: E402
from codekiln.pipelines.storage.diff import diff_versions  # noqa: E402
from codekiln.pipelines.storage.store import Store  # noqa: E402


def build(store: Store, directory: Path, n: int) -> dict:
    code, math = corpus()
    path = directory / f"in-{n}.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            r = code[i % len(code)] if i % 2 else math[i % len(math)]
            prompt = r.get("prompt") or r.get("problem")
            f.write(json.dumps({"id": f"r{i}", "prompt": f"{prompt}\n# {i}", "solution": r.get("canonical_solution")
                                or r.get("solution"), "domain": "code" if i % 2 else "math"}) + "\n")
    [cfg] = parse({"name": "bench", "kind": "problems", "license": "mit",
                   "source": {"name": "mixed", "path": str(path), "domain": "code", "license": "mit",
                              "fields": {"id": "id", "prompt": "prompt", "solution": "solution"}}},
                  base_dir=str(directory))
    return build_dataset(cfg, store).manifest


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--factor", type=int, default=100)
    args = ap.parse_args()
    vega_bundle()  # built once per process (~1 s); not part of either measurement
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = Store(str(tmp / "store"))
        sizes = [args.records, args.records * args.factor]
        manifests = [build(store, tmp, n) for n in sizes]
        render_report(store, manifests[0])  # warm-up: imports (datasets, altair) and DuckDB
        write_dir(repo_files(store, manifests[0], "org/bench"), str(tmp / "warm"))
        results = []
        for n, manifest in zip(sizes, manifests, strict=True):
            t_report, page = timed(lambda m=manifest: render_report(store, m))
            t_publish, written = timed(lambda m=manifest, n=n: write_dir(repo_files(store, m, "org/bench"),
                                                                         str(tmp / f"dry-{n}")))
            results.append((n, manifest, t_report, len(page.encode()), t_publish, len(written)))
        t_diff, d = timed(lambda: diff_versions(store, results[0][1], results[1][1]))
    print(f"{'rows':>10} {'report s':>9} {'page KB':>8} {'dry-run publish s':>18} {'files':>6}")
    for n, _m, t_report, size, t_publish, files in results:
        print(f"{n:>10,} {t_report:>9.2f} {size / 1024:>8.0f} {t_publish:>18.2f} {files:>6}")
    (n1, _, r1, s1, p1, _), (n2, _, r2, s2, p2, _) = results
    print(f"ratio {n2:,}/{n1:,} rows: report time {r2 / r1:.2f}x, page size {s2 / s1:.2f}x, "
          f"publish time {p2 / p1:.2f}x")
    print(f"diff v1 -> v2 ({d['rows']['added']:,} added, {d['rows']['removed']:,} removed, "
          f"{d['rows']['changed']:,} changed): {t_diff:.2f} s")


if __name__ == "__main__":
    main()
