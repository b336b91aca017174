"""Normalised tokens, the one view of text that decontamination and near-dedup compare.

Text is NFKC-normalised and lowercased, and split into words (runs of letters, digits and
underscores); punctuation and layout are dropped, as NeMo Curator's task decontamination does,
so reformatting or re-indenting a copy does not hide it. `code_tokens` is the view for code:
every identifier that is not a keyword or builtin becomes one placeholder, so a copy with its
variables renamed still shares its n-grams with the original.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

WORD_RE = re.compile(r"\w+")
CODE_RE = re.compile(r"[^\W\d]\w*|\d+(?:\.\d+)?|\S")
PLACEHOLDER = "\x00v"  # cannot occur in a word token
KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {"self"}


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str) -> list[str]:
    return WORD_RE.findall(normalise(text))


def word_spans(text: str) -> list[tuple[int, int]]:
    """Each word's (start, end) in the normalised text (the same offsets as in `text` when NFKC
    and lowercasing keep its length, as they do for ordinary text and code); for reporting a
    match only, so the hot path never builds them."""
    return [m.span() for m in WORD_RE.finditer(normalise(text))]


def code_tokens(text: str) -> list[str]:
    """Code tokens with identifiers abstracted (case kept: `True` is not an identifier)."""
    return [PLACEHOLDER if (t[0].isalpha() or t[0] == "_") and t not in KEPT_NAMES else t
            for t in CODE_RE.findall(unicodedata.normalize("NFKC", text))]


def code_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in CODE_RE.finditer(unicodedata.normalize("NFKC", text))]


def shingles(toks: list[str], n: int) -> list[str]:
    """The distinct word n-grams of a token list, as strings (the whole list when shorter)."""
    if len(toks) < n:
        return [" ".join(toks)] if toks else []
    return sorted({" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)})
