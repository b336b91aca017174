"""Every training kind's recipe, as its card and the README show it, run with the real TRL trainers.

The outputs are loaded the way a user loads them: `load_dataset` over a published dry-run folder
(for the demo kinds, `out/hub/<dataset>` as the README says). The model is a tiny random Llama
with a tokenizer trained on the data (tests/tiny_model.py), so nothing is downloaded. Only the
user's knobs change (tests/trl_runner.py): the model, the output folder, and 2 steps.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

# no skip: the README's test command (`bash .ci/setup --dev`) installs the `train` group
import trl  # noqa: E402, F401
from codekiln.pipelines.kinds import KINDS
from codekiln.pipelines.publishing import training
from codekiln.pipelines.storage.store import Store

from tests.conftest import REPO, run_cli
from tests.llm_server import FakeOpenAI

# (dataset in the demo, how the README refers to it); `responses` and conversational
# preferences are built here (the demo has no model endpoint and builds the standard format)
DEMO = ["lintseq", "labels", "preferences", "efa-variants"]
HARMLESS = [  # warnings that are not about the data (checked one by one, anything else fails)
    r"is deprecated and will be removed in v6",  # transformers' gradient_checkpointing rename
    r"'pin_memory' argument is set as true but no accelerator is found",  # CPU run
    r"new embeddings will be initialized from a multivariate normal",  # resize_token_embeddings' note
]


def _card_recipe(folder: Path) -> str:
    card = (folder / "README.md").read_text()
    section = card.split("### Training\n", 1)[1].split("\n## ", 1)[0]
    (code,) = training.code_blocks(section)
    return code


def _readme_recipes() -> dict[str, str]:
    """The README's TRL section: dataset -> the code block under its `#### <dataset>` heading."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Training with TRL\n", 1)[1].split("\n## ", 1)[0]
    out = {}
    for part in section.split("\n#### ")[1:]:
        name = re.match(r"`([^`]+)`", part).group(1)
        blocks = training.code_blocks(part)
        assert len(blocks) == 1, f"README TRL section, {name}: one code block expected"
        out[name] = blocks[0]
    return out


def _texts(folder: Path) -> list[str]:
    out = []
    for f in sorted((folder / "data").glob("*.parquet")):
        for row in pq.read_table(f).to_pylist():
            for col in ("prompt", "completion", "chosen", "rejected", "messages"):
                out.append(training.flat(row.get(col)))
    return [t for t in out if t]


@pytest.fixture(scope="module")
def recipes(demo_store, tmp_path_factory):
    """Publish every training kind's version, build the tiny model, run every recipe (one process)."""
    work = tmp_path_factory.mktemp("trl")
    hub = work / "out" / "hub"
    store_root = work / "store"
    shutil.copytree(demo_store, store_root)  # conversational preferences are built beside the demo's
    folders = {}
    for name in DEMO:
        run_cli("publish", f"{name}@v1", "--repo", f"you/{name}", "--dry-run", str(hub / name),
                "--root", str(store_root))
        folders[name] = hub / name
    cfg = work / "extra.yaml"
    cfg.write_text(f"""
datasets:
  - name: preferences-chat
    kind: preferences
    source: {{dataset: labels@v1}}
    params: {{rule: plum, max_pairs_per_prompt: 4, format: conversational}}
  - name: responses
    kind: responses
    source:
      name: he
      path: {REPO / 'configs' / 'samples' / 'humaneval.jsonl'}
      fields: {{id: task_id, prompt: prompt}}
    llm: {{base_url: BASE_URL, model: test-model, n: 2, batch_retries: 0, max_retries: 1, timeout_s: 5}}
""")
    with FakeOpenAI() as server:
        cfg.write_text(cfg.read_text().replace("BASE_URL", server.base_url))
        run_cli("build", str(cfg), "--root", str(store_root), "-q", env={**_env(), "OPENAI_API_KEY": "sk-test"})
    for name in ("preferences-chat", "responses"):
        run_cli("publish", f"{name}@v1", "--repo", f"you/{name}", "--dry-run", str(hub / name),
                "--root", str(store_root))
        folders[name] = hub / name

    from tests.tiny_model import make_tiny_model

    model = make_tiny_model(work / "model", [t for f in folders.values() for t in _texts(f)])
    # the README's blocks are run verbatim (in `work`, where out/hub/<dataset> are the dry-run
    # folders); each card's block is the README's but for its `load_dataset` line (checked below)
    readme = _readme_recipes()
    jobs = [{"name": name, "model": str(model), "output": str(work / "run" / name), "code": code}
            for name, code in readme.items()]
    (work / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, "-m", "tests.trl_runner", str(work / "jobs.json"), str(work / "out.json")],
                          cwd=work, env={**_env(), "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["name"]: r for r in json.loads((work / "out.json").read_text())}
    return {"results": results, "folders": folders, "readme": readme, "store": Store(str(store_root))}


def _env() -> dict:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "TRANSFORMERS_VERBOSITY": "warning"}


TRAINED = ["lintseq", "labels", "preferences", "preferences-chat", "responses", "efa-variants"]


@pytest.mark.parametrize("name", TRAINED)
def test_the_recipe_trains_two_steps_without_a_data_warning(recipes, name):
    r = recipes["results"][name]
    assert r["error"] is None, r["error"]
    assert r["steps"] == 2 and r["train_loss"] is not None and math.isfinite(r["train_loss"])
    noise = [w for w in r["warnings"] + r["logged"] if not any(re.search(p, w) for p in HARMLESS)]
    assert noise == [], noise  # TRL's data warnings (imbalance, prompt/completion boundary, ...) fail here
    # nothing is cut by the trainer's default max_length (1024): every sequence it built is shorter
    longest = max(n for side in r["lengths"].values() for n in side)
    assert r["max_length"] and longest < r["max_length"], (longest, r["max_length"])


@pytest.mark.parametrize("name", [n for n in TRAINED if n != "preferences-chat"])
def test_no_row_repeats_its_prompt_in_what_is_trained(recipes, name):
    """The completion side never re-writes the prompt (LintSeq's first edit used to). Not for
    conversational pairs: there each answer is the whole program, as a chat model answers."""
    folder = recipes["folders"][name]
    rows = [r for f in sorted((folder / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert rows
    for row in rows:
        prompt = training.flat(row["prompt"]).strip()
        for col in ("completion", "chosen", "rejected"):
            if col in row:
                assert len(prompt) < 40 or prompt not in training.flat(row[col]), (col, row["id"])
        if name == "lintseq":  # the edits' lines are `+`-prefixed: no edit writes a prompt line
            assert row["starts_from_prompt"]  # HumanEval's programs continue their prompts
            written = {line[1:] for line in row["completion"].splitlines() if line.startswith("+")}
            prompt_lines = {line for line in row["prompt"].splitlines() if line.strip()}
            assert not prompt_lines & written - set(row["program"][len(row["prompt"]):].splitlines()), row["id"]


def test_the_cards_show_the_readmes_recipes_for_their_own_version(recipes):
    readme = recipes["readme"]
    assert sorted(readme) == sorted(TRAINED)
    for name, code in readme.items():
        card = _card_recipe(recipes["folders"][name])
        version_load = training.card_load(f"you/{name}", "train", "v1")
        assert card.count(version_load) == 1, name  # the card loads its own repo and version
        assert card.replace(version_load, training.folder_load(f"out/hub/{name}", "train")) == code, name


def test_the_kto_weight_comes_from_the_versions_own_counts(recipes):
    store = recipes["store"]
    rows = [r for f in store.files(store.resolve("labels@v1")) for r in pq.read_table(f).to_pylist()]
    yes = sum(r["label"] for r in rows)
    no = len(rows) - yes
    assert 0 < yes < no  # the demo's labels are imbalanced, as real ones are
    card = (recipes["folders"]["labels"] / "README.md").read_text()
    weight = round(training.KTO_RATIO * no / yes, 2)
    assert f"desirable_weight={weight:.2f}," in card and f"{yes:,} passing and {no:,} failing rows" in card
    # inside the range TRL checks (eq. 8 of the KTO paper), so it does not warn
    assert no / yes <= weight <= no / yes * 1.33


def test_the_report_counts_tokens_with_a_named_tokenizer(recipes, tmp_path):
    """`report --tokenizer` counts what the recipe's trainer tokenises: for `labels`, exactly the
    untruncated lengths the KTO run saw."""
    model = Path(recipes["results"]["labels"]["code"].split('model_id = "', 1)[1].split('"', 1)[0])
    out = tmp_path / "labels.html"
    run_cli("report", "labels@v1", "-o", str(out), "--tokenizer", str(model), "--root", str(recipes["store"].root))
    table = out.read_text().split("<h2>Token lengths</h2>", 1)[1].split("</table>", 1)[0]
    assert f"llama tokenizer {model}" in table
    cells = re.findall(r"<td>([^<]*)</td>", table)
    lengths = recipes["results"]["labels"]["lengths"]["completion_ids"]  # KTOTrainer's own
    assert cells[0] == "prompt + completion" and int(cells[1]) == len(lengths)
    assert int(cells[2]) == min(lengths) and int(cells[3]) == sorted(lengths)[len(lengths) // 2]
    assert int(cells[6]) == max(lengths)


def test_kto_weights_for_either_imbalance_and_degenerate_splits():
    line, _, side = training.kto_weights(10, 90)
    assert side == "passing" and line.startswith("desirable_weight=10.35,")
    line, _, side = training.kto_weights(90, 10)
    assert side == "failing" and line.startswith("undesirable_weight=7.83,")
    assert 9 / 1.33 <= 7.83 <= 9
    line, text, _ = training.kto_weights(0, 5)
    assert line.startswith("desirable_weight=1.0,") and "0 passing and 5 failing" in text


def test_every_training_kind_has_one_recipe_and_the_others_none():
    with_recipe = {name for name, kind in KINDS.items() if kind.training}
    assert with_recipe == {"lintseq", "labels", "preferences", "responses", "efa_variants"}
    for name in with_recipe:
        code = KINDS[name].training.code
        assert code.count("{load}") == 1 and code.count("model_id = ") == 1 and code.count("max_steps=-1") == 1
