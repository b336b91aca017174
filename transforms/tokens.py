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


def words_with_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words of `text` and each one's (start, end) in the normalised text (lengths kept when
    NFKC does not change them, which is the case for ordinary text and code)."""
    norm = normalise(text)
    toks, spans = [], []
    for m in WORD_RE.finditer(norm):
        toks.append(m.group())
        spans.append(m.span())
    return toks, spans


def code_tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Code tokens with identifiers abstracted (case kept: `True` is not an identifier)."""
    norm = unicodedata.normalize("NFKC", text)
    toks, spans = [], []
    for m in CODE_RE.finditer(norm):
        t = m.group()
        if (t[0].isalpha() or t[0] == "_") and t not in KEPT_NAMES:
            t = PLACEHOLDER
        toks.append(t)
        spans.append(m.span())
    return toks, spans


def shingles(toks: list[str], n: int) -> list[str]:
    """The distinct word n-grams of a token list, as strings (the whole list when shorter)."""
    if len(toks) < n:
        return [" ".join(toks)] if toks else []
    return sorted({" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)})
