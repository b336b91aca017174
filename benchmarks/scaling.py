"""Scaling of the local runner from 1 to 2 worker processes (Beam's multi_processing mode),
measured side by side in one run on the same build, each in a fresh store (caches cold).

    .venv/bin/python benchmarks/scaling.py [--config configs/lintseq.yaml] [--only DATASET] [--repeat 1]

Prints each setting's wall time, the speed-up of 2 workers over 1, and checks that both
settings committed the same fingerprint (the rows do not depend on the worker count).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(config: str, workers: int, root: Path, only: list[str]) -> tuple[float, dict[str, str]]:
    sets = ["--set", f"beam.workers={workers}", "--set", "beam.mode=multi_processing"]  # every dataset
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codekiln.pipelines.cli", "build", config, "--root", str(root), "-q",
                    *sets, *(a for name in only for a in ("--only", name))],
                   cwd=REPO, check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    prints = {json.loads(p.read_text())["dataset"]: json.loads(p.read_text())["fingerprint"]
              for p in root.glob("*/v*/manifest.json")}
    return elapsed, prints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/lintseq.yaml")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", action="append", default=[], metavar="DATASET", help="build only this dataset")
    args = ap.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    prints = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for workers in (1, 2):  # interleaved, so machine load hits both alike
                seconds, fp = build(args.config, workers, Path(tmp) / f"w{workers}-{r}", args.only)
                times[workers].append(seconds)
                prints[workers] = fp
    best = {w: min(t) for w, t in times.items()}
    what = f" (only {', '.join(args.only)})" if args.only else ""
    print(f"config {args.config}{what} on {os.cpu_count()} cores, best of {args.repeat}")
    for w in (1, 2):
        print(f"  {w} worker{'s' if w > 1 else ''}: {best[w]:.1f} s")
    print(f"  speed-up 2 vs 1 workers: {best[1] / best[2]:.2f}x")
    print(f"  same fingerprints: {prints[1] == prints[2]} ({', '.join(f'{k} {v[:12]}' for k, v in prints[1].items())})")


if __name__ == "__main__":
    main()
