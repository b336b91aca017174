"""Parsers for model responses: each transform names the one it needs.

A parser returns the usable part of a choice or raises `Unparseable`; the raw text is kept in
the reject row either way.
"""

from __future__ import annotations

import ast
import re

from codekiln.transforms import pyast

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


class Unparseable(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def parse_text(text: str) -> str:
    if not text.strip():
        raise Unparseable("unparseable_response", "the response is empty")
    return text


_FENCE_LINE = re.compile(r"```[^\n`]*(?:\n|$)")


def _is_code(tree: ast.Module) -> bool:
    """Prose rarely parses as Python; when it does it is a bare name or string, not code."""
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, (ast.Name, ast.Constant)))
               for n in tree.body)


def parse_python_block(text: str) -> str:
    """The last fenced Python block that parses (models often put a usage example first); else,
    as small models write it, code whose opening or closing fence is missing (cut by max_tokens,
    or a stray fence before prose). Only code that parses is taken, never prose."""
    blocks = _FENCE.findall(text)
    for block in reversed(blocks):
        try:
            pyast.parse(block)
            return block
        except SyntaxError:
            continue
    # fences out of pairs: every stretch between fence lines, the last code first
    for block in reversed(_FENCE_LINE.split(text)):
        if not block.strip():
            continue
        try:
            tree = pyast.parse(block)
        except SyntaxError:
            continue
        if _is_code(tree):
            return block.strip("\n") + "\n"
    raise Unparseable("unparseable_response",
                      "no fenced Python block" if not blocks else "no fenced block parses as Python")


PARSERS = {"text": parse_text, "python_block": parse_python_block}


def parse_choice(text: str | None, refusal: str | None, parser) -> str:
    """What `parser` keeps of a model's choice; a refusal or unusable text is a `Reject` that keeps
    the raw response (the one way every method turns a choice into its input)."""
    from codekiln.transforms.stage import Reject

    if text is None or refusal:
        raise Reject("refusal", refusal or "the model returned no content")
    try:
        return parser(text)
    except Unparseable as e:
        raise Reject(e.reason, f"{e}; raw response: {text[:2000]}") from None
