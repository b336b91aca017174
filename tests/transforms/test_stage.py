import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from codekiln.pipelines.building.build import counts_table
from codekiln.pipelines.building.shards import MOD, _MergeReports, row_hash
from codekiln.transforms.stage import Reject, Stage, read_progress
from hypothesis import given
from hypothesis import strategies as st


def fan(x):
    """0 -> no output, 1 -> reject, 2 -> crash, n -> n copies."""
    if x == 1:
        raise Reject("too_small", "one is not enough")
    if x == 2:
        raise ZeroDivisionError("boom")
    return [x] * x


def test_stage_counts_every_input_and_routes_rejects(tmp_path):
    progress = tmp_path / "progress"
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    good, bad = p | beam.Create([0, 1, 2, 3, 4]) | Stage("fan", fan, str(progress))
    good | "G" >> beam.Map(str) | "WG" >> beam.io.WriteToText(str(tmp_path / "good"))
    bad | "B" >> beam.Map(json.dumps) | "WB" >> beam.io.WriteToText(str(tmp_path / "bad"))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("codekiln"))["counters"]}
    (row,) = counts_table(counters, ["fan"])
    assert row == {"stage": "fan", "in": 5, "accepted": 2, "out": 7, "rejected": 3,
                   "reasons": {"no_output": 1, "too_small": 1, "unexpected_ZeroDivisionError": 1}}
    good_rows = sorted(int(x) for f in tmp_path.glob("good*") for x in f.read_text().split())
    assert good_rows == [3, 3, 3, 4, 4, 4, 4]
    rejects = [json.loads(x) for f in tmp_path.glob("bad*") for x in f.read_text().splitlines()]
    assert sorted(r["reason"] for r in rejects) == ["no_output", "too_small", "unexpected_ZeroDivisionError"]
    assert {r["payload"] for r in rejects} == {"0", "1", "2"}
    assert "boom" in next(r["detail"] for r in rejects if r["reason"].startswith("unexpected"))
    assert read_progress(str(progress))["fan/in"] == 5  # the live view saw the same counts


rows = st.lists(st.fixed_dictionaries({"a": st.integers(), "b": st.text(max_size=5)}), max_size=20)


@given(rows, st.randoms())
def test_content_hash_is_independent_of_order_and_sharding(items, rnd):
    """The dataset hash is a multiset hash over rows, whatever files and bundles held them."""
    merge = _MergeReports()

    def summarise(parts):
        accs = []
        for i, part in enumerate(parts):
            rep = {"path": f"f{i}", "rows": len(part), "hash": sum(row_hash(r) for r in part) % MOD,
                   "groups": {}, "bytes": 0, "sha256": ""}
            accs.append(merge.add_input(merge.create_accumulator(), rep))
        return merge.extract_output(merge.merge_accumulators(accs))["content_hash"]

    shuffled = items[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    assert summarise([items]) == summarise([shuffled[:cut], shuffled[cut:]])
    if items:
        changed = [dict(items[0], b=items[0]["b"] + "x")] + items[1:]
        assert summarise([changed]) != summarise([items])
        assert summarise([items + items[:1]]) != summarise([items])  # duplicates count
