"""The `responses` kind: render a prompt template over each record, ask the model, keep what
the parser accepts. The simplest use of the LLM stage (and the smoke test of an endpoint)."""

from __future__ import annotations

from codekiln.schemas import content_id
from codekiln.transforms.llm.config import LLMConfig
from codekiln.transforms.llm.handler import AskLLM, LLMChoice, requests_for
from codekiln.transforms.llm.parse import PARSERS, parse_choice
from codekiln.transforms.llm.prompts import MissingField, PromptTemplate
from codekiln.transforms.llm.responses_params import ResponsesParams  # noqa: F401 - re-exported
from codekiln.transforms.stage import Reject, Stage


class RenderPrompts:
    """Stage function: record -> one LLMRequest per sample."""

    def __init__(self, template: PromptTemplate, llm: LLMConfig, samples: int):
        self.template, self.llm, self.samples = template, llm, samples

    def __call__(self, record: dict):
        try:
            messages = self.template.render(record)
        except MissingField as e:
            raise Reject("missing_field", f"template {self.template.name!r} needs field {e.args[0]!r}") from None
        yield from requests_for(self.llm, self.template, messages, self.samples, record["id"],
                                record.get("source"), record)


class ParseChoice:
    """Stage function: a model's choice -> a row, or a reject that keeps the raw text."""

    def __init__(self, parser: str):
        self.parser = parser

    def __call__(self, choice: LLMChoice):
        req = choice.request
        parsed = parse_choice(choice.text, choice.refusal, PARSERS[self.parser], choice.finish_reason)
        prompt = [{"role": m["role"], "content": m["content"]} for m in req.messages]
        # leading line breaks would merge with the chat template's `assistant\n` into one token, so
        # the prompt would not end on a token boundary; `response` keeps the raw text
        completion = [{"role": "assistant", "content": choice.text.lstrip("\r\n")}]
        yield {
            "id": content_id("responses", req.key, choice.index),
            "source_id": req.record.get("source_id", req.row_id),
            "template": req.template,
            "template_version": req.template_version,
            "prompt": prompt,
            "completion": completion,
            "messages": prompt + completion,
            "sample_index": req.sample_index,
            "choice_index": choice.index,
            "response": choice.text,
            "parsed": parsed,
            "finish_reason": choice.finish_reason,
            "model": choice.model,
            "prompt_tokens": choice.prompt_tokens,
            "completion_tokens": choice.completion_tokens,
        }


def build_responses(records, params: ResponsesParams, ctx):
    template = PromptTemplate.load(params.template)
    requests, r_render = records | Stage("render", RenderPrompts(template, ctx.llm, params.samples), ctx.progress_dir)
    choices, r_llm = requests | AskLLM(ctx.llm, ctx.llm_cache_dir, "llm", ctx.progress_dir)
    rows, r_parse = choices | Stage("parse", ParseChoice(params.parser), ctx.progress_dir)
    return rows, [r_render, r_llm, r_parse]
