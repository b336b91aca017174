"""`responses`: a model's responses to a prompt template over each record (the LLM stage alone)."""

from codekiln.pipelines.kinds.base import Kind, Recipe, by_model_id
from codekiln.pipelines.kinds.render import Figure, bars, hist
from codekiln.schemas.responses import RESPONSES
from codekiln.transforms.llm.responses_params import ResponsesParams


def figures(q, manifest: dict) -> list[Figure]:
    reasons = q("select coalesce(finish_reason, 'none') finish_reason, count(*) n from data group by 1 order by 1")
    return [Figure("Finish reasons", bars(reasons, "finish_reason:N", "n:Q", None, y_title="responses")),
            Figure("Completion tokens", hist(q, "select completion_tokens x from data", x_title="tokens",
                                             y_title="responses"))]


RECIPE = Recipe(
    trainer="SFT",
    intro=("Rows are TRL conversational prompt/completion pairs: `prompt` is the list of messages that was "
           "sent, `completion` the model's reply as one assistant message (the loss falls on it only); "
           "`messages` is the whole conversation (`prompt + completion`) for chat trainers that take one "
           "list. The tokenizer needs a chat template (instruct models have one). For DPO on a model's "
           "own answers, let the `labels` kind ask the model (`params.llm_samples` with an `llm:` block): "
           "it judges every answer by execution, and `preferences` pairs them."),
    code=by_model_id("SFT", "Qwen/Qwen2.5-0.5B-Instruct", "any causal LM with a chat template"),
)

KIND = Kind(
    name="responses",
    schema=RESPONSES,
    params=ResponsesParams,
    build="codekiln.transforms.llm.responses:build_responses",
    method="Model responses to a prompt template over each record (OpenAI-compatible endpoint)",
    needs_llm=True,
    text_fields=("prompt", "completion"),
    tags=("synthetic", "llm-generated"),
    training=RECIPE,
    quality=(
        ("finish_reasons", "select finish_reason, count(*) n from data group by 1 order by 1"),
        ("tokens", "select sum(prompt_tokens) prompt_tokens, sum(completion_tokens) completion_tokens, "
                   "avg(completion_tokens) mean_completion_tokens from data"),
    ),
    figures=figures,
    sample="""{{ kv(row, ["id", "source_id", "model", "finish_reason", "completion_tokens"]) }}
<div class='pair'><div><h4>Messages</h4>{{ code(row['messages'] | text) }}</div>
<div><h4>Response</h4>{{ code(row['response']) }}</div></div>""",
)
