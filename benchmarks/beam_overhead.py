"""Beam overhead of a build, and whether a build's memory grows with the corpus.

1. The same normalisation (read JSONL -> canonical problems -> dedupe -> Parquet) over N records
   as a plain Python loop and as a `codekiln` pipeline on the local runner, in one process,
   measured side by side; printed as a ratio (goal <= 1.3x).
2. Peak RSS of `codekiln build` (a fresh process each) at N and 10 N records (goal <= 1.5x).

    .venv/bin/python benchmarks/beam_overhead.py [--records 10000] [--repeat 3]

Records cycle through HumanEval and MATH-500 (configs/corpora, else the bundled
slices) with unique ids.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codekiln.pipelines.building.build import build_dataset  # noqa: E402
from codekiln.pipelines.building.mapping import Normaliser  # noqa: E402
from codekiln.pipelines.building.shards import row_hash  # noqa: E402
from codekiln.pipelines.config import parse  # noqa: E402
from codekiln.pipelines.storage.store import Store  # noqa: E402
from codekiln.schemas.problems import PROBLEMS  # noqa: E402
from codekiln.transforms.stage import Reject  # noqa: E402

CORPORA = REPO / "configs" / "corpora"
SAMPLES = REPO / "configs" / "samples"


def corpus() -> tuple[list[dict], list[dict]]:
    if (CORPORA / "humaneval.jsonl.gz").exists():
        with gzip.open(CORPORA / "humaneval.jsonl.gz", "rt") as f:
            code = [json.loads(x) for x in f]
        math = [json.loads(x) for x in gzip.open(CORPORA / "math500.jsonl.gz", "rt")]
    else:
        code = [json.loads(x) for x in open(SAMPLES / "humaneval.jsonl")]
        math = [json.loads(x) for x in open(SAMPLES / "math500.jsonl")]
    return code, math


def write_inputs(directory: Path, n: int) -> dict:
    code, math = corpus()
    half = n // 2
    with open(directory / "code.jsonl", "w") as f:
        for i in range(half):
            r = code[i % len(code)]
            f.write(json.dumps(dict(r, task_id=f"{r['task_id']}#{i}")) + "\n")
    with open(directory / "math.jsonl", "w") as f:
        for i in range(n - half):
            r = math[i % len(math)]
            f.write(json.dumps(dict(r, unique_id=f"{r['unique_id']}#{i}")) + "\n")
    return {
        "name": "bench", "kind": "problems",
        "sources": [
            {"name": "code", "path": str(directory / "code.jsonl"), "domain": "code",
             "fields": {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution",
                        "tests": "test", "entry_point": "entry_point"}},
            {"name": "math", "path": str(directory / "math.jsonl"), "domain": "math",
             "fields": {"id": "unique_id", "prompt": "problem", "solution": "solution", "answer": "answer"},
             "metadata": ["subject", "level"]},
        ],
    }


def plain_loop(doc: dict, out: Path, fingerprint: bool = False) -> int:
    """What one would write without Beam: the same pure normalisation, one process.
    With `fingerprint`, it also hashes every row as the pipeline does for the manifest."""
    (cfg,) = parse(doc, str(out))
    normalise = Normaliser(cfg.sources)
    seen, rows = set(), []
    for file_index, src in enumerate(cfg.sources):
        with open(src.path, "rb") as f:
            for index, raw in enumerate(f, 1):
                env = {"source_name": src.name, "source": src.path, "location": f"line {index}",
                       "file_index": file_index, "index": index, "data": json.loads(raw)}
                try:
                    for row in normalise(env):
                        row.pop("_origin")
                        if row["id"] not in seen:
                            seen.add(row["id"])
                            rows.append(row)
                except Reject:
                    pass
    if fingerprint:
        sum(row_hash(r) for r in rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBLEMS.arrow), out / "plain.parquet")
    return len(rows)


def pipeline(doc: dict, out: Path) -> int:
    (cfg,) = parse(doc, str(out))
    result = build_dataset(cfg, Store(str(out / "store")))
    return result.manifest["splits"]["train"]["rows"]


def timed(fn, *args) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn(*args)
    return time.perf_counter() - t, n


def peak_rss_mb(config: Path, root: Path) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "codekiln.pipelines.cli", "build", str(config), "--root", str(root), "-q"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(proc.stderr.read().decode())
    return usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        doc = write_inputs(tmp, args.records)
        pipeline(doc, tmp / "warmup")  # first-run costs (lazy imports) out of the comparison
        loop_t, hashed_t, pipe_t = [], [], []
        for i in range(args.repeat):  # interleaved, so drift affects all alike
            t, n_loop = timed(plain_loop, doc, tmp)
            loop_t.append(t)
            hashed_t.append(timed(plain_loop, doc, tmp, True)[0])
            t, n_pipe = timed(pipeline, doc, tmp / f"run{i}")
            pipe_t.append(t)
        assert n_loop == n_pipe == args.records, (n_loop, n_pipe)
        (tmp / "small").mkdir()
        small = write_inputs(tmp / "small", 100)
        fixed = statistics.median(timed(pipeline, small, tmp / f"small{i}")[0] for i in range(args.repeat))
        lo, lh, pi = (statistics.median(x) for x in (loop_t, hashed_t, pipe_t))
        n = args.records
        print(f"normalisation of {n} records (median of {args.repeat}):")
        print(f"  plain python loop              {lo:7.3f} s   {n / lo:9.0f} records/s")
        print(f"  plain loop + row fingerprints  {lh:7.3f} s   {n / lh:9.0f} records/s")
        print(f"  codekiln pipeline              {pi:7.3f} s   {n / pi:9.0f} records/s")
        print(f"  ratio pipeline/loop            {pi / lo:7.2f}x   (goal <= 1.3x)")
        print(f"  pipeline fixed cost (100 recs) {fixed:7.3f} s; per record beyond it "
              f"{(pi - fixed) / n * 1e6:.0f} us vs loop {lo / n * 1e6:.0f} us "
              f"(marginal ratio {(pi - fixed) / lo:.2f}x)")

        if args.skip_memory:
            return
        sizes = [args.records, args.records * 10]
        peaks = []
        for n in sizes:
            d = tmp / f"mem{n}"
            d.mkdir()
            cfg = d / "bench.yaml"
            cfg.write_text(json.dumps(write_inputs(d, n)))
            peaks.append(peak_rss_mb(cfg, d / "store"))
        print("peak memory of `codekiln build` (fresh process each):")
        for n, p in zip(sizes, peaks, strict=True):
            print(f"  {n:>8} records     {p:7.0f} MB")
        print(f"  ratio {sizes[1]}/{sizes[0]}   {peaks[1] / peaks[0]:7.2f}x   (goal <= 1.5x)")


if __name__ == "__main__":
    main()
