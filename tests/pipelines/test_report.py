"""`codekiln report` on every demo dataset, opened in headless Chromium (tests/browser.py): every
chart must render to a non-empty SVG with data marks, with no console errors and no network."""

import json
import os
import re
import shutil

import pytest
from codekiln.pipelines.cli import main

from tests.browser import CHROMIUM, open_page
from tests.conftest import DEMO_DATASETS, SAMPLES, run_cli, write_jsonl

# what each page must show beyond the common charts: a chart title and a sample-row element
EXPECTED = {
    "problems": ("Problems per source", ".pair"),
    "instructions": ("Problems per source", ".pair"),
    "lintseq": ("Edits per sequence", "pre.diff span.add"),
    "tests": ("Mutation score per problem", "table.grid"),
    "labels": ("Pass ratio per candidate", ".badge.ok"),
    "preferences": ("Pass ratio: chosen vs rejected", ".pair pre.code"),
    "pragmatic": ("P(listener picks the target) after k examples", ".pair table.grid"),
    "efas": ("Validation funnel", ".badge.bad"),
    "efa-variants": ("Variants per EFA", "pre.code"),
}

PAGE_STATE = """((sampleSelector) => {
  const charts = [...document.querySelectorAll('.chart')].map(div => {
    const svg = div.querySelector('svg');
    return {title: div.dataset.title, svg: !!svg,
            width: svg ? svg.getBoundingClientRect().width : 0,
            marks: svg ? svg.querySelectorAll('.role-mark > *').length : 0};
  });
  return {state: window.codekilnCharts, charts: charts,
          samples: document.querySelectorAll(sampleSelector).length};
})(%s)"""


def _need_browser():
    """Skip only where `.ci/setup --dev` could not install Chromium (not root, or no apt)."""
    if CHROMIUM is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            pytest.fail("chromium is missing although `bash .ci/setup --dev` installs it as root")
        pytest.skip("chromium is not installed (sudo apt-get install chromium)")


@pytest.mark.parametrize("dataset", DEMO_DATASETS)
def test_report_renders_in_chromium(demo_store, tmp_path, dataset, capsys):
    _need_browser()
    out = tmp_path / f"{dataset}.html"
    assert main(["report", dataset, "-o", str(out), "--root", str(demo_store)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert "<script src" not in page and "<link" not in page  # self-contained

    title, sample_selector = EXPECTED[dataset]
    result = open_page(out, "window.codekilnCharts && window.codekilnCharts.done",
                       result=PAGE_STATE % json.dumps(sample_selector), timeout_s=60)
    assert result.console_errors == [] and result.failed_requests == []
    state, charts = result.value["state"], result.value["charts"]
    assert state["failed"] == [] and state["rendered"] == state["total"] == len(charts) >= 2
    for chart in charts:
        assert chart["svg"] and chart["width"] > 50 and chart["marks"] > 0, chart
    assert title in [c["title"] for c in charts]
    assert "Records through the stages" in [c["title"] for c in charts]
    assert result.value["samples"] > 0, sample_selector


def test_report_of_a_version_with_rejects_charts_them(demo_store, tmp_path):
    _need_browser()
    manifest = json.loads(run_cli("show", "efa-variants", "--root", str(demo_store)).stdout)
    assert manifest["rejects"]["rows"] > 0
    out = tmp_path / "r.html"
    run_cli("report", "efa-variants@v1", "-o", str(out), "--root", str(demo_store))
    result = open_page(out, "window.codekilnCharts && window.codekilnCharts.done", result=PAGE_STATE % '"x"')
    rejects = [c for c in result.value["charts"] if c["title"] == "Rejects by stage and reason"]
    assert rejects and rejects[0]["marks"] == len(manifest["rejects"]["by_stage"]["variants"])
    assert "invalid_efa" in out.read_text()


def test_report_shows_token_lengths_of_training_kinds(demo_store, tmp_path):
    """Without --tokenizer, the bytes / 4 estimate, over every row; kinds that are not trained on
    have no such section."""
    import duckdb

    out = tmp_path / "l.html"
    run_cli("report", "lintseq@v1", "-o", str(out), "--root", str(demo_store))
    page = out.read_text()
    assert "<h2>Token lengths</h2>" in page and "bytes / 4" in page and "over_1k" in page
    files = [str(p) for p in (demo_store / "lintseq" / "v1" / "data").glob("*.parquet")]
    longest = duckdb.sql(f"select max(ceil(octet_length(encode(prompt || completion)) / 4))::int from "
                         f"read_parquet({files})").fetchall()[0][0]
    table = page.split("<h2>Token lengths</h2>", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells[0] == "prompt + completion" and int(cells[6]) == longest  # sequence, rows, min, ..., max
    run_cli("report", "problems@v1", "-o", str(tmp_path / "p.html"), "--root", str(demo_store))
    assert "Token lengths" not in (tmp_path / "p.html").read_text()
    proc = run_cli("report", "lintseq@v1", "--tokenizer", str(tmp_path / "nothing-here"), "--root",
                   str(demo_store), check=False)
    assert proc.returncode == 2 and ("cannot load tokenizer" in proc.stderr or "needs transformers" in proc.stderr)


def test_report_names_a_missing_version(demo_store):
    proc = run_cli("report", "lintseq@v9", "--root", str(demo_store), check=False)
    assert proc.returncode == 1 and "no version 'v9'" in proc.stderr


def test_histograms_are_aggregated_exactly_in_duckdb():
    import duckdb
    from codekiln.pipelines.kinds.render import hist as _hist

    con = duckdb.connect()
    con.execute("create table data as select i, (i % 7) k, i / 99.0 r, (case when i % 2 = 0 then 'a' else 'b' end) g "
                "from range(100) t(i)")

    def q(sql):
        rel = con.sql(sql)
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]

    def values(chart):
        spec = chart.to_dict()
        return spec["data"]["values"] if "values" in spec["data"] else spec["datasets"][spec["data"]["name"]]

    binned = values(_hist(q, "select g, r x from data", x_title="r", bins=10, extent=(0, 1), grouped=True))
    assert sum(v["n"] for v in binned) == 100
    assert all(0 <= v["x0"] < v["x1"] <= 1 for v in binned)
    assert sum(v["n"] for v in binned if v["g"] == "a") == 50
    assert [v["n"] for v in binned if v["x0"] == 0.9] == [5, 5]  # 0.9 <= i/99 <= 1: i = 90..99, max in the last bin
    discrete = values(_hist(q, "select k x from data", x_title="k", discrete=True))
    assert {v["x"]: v["n"] for v in discrete} == {k: len([i for i in range(100) if i % 7 == k]) for k in range(7)}
    free = values(_hist(q, "select i x from data", x_title="i", bins=4))
    assert [v["n"] for v in free] == [25, 25, 25, 25] and free[-1]["x1"] == 99


def test_report_of_an_empty_version_says_so_without_errors(tmp_path):
    _need_browser()
    root = tmp_path / "store"
    data = write_jsonl(tmp_path / "none.jsonl", [], raw_lines=[(0, b"{not json")])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: empty\nkind: problems\nsource: {{path: {data}, domain: code, "
                   f"fields: {{id: task_id, prompt: prompt}}}}\n")
    run_cli("build", str(cfg), "--root", str(root), "-q", "--allow-rejects")  # committed on purpose
    out = tmp_path / "e.html"
    run_cli("report", "empty", "-o", str(out), "--root", str(root))
    result = open_page(out, "window.codekilnCharts && window.codekilnCharts.done",
                       result=PAGE_STATE % json.dumps(".nodata"))
    assert result.console_errors == [] and result.value["state"]["failed"] == []
    assert result.value["samples"] == 2  # "Problems per source" and "Prompt length" have no rows
    assert all(c["marks"] > 0 for c in result.value["charts"])  # the stage and reject charts still draw


def test_report_and_card_of_model_responses(tmp_path, monkeypatch):
    """The `responses` kind needs a model, so it is not in the demo: built here against the
    loopback OpenAI-compatible server, then reported, opened in Chromium and dry-run published."""
    _need_browser()
    import datasets
    from codekiln.pipelines.building.build import build_dataset
    from codekiln.pipelines.config import parse
    from codekiln.pipelines.storage.store import Store

    from tests.llm_server import FakeOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    doc = {"name": "answers", "kind": "responses", "license": "mit",
           "source": {"name": "he", "path": str(SAMPLES / "humaneval.jsonl"), "license": "mit",
                      "fields": {"id": "task_id", "prompt": "prompt"}},
           "llm": {"base_url": "", "model": "test-model", "batch_retries": 0, "max_retries": 1, "n": 2}}
    with FakeOpenAI() as server:
        doc["llm"]["base_url"] = server.base_url
        (cfg,) = parse(doc, str(tmp_path))
        manifest = build_dataset(cfg, Store(str(tmp_path / "store"))).manifest
    assert manifest["splits"]["train"]["rows"] == 40
    out = tmp_path / "answers.html"
    assert main(["report", "answers", "-o", str(out), "--root", str(tmp_path / "store")]) == 0
    result = open_page(out, "window.codekilnCharts && window.codekilnCharts.done",
                       result=PAGE_STATE % json.dumps(".pair pre.code"))
    assert result.console_errors == [] and result.value["samples"] == 10  # 5 rows: messages | response
    titles = [c["title"] for c in result.value["charts"]]
    assert "Finish reasons" in titles and "Completion tokens" in titles
    assert all(c["marks"] > 0 for c in result.value["charts"])
    assert "[system]" in out.read_text()  # the conversation is rendered as messages, not JSON

    dry = tmp_path / "dry"
    assert main(["publish", "answers", "--repo", "org/answers", "--dry-run", str(dry),
                 "--root", str(tmp_path / "store")]) == 0
    ds = datasets.load_dataset(str(dry), cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert ds.num_rows == 40 and "**finish reasons**" in (dry / "README.md").read_text()
    assert ds[0]["prompt"][0]["role"] == "system" and ds[0]["completion"][0]["role"] == "assistant"
    assert ds[0]["messages"] == ds[0]["prompt"] + ds[0]["completion"]
