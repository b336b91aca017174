"""How a version feeds a trainer: its kind's TRL recipe rendered, and the sequences a trainer sees.

A recipe is Python source with three placeholders: `{load}` (the `load_dataset(...)` call: the Hub
repo on a card, a local dry-run folder in the README), `{name}` (for the output folder) and, for
KTO, the weights computed from the version's own label counts. The card, the README and the test
that runs every recipe with the real TRL trainers (tests/pipelines/test_trl_recipes.py) all render
the same text, so what a card shows is what was run.

The sequences (`sequences`) are what the trainer tokenises per row: prompt + completion,
prompt + chosen and prompt + rejected; the report counts their tokens.
"""

from __future__ import annotations

import bisect

from codekiln.pipelines.kinds.base import Recipe
from codekiln.transforms.lintseq.core import DIFF_TOKEN

CONTEXT_LENGTHS = (1024, 2048, 4096, 8192, 32768)  # 1024: TRL's default max_length
TRL_VERSION = "1.16"  # the TRL release the recipes are proven with (pyproject's `train` group)

# the ratio of weighted desirable to undesirable examples the KTO paper recommends is in [1, 4/3]
KTO_RATIO = 1.15


def kto_weights(desirable: int, undesirable: int) -> tuple[str, str, str]:
    """(the KTOConfig argument line, the sentence with the counts, the weighted side) for a split
    with these label counts: the minority side's weight puts the weighted ratio at 1.15."""
    if not desirable or not undesirable:
        side = "passing" if desirable else "failing"
        return ("desirable_weight=1.0,  # every row is " + side + ": KTO needs both kinds",
                f"this version has {desirable:,} passing and {undesirable:,} failing rows, so there is "
                "nothing to balance (and KTO learns little from one side alone).", "either")
    if desirable <= undesirable:
        w = round(KTO_RATIO * undesirable / desirable, 2)
        return (f"desirable_weight={w:.2f},  # {undesirable:,} failing / {desirable:,} passing rows x {KTO_RATIO}",
                f"this version has {desirable:,} passing and {undesirable:,} failing rows, so "
                f"`desirable_weight={w:.2f}`.", "passing")
    w = round(desirable / undesirable / KTO_RATIO, 2)
    return (f"undesirable_weight={w:.2f},  # {desirable:,} passing / {undesirable:,} failing rows / {KTO_RATIO}",
            f"this version has {desirable:,} passing and {undesirable:,} failing rows, so "
            f"`undesirable_weight={w:.2f}`.", "failing")


def diff_token(manifest: dict) -> str:
    """The diff token a LintSeq version was built with (its params, else the default)."""
    return (manifest["config"].get("params") or {}).get("diff_token") or DIFF_TOKEN


def card_load(repo_id: str, split: str, version: str) -> str:
    return f'load_dataset("{repo_id}", split="{split}", revision="{version}")'


def folder_load(folder: str, split: str) -> str:
    return f'load_dataset("{folder}", split="{split}")'


def render(recipe: Recipe, *, load: str, name: str, label_counts: tuple[int, int] | None = None,
           diff_token: str = DIFF_TOKEN) -> str:
    """The recipe as Markdown: the intro, the code block, the notes."""
    weights, counts, minority = kto_weights(*label_counts) if label_counts else ("", "", "")
    intro = (recipe.intro.replace("{kto_counts}", counts).replace("{kto_minority}", minority)
             .replace("{diff_token}", diff_token))
    code = (recipe.code.replace("{load}", load).replace("{name}", name).replace("{kto_weights}", weights)
            .replace("{diff_token}", diff_token))
    out = f"{intro}\n\n```python\n{code}```"
    if recipe.notes:
        out += f"\n\n{recipe.notes}"
    return out


def code_blocks(markdown: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    parts = markdown.split("```python\n")
    return [p.split("```", 1)[0] for p in parts[1:]]


# ---------------------------------------------------------------------------------------------
# what a trainer sees of a row


def flat(value) -> str:
    """A column value as the text a tokenizer gets: a string as is, a message list its contents."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content") or "") for m in value if isinstance(m, dict))
    return "" if value is None else str(value)


def sequence_columns(columns: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(label, columns joined) of the sequences a TRL trainer builds from rows with these columns."""
    cols = set(columns)
    if {"prompt", "chosen", "rejected"} <= cols:
        return [("prompt + chosen", ("prompt", "chosen")), ("prompt + rejected", ("prompt", "rejected"))]
    if {"prompt", "completion"} <= cols:
        return [("prompt + completion", ("prompt", "completion"))]
    if "messages" in cols:
        return [("messages", ("messages",))]
    if "text" in cols:
        return [("text", ("text",))]
    return []


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded (the message names it and why)."""


class TokenCounter:
    """Token counts under a named tokenizer (transformers' `AutoTokenizer`: a Hub id or a local
    folder; needs the `train` group), or the bytes / 4 estimate when none is named."""

    def __init__(self, name: str | None = None):
        self.name, self.tok = name, None
        if not name:
            return
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise TokenizerError("--tokenizer needs transformers: install the `train` group "
                                 "(bash .ci/setup --train)") from None
        try:
            self.tok = AutoTokenizer.from_pretrained(name)
        except Exception as e:  # noqa: BLE001 - any load failure is the user's to fix, named
            raise TokenizerError(f"cannot load tokenizer {name!r}: {str(e).strip().splitlines()[0][:300]}") from None
        self.family = self._family(name)

    @staticmethod
    def _family(name: str) -> str:
        """The model family the tokenizer belongs to (its config's `model_type`), when known."""
        try:
            from transformers import AutoConfig

            return AutoConfig.from_pretrained(name).model_type
        except Exception:  # noqa: BLE001 - a tokenizer without a model config: no family to name
            return ""

    @property
    def label(self) -> str:
        if self.tok is None:
            return "bytes / 4 (an estimate: no tokenizer named)"
        family = f"{self.family} tokenizer" if self.family else "tokenizer"
        return f"{family} {self.name} (vocabulary {len(self.tok):,})"

    def add_tokens(self, tokens: list[str]) -> None:
        """Tokens the recipe adds (LintSeq's diff token): counted as one each, as trained."""
        if self.tok is not None:
            self.tok.add_tokens(tokens)

    def count(self, values: list) -> int:
        """Tokens of one sequence as TRL builds it: the values of its columns joined, then the EOS
        token (message lists through the tokenizer's chat template when it has one)."""
        if self.tok is not None and all(isinstance(v, list) for v in values) and getattr(self.tok, "chat_template", None):
            ids = self.tok.apply_chat_template([m for v in values for m in v], tokenize=True)
            return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
        text = "".join(flat(v) for v in values)
        if self.tok is None:
            return -(-len(text.encode()) // 4)
        return len(self.tok(text)["input_ids"]) + 1


def length_stats(lengths: list[int]) -> dict:
    """min / median / p90 / p99 / max and how many exceed each of CONTEXT_LENGTHS."""
    xs = sorted(lengths)
    if not xs:
        return {}

    def q(p: float) -> int:
        return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]

    out = {"rows": len(xs), "min": xs[0], "median": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": xs[-1]}
    for n in CONTEXT_LENGTHS:
        out[f"over_{n // 1024}k"] = len(xs) - bisect.bisect_right(xs, n)
    return out


MAX_TOKENIZED_ROWS = 20_000  # with a real tokenizer, a deterministic sample past this


def token_lengths(q, columns: list[str], counter: TokenCounter) -> tuple[list[dict], list[dict], str]:
    """(a stats row per sequence, (sequence, tokens) rows for a histogram, a note on what was
    counted) over the version's `data` view, through the query function `q`."""
    seqs = sequence_columns(columns)
    if not seqs:
        return [], [], ""
    total = q("select count(*) n from data")[0]["n"]
    cols = sorted({c for _, cs in seqs for c in cs})
    select = ", ".join(f'"{c}"' for c in cols)
    sample = counter.tok is not None and total > MAX_TOKENIZED_ROWS
    sql = f"select {select} from data" + (f" order by hash(id) limit {MAX_TOKENIZED_ROWS}" if sample else "")
    rows = q(sql)
    stats, points = [], []
    for label, cs in seqs:
        lengths = [counter.count([r[c] for c in cs]) for r in rows]
        stats.append({"sequence": label, **length_stats(lengths)})
        points += [{"sequence": label, "tokens": n} for n in lengths]
    note = f"{counter.label}; " + (f"a sample of {len(rows):,} of {total:,} rows" if sample else f"all {total:,} rows")
    return stats, points, note
