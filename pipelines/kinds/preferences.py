"""`preferences`: PLUM chosen/rejected pairs (chosen passes, rejected fails) in TRL's format."""

from codekiln.pipelines.kinds.base import Kind, Recipe, by_model_id
from codekiln.pipelines.kinds.render import Figure, bars, hist, scatter
from codekiln.schemas.base import DatasetSchema
from codekiln.schemas.preferences import PREFERENCES, PREFERENCES_CONVERSATIONAL
from codekiln.transforms.preferences.core import PairParams


def schema_for(params: PairParams) -> DatasetSchema:
    return PREFERENCES_CONVERSATIONAL if params.format == "conversational" else PREFERENCES


def figures(q, manifest: dict) -> list[Figure]:
    verdicts = q("select rejected_verdict, count(*) n from data group by 1 order by 1")
    return [
        Figure("Pairs per problem", hist(q, "select count(*) x from data group by problem_id", x_title="pairs",
                                         y_title="problems", discrete=True)),
        Figure("Pass ratio: chosen vs rejected", scatter(
            q, "select id, chosen_pass_ratio chosen, rejected_pass_ratio rejected, rejected_verdict from data",
            "rejected:Q", "chosen:Q", color="rejected_verdict:N"),
            "Chosen completions pass every test; rejected ones fail some (at most 2,000 pairs shown)."),
        Figure("Why the rejected completion fails", bars(verdicts, "rejected_verdict:N", "n:Q", None, y_title="pairs")),
    ]


RECIPE = Recipe(
    trainer="DPO",
    intro=("Rows are in TRL's preference format (`prompt`, `chosen`, `rejected`; the other columns are "
           "ignored), plain strings or, with `format: conversational`, message lists (then the tokenizer "
           "needs a chat template). Both sides of a pair have the same layout and line endings, so only "
           "the code tells them apart. In the standard format each side continues the prompt; in the "
           "conversational one each is the assistant's whole program (signature and docstring "
           "included, as a chat model answers):"),
    code=by_model_id("DPO", "Qwen/Qwen2.5-0.5B-Instruct", "any causal LM"),
)

KIND = Kind(
    name="preferences",
    schema=PREFERENCES,
    schema_for=schema_for,
    params=PairParams,
    build="codekiln.transforms.preferences.beam:build_preferences",
    method='PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models" '
           "(chosen passes, rejected fails; TRL preference format)",
    reads_rows=True,
    text_fields=("prompt", "chosen", "rejected"),
    tags=("code", "preference", "dpo", "trl", "plum"),
    training=RECIPE,
    quality=(
        ("pairs_per_problem", "select min(n) min, avg(n) mean, max(n) max from "
                              "(select problem_id, count(*) n from data group by 1)"),
        ("rejected_verdicts", "select rejected_verdict, count(*) n from data group by 1 order by 1"),
        ("origins", "select chosen_origin, rejected_origin, count(*) n from data group by 1, 2 order by 1, 2"),
        ("chosen_not_reference", "select count(*) filter (where chosen_origin != 'reference') n, "
                                 "count(*) pairs from data"),
        ("trust", "select trust, count(*) n from data group by 1 order by 1"),
    ),
    figures=figures,
    sample="""{{ kv(row, ["id", "problem_id", "rejected_verdict"]) }}<h4>Prompt</h4>{{ code(row['prompt'] | text) }}
<div class='pair'><div><h4>chosen {{ badge(true, 'pass ratio ' ~ row['chosen_pass_ratio']) }}</h4>{{ code(row['chosen'] | text) }}</div>
<div><h4>rejected {{ badge(false, 'pass ratio ' ~ row['rejected_pass_ratio']) }}</h4>{{ code(row['rejected'] | text) }}</div></div>""",
)
