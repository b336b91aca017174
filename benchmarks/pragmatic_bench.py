"""Pragmatic examples: targets per second with 500 competitors x 500 candidate examples, and the
share of the time spent building the pools and the consistency matrix vs selecting examples.

    .venv/bin/python benchmarks/pragmatic_bench.py [--targets 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codekiln.transforms.pragmatic import core  # noqa: E402
from codekiln.transforms.pragmatic.core import PragmaticParams, literal_baseline, speak  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=50)
    args = ap.parse_args()
    params = PragmaticParams(competitors=500, examples=500)
    timed = {"speak": 0.0}
    real_speak = core.speak

    def timed_speak(*a, **k):
        t = time.perf_counter()
        try:
            return real_speak(*a, **k)
        finally:
            timed["speak"] += time.perf_counter() - t

    core.speak = timed_speak
    t0 = time.perf_counter()
    rows = [core.pragmatic_row(i, params) for i in range(args.targets)]
    total = time.perf_counter() - t0
    core.speak = real_speak
    n = args.targets
    print(f"{n} targets, {params.competitors} competitors x {params.examples} examples (one process):")
    print(f"  {n / total:7.2f} targets/s  ({total / n * 1000:.0f} ms per target; mean distinct competitors "
          f"{np.mean([r['n_candidates'] for r in rows]):.0f})")
    print(f"  selection (numpy speaker): {100 * timed['speak'] / total:4.1f}% of the time; the rest samples "
          f"programs and strings and matches them (one regex scan per program over the whole pool)")
    # the speaker alone on a full 501 x 500 matrix, for scale
    rng = np.random.default_rng(0)
    m = rng.random((501, 500)) < 0.5
    m[0] = True
    t = time.perf_counter()
    for _ in range(100):
        speak(m, np.arange(500), 10)
        literal_baseline(m, np.arange(500), 10)
    print(f"  speaker + baseline on a random 501 x 500 matrix: {(time.perf_counter() - t) * 10:.2f} ms")


if __name__ == "__main__":
    main()
