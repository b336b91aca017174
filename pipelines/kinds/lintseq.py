"""`lintseq`: LintSeq synthetic edit sequences, each program as insertion-only diffs whose every
intermediate program is lint-clean."""

from codekiln.pipelines.kinds.base import PRECISION, STEPS, Kind, Recipe
from codekiln.pipelines.kinds.render import Figure, hist, scatter
from codekiln.schemas.lintseq import LINTSEQ
from codekiln.transforms.lintseq.params import LintSeqParams


def figures(q, manifest: dict) -> list[Figure]:
    inserted = ("select len(list_filter(string_split(e, chr(10)), lambda l: starts_with(l, '+') "
                "and not starts_with(l, '+++'))) x from (select unnest(edits) e from data)")
    return [
        Figure("Edits per sequence", hist(q, "select n_edits x from data", x_title="n_edits", discrete=True),
               "LintSeq samples a different deletion path per sequence; each edit is an insertion-only diff."),
        Figure("Lines inserted per edit", hist(q, inserted, x_title="lines", y_title="edits", bins=30)),
        Figure("Program size vs edits", scatter(
            q, "select id, n_edits, len(string_split(program, chr(10))) program_lines from data",
            "program_lines:Q", "n_edits:Q"), "At most 2,000 sequences, chosen by id hash."),
    ]


RECIPE = Recipe(
    trainer="SFT",
    intro=("Rows are TRL prompt/completion pairs: `prompt` is the instruction (or the code the program "
           "continues), `completion` the edit sequence, each edit after the diff token `{diff_token}`, "
           "so the loss falls on the edits only. When `starts_from_prompt` is true the edits start from "
           "the prompt's code and never write it again. `text` (= `prompt + completion`) is the same "
           "example as one string, for trainers without a prompt/completion format; TRL ignores it "
           "because the rows have a `prompt` column. The diff token is added to the tokenizer as one "
           "token (not a special one, so decoding keeps it), and the embeddings grow if they have no room for it:"),
    code=f'''import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_id = "Qwen/Qwen2.5-0.5B"  # any causal LM: a Hub id or a local folder
ds = {{load}}

tokenizer = AutoTokenizer.from_pretrained(model_id)
tokenizer.add_tokens(["{{diff_token}}"])  # one token, never split into pieces
model = AutoModelForCausalLM.from_pretrained(model_id)
if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # room for it (Qwen has spare rows)
    model.resize_token_embeddings(len(tokenizer))

args = SFTConfig(output_dir="{{name}}-sft", {STEPS}
                 {PRECISION})
trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
trainer.train()
''',
    notes=("At inference the program is `apply_edits(completion_edits(output), start)` (both in "
           "`transforms.lintseq`), where `start` is the prompt when the model continues its code "
           "(`starts_from_prompt`), else `\"\"`."),
    adds_tokens=True,
)

KIND = Kind(
    name="lintseq",
    schema=LINTSEQ,
    params=LintSeqParams,
    build="codekiln.transforms.lintseq.beam:build_lintseq",
    method='LintSeq: "Training Language Models on Synthetic Edit Sequences Improves Code '
           'Synthesis" (Piterbarg, Pinto, Fergus, 2024)',
    heavy=True,
    text_fields=("prompt", "program"),  # the edits and completion are the program's lines again
    document="source_id",
    tags=("code", "synthetic", "edit-sequences", "lintseq"),
    training=RECIPE,
    quality=(
        ("edits_per_sequence", "select min(n_edits) min, quantile_cont(n_edits, 0.5) median, avg(n_edits) mean, "
                               "max(n_edits) max from data"),
        ("sequences", "select count(distinct source_id) programs, count(*) sequences, "
                      "avg(len(program)) mean_program_chars from data"),
        ("distinct_paths", "select distinct_paths, count(*) programs from (select source_id, "
                           "any_value(distinct_paths) distinct_paths from data group by 1) group by 1 order by 1"),
    ),
    figures=figures,
    sample="""{{ kv(row, ["id", "source_id", "n_edits", "path_index"]) }}<h4>Edit sequence</h4>
{%- for e in row['edits'] %}<div class='edit'><div class='edit-n'>edit {{ loop.index }} of {{ row['edits'] | length }}</div>
{{- diff(e) }}</div>{% endfor %}""",
)
