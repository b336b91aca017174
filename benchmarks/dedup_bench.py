"""Decontamination and near-dedupe: throughput and memory at 10k and 100k synthetic records,
rensa vs datasketch MinHash side by side, and the decontaminator's precision and recall on a
planted set.

    .venv/bin/python benchmarks/dedup_bench.py [--sizes 10000 100000] [--beam-sizes 10000]

Each size runs in a fresh process, so the peak RSS printed is that size's alone. Records are
generated as they are consumed (never all in memory), from the benchmarks' own vocabulary, so
every n-gram window is made of known words: the decontaminator's slowest case.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tokenize
from importlib import resources

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo, for tests/
from tests.planting import rename_identifiers  # noqa: E402

ALL = ("humaneval", "mbpp", "math500", "gsm8k")


def rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corpus(name: str) -> list[dict]:
    from codekiln.transforms.decontaminate.benchmarks import BENCHMARKS

    raw = resources.files("codekiln.configs").joinpath("corpora", BENCHMARKS[name].file).read_bytes()
    return [json.loads(x) for x in gzip.decompress(raw).decode().splitlines() if x.strip()]


def records(path: str):
    with open(path) as f:
        for line in f:
            yield json.loads(line)


def write_synthetic(n: int, path: str) -> str:
    """The records to measure on, written once (so generating them is not what is measured)."""
    with open(path, "w") as f:
        for r in synthetic(n):
            f.write(json.dumps(r) + "\n")
    return path


def synthetic(n: int, seed: int = 0):
    """n records {id, prompt, solution}: prose and code made of benchmark words in random order,
    1% of them near-copies of an earlier record."""
    from codekiln.transforms.decontaminate.index import DecontaminationParams, get_index

    vocab = sorted(get_index(DecontaminationParams(benchmarks=ALL)).word.vocab)
    rng = random.Random(seed)
    recent: list[dict] = []
    for i in range(n):
        if recent and rng.random() < 0.01:
            base = rng.choice(recent)
            words = base["solution"].split(" ")
            words[rng.randrange(len(words))] = rng.choice(vocab)
            rec = {"id": f"r{i}", "prompt": base["prompt"], "solution": " ".join(words)}
        else:
            prompt = " ".join(rng.choice(vocab) for _ in range(rng.randint(20, 60)))
            body = "\n".join(f"    {rng.choice(vocab)} = {rng.choice(vocab)}({rng.choice(vocab)}, {rng.randint(0, 99)})"
                             for _ in range(rng.randint(3, 15)))
            rec = {"id": f"r{i}", "prompt": prompt, "solution": f"def {rng.choice(vocab)}(x):\n{body}\n    return x\n"}
        recent = (recent + [rec])[-200:]
        yield rec


# ---------------------------------------------------------------------------------------------
# one size, in its own process


def measure(what: str, path: str) -> dict:
    from codekiln.transforms.decontaminate.index import DecontaminationParams, get_index
    from codekiln.transforms.neardup.minhash import (
        NearDedupeParams,
        band_keys,
        lsh_bands,
        signature,
    )

    base = rss_mb()
    n = sum(1 for _ in open(path))
    if what == "decontaminate":
        t0 = time.perf_counter()
        index = get_index(DecontaminationParams(benchmarks=ALL))
        build = time.perf_counter() - t0
        after_index = rss_mb()
        t0 = time.perf_counter()
        hits = sum(index.check({"prompt": r["prompt"], "solution": r["solution"]}) is not None for r in records(path))
        dt = time.perf_counter() - t0
        return {"records": n, "records_per_s": n / dt, "index_build_s": build, "hits": hits,
                "rss_mb_index": after_index, "rss_mb_peak": rss_mb(), "rss_mb_start": base}
    if what == "neardup_keys":  # what each worker does per record: signature + band keys
        params = NearDedupeParams(near=True)
        bands = lsh_bands(params.threshold, params.num_perm)
        t0 = time.perf_counter()
        keys = 0
        for r in records(path):
            sig = signature(r["prompt"] + "\n" + r["solution"], params)
            keys += len(band_keys(sig, *bands))
        dt = time.perf_counter() - t0
        return {"records": n, "records_per_s": n / dt, "keys": keys, "rss_mb_peak": rss_mb(), "rss_mb_start": base}
    if what == "neardup_beam":  # the whole transform on the local runner (spill, shuffle, decide, read back)
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
        from codekiln.transforms.neardup.beam import NearDedupe

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            opts = PipelineOptions(["--runner=FnApiRunner", "--default_sdk_harness_log_level=WARNING"])
            with beam.Pipeline(options=opts) as p:
                rows = p | beam.io.ReadFromText(path) | beam.Map(json.loads)
                kept, rejected = rows | NearDedupe(NearDedupeParams(near=True), ("prompt", "solution"), "id",
                                                   os.path.join(tmp, "spill"))
                (rejected | beam.combiners.Count.Globally()
                 | beam.Map(lambda c: open(os.path.join(tmp, "n"), "w").write(str(c))))
            dt = time.perf_counter() - t0
            removed = int(open(os.path.join(tmp, "n")).read())
        return {"records": n, "records_per_s": n / dt, "removed": removed, "rss_mb_peak": rss_mb(), "rss_mb_start": base}
    raise ValueError(what)


def in_subprocess(what: str, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", what, path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# MinHash libraries side by side


def libraries(n: int = 2000) -> dict:
    import datasketch
    import rensa
    from codekiln.transforms.neardup.minhash import document_shingles

    shingles = [document_shingles(r["prompt"] + "\n" + r["solution"], 5) for r in synthetic(n, seed=3)]
    t0 = time.perf_counter()
    for sh in shingles:
        m = rensa.RMinHash(num_perm=256, seed=42)
        m.update(sh)
        m.digest()
    t_rensa = time.perf_counter() - t0
    t0 = time.perf_counter()
    for sh in shingles:
        m = datasketch.MinHash(num_perm=256, seed=42)
        m.update_batch([s.encode() for s in sh])
        m.hashvalues  # noqa: B018
    t_ds = time.perf_counter() - t0
    # both estimate the same Jaccard: compare their estimates on near-copies
    errs = []
    for a, b in zip(shingles[::2], shingles[1::2], strict=False):
        b = a[: len(a) * 3 // 4] + b[: len(a) // 4]
        true = len(set(a) & set(b)) / len(set(a) | set(b))
        ra, rb = rensa.RMinHash(256, 42), rensa.RMinHash(256, 42)
        ra.update(a)
        rb.update(b)
        da, db = datasketch.MinHash(256, 42), datasketch.MinHash(256, 42)
        da.update_batch([s.encode() for s in a])
        db.update_batch([s.encode() for s in b])
        errs.append((abs(ra.jaccard(rb) - true), abs(da.jaccard(db) - true)))
    return {"records": n, "rensa_per_s": n / t_rensa, "datasketch_per_s": n / t_ds, "ratio": t_ds / t_rensa,
            "rensa_mean_abs_err": sum(e[0] for e in errs) / len(errs),
            "datasketch_mean_abs_err": sum(e[1] for e in errs) / len(errs)}


# ---------------------------------------------------------------------------------------------
# precision and recall on a planted set


def _reformat(text: str, rng: random.Random) -> str:
    words = text.split()
    lines, k = [], 0
    while k < len(words):
        step = rng.randint(3, 9)
        lines.append(" ".join(words[k:k + step]))
        k += step
    out = "\n".join(lines)
    return out.upper() if rng.random() < 0.5 else out


def _wrap(text: str, rng: random.Random, vocab: list[str]) -> str:
    before = " ".join(rng.choice(vocab) for _ in range(rng.randint(50, 300)))
    after = " ".join(rng.choice(vocab) for _ in range(rng.randint(50, 300)))
    return f"{before}\n\n{text}\n\n{after}"


def planted() -> dict:
    from codekiln.transforms.decontaminate.index import DecontaminationParams, get_index

    index = get_index(DecontaminationParams(benchmarks=ALL))
    vocab = sorted(index.word.vocab)
    rng = random.Random(7)
    cases = []  # (how, benchmark, expected item or None, text)
    for item in rng.sample(corpus("humaneval"), 60):
        whole = item["prompt"] + item["canonical_solution"]
        cases.append(("renamed variables", "humaneval", item["task_id"], _wrap(rename_identifiers(whole), rng, vocab)))
        cases.append(("reformatted", "humaneval", item["task_id"], _wrap(_reformat(whole, rng), rng, vocab)))
    for item in rng.sample(corpus("mbpp"), 100):
        code = item["code"].replace("\r\n", "\n").replace("\t", "    ")
        try:
            renamed = rename_identifiers(code)
        except (SyntaxError, tokenize.TokenError, IndentationError):
            renamed = code
        cases.append(("renamed variables", "mbpp", f"mbpp/{item['task_id']}", _wrap(item["text"] + "\n" + renamed, rng, vocab)))
        cases.append(("reformatted", "mbpp", f"mbpp/{item['task_id']}", _wrap(_reformat(item["text"], rng), rng, vocab)))
    for name, field in (("math500", "problem"), ("gsm8k", "question")):
        items = corpus(name)
        for i in rng.sample(range(len(items)), 100):
            ident = items[i]["unique_id"] if name == "math500" else f"gsm8k/test/{i}"
            cases.append(("reformatted", name, ident, _wrap(_reformat(items[i][field], rng), rng, vocab)))
    positives = len(cases)
    # negatives: every benchmark's items checked against the other three (real code and math text
    # that is not theirs), and synthetic records of benchmark words
    negatives = []
    for name in ALL:
        for item in corpus(name):
            fields = {"humaneval": ("prompt", "canonical_solution"), "mbpp": ("text", "code"),
                      "math500": ("problem", "solution"), "gsm8k": ("question", "answer")}[name]
            negatives.append((name, "\n".join(item[f] for f in fields)))
    out = {"by_how": {}}
    tp = fn = wrong = 0
    for how, bench, ident, text in cases:
        m = index.check({"text": text})
        row = out["by_how"].setdefault(f"{bench} {how}", {"n": 0, "caught": 0})
        row["n"] += 1
        if m is None:
            fn += 1
            continue
        row["caught"] += 1
        tp += 1
        wrong += (m.benchmark, m.item) != (bench, ident)
    fp = 0
    others = {name: get_index(DecontaminationParams(benchmarks=tuple(b for b in ALL if b != name))) for name in ALL}
    for name, text in negatives:
        fp += others[name].check({"text": text}) is not None
    synthetic_fp = sum(index.check({"p": r["prompt"], "s": r["solution"]}) is not None for r in synthetic(5000, seed=11))
    n_neg = len(negatives) + 5000
    fp += synthetic_fp
    out.update(positives=positives, negatives=n_neg, true_positives=tp, false_negatives=fn, false_positives=fp,
               wrong_item=wrong, precision=tp / max(tp + fp, 1), recall=tp / positives)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--beam-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1])))
        return
    tmp = tempfile.mkdtemp(prefix="dedup-bench-")
    files = {n: write_synthetic(n, os.path.join(tmp, f"{n}.jsonl")) for n in sorted(set(args.sizes + args.beam_sizes))}
    print("== MinHash libraries, the same shingles (256 permutations)")
    lib = libraries()
    print(f"rensa {lib['rensa_per_s']:,.0f} records/s, datasketch {lib['datasketch_per_s']:,.0f} records/s: "
          f"rensa {lib['ratio']:.1f}x faster; mean |Jaccard error| rensa {lib['rensa_mean_abs_err']:.3f}, "
          f"datasketch {lib['datasketch_mean_abs_err']:.3f}")
    print("\n== throughput and peak RSS (fresh process per size)")
    for what, sizes in (("decontaminate", args.sizes), ("neardup_keys", args.sizes), ("neardup_beam", args.beam_sizes)):
        for n in sizes:
            r = in_subprocess(what, files[n])
            extra = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()
                     if k not in ("records", "records_per_s", "rss_mb_peak")}
            print(f"{what:14s} {n:>7,} records: {r['records_per_s']:>9,.0f} records/s, peak RSS "
                  f"{r['rss_mb_peak']:,.0f} MB  {extra}")
    print("\n== decontamination on a planted set")
    pr = planted()
    for how, row in sorted(pr["by_how"].items()):
        print(f"  {how:32s} caught {row['caught']}/{row['n']}")
    print(f"positives {pr['positives']}, negatives {pr['negatives']}: precision {pr['precision']:.4f}, "
          f"recall {pr['recall']:.4f} (TP {pr['true_positives']}, FN {pr['false_negatives']}, "
          f"FP {pr['false_positives']}; caught with another item's id: {pr['wrong_item']})")


if __name__ == "__main__":
    main()
