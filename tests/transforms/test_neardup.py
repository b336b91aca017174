"""Near-dedupe: MinHash signatures, LSH bands, the global decision across worker processes."""

import json
import os
import random
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln.transforms.neardup.beam import NearDedupe
from codekiln.transforms.neardup.minhash import (
    NearDedupeParams,
    clusters,
    jaccard,
    lsh_bands,
    pack,
    signature,
)

WORDS = [f"tok{i}" for i in range(3000)]


def documents(n_clusters: int, copies: int, seed: int = 0) -> list[dict]:
    """`n_clusters` random 150-word texts, each with `copies` edited copies (2 words replaced, a
    line break and capitals added: Jaccard of their 5-grams ~0.87, found by the bands with
    probability 0.999), and as many unrelated texts."""
    rng = random.Random(seed)
    rows = []
    for c in range(n_clusters):
        base = [rng.choice(WORDS) for _ in range(150)]
        rows.append({"id": f"c{c:03d}-0", "text": " ".join(base), "cluster": c})
        for k in range(1, copies + 1):
            edited = list(base)
            for i in rng.sample(range(150), 2):
                edited[i] = rng.choice(WORDS)
            rows.append({"id": f"c{c:03d}-{k}", "text": "\n".join([" ".join(edited[:70]).upper(), " ".join(edited[70:])]),
                         "cluster": c})
        rows.append({"id": f"u{c:03d}", "text": " ".join(rng.choice(WORDS) for _ in range(150)), "cluster": None})
    rng.shuffle(rows)
    return rows


class _TagWorker(beam.DoFn):
    def process(self, row):
        yield dict(row, pid=os.getpid())


def run(rows, out_dir, options: list[str]):
    """(kept, rejected) rows, written to files: worker processes share no memory with the test."""
    with beam.Pipeline(options=PipelineOptions(options)) as p:
        tagged = p | beam.Create(rows) | beam.Reshuffle() | beam.ParDo(_TagWorker())
        out, rej = tagged | NearDedupe(NearDedupeParams(near=True), ("text",), "id", str(out_dir / "spill"))
        for name, pcoll in (("kept", out), ("rejected", rej)):
            (pcoll | f"{name}Json" >> beam.Map(json.dumps)
             | f"{name}Write" >> beam.io.WriteToText(str(out_dir / name), shard_name_template=""))
    return [[json.loads(line) for line in (out_dir / name).read_text().splitlines()] for name in ("kept", "rejected")]


def test_bands_and_signatures_are_as_documented():
    assert lsh_bands(0.7, 256) == (25, 10)  # bands x rows <= permutations
    a = signature("the quick brown fox jumps over the lazy dog " * 3, NearDedupeParams())
    assert len(a) == 256 and a == signature("The quick  brown fox, jumps over the lazy dog " * 3, NearDedupeParams())
    assert signature("   ,;  ", NearDedupeParams()) is None
    b = signature("a completely different sentence with other words in it entirely", NearDedupeParams())
    assert jaccard(a, b) < 0.2 and jaccard(pack(a), pack(b)) == jaccard(a, b) and jaccard(pack(a), pack(a)) == 1


def test_signatures_are_the_same_in_every_process():
    code = ("from codekiln.transforms.neardup.minhash import NearDedupeParams, signature;"
            "print(sum(signature('one two three four five six seven', NearDedupeParams())))")
    outs = {subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=seed),
                           capture_output=True, text=True, check=True).stdout for seed in ("0", "1", "random")}
    assert len(outs) == 1


def test_clusters_keep_the_smallest_key_whatever_the_edge_order():
    edges = [("d", "b"), ("b", "c"), ("x", "y"), ("c", "a")]
    expected = {"a": "a", "b": "a", "c": "a", "d": "a", "x": "x", "y": "x"}
    for seed in range(5):
        random.Random(seed).shuffle(edges)
        assert clusters(edges) == expected


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_near_duplicates_across_worker_processes_are_removed_once(tmp_path, mode):
    rows = documents(n_clusters=40, copies=2)
    options = ["--runner=FnApiRunner", "--default_sdk_harness_log_level=WARNING"]
    if mode == "multi_processing":
        options += ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    kept, rejected = run(rows, tmp_path, options)
    assert len(kept) + len(rejected) == len(rows)
    by_cluster: dict = {}
    for r in kept:
        if r["cluster"] is not None:
            by_cluster.setdefault(r["cluster"], []).append(r["id"])
    # one kept per cluster, the smallest id; every unrelated text kept
    assert by_cluster == {c: [f"c{c:03d}-0"] for c in range(40)}
    assert sum(r["cluster"] is None for r in kept) == 40
    assert len(rejected) == 80 and {r["reason"] for r in rejected} == {"near_duplicate"}
    for r in rejected:
        cluster = r["location"].split("-")[0]
        assert r["detail"].startswith(f"near-duplicate of kept {cluster}-0 (estimated Jaccard")
    if mode == "multi_processing":  # the copies were spread: the decision was a global one
        pids = {r["pid"] for r in kept}
        assert len(pids) == 2
