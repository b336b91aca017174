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


_STATEMENTS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assert, ast.Import, ast.ImportFrom,
               ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.While, ast.If, ast.With, ast.Try, ast.Return)


def _is_code(tree: ast.Module) -> bool:
    """Prose sometimes parses as Python ("Yes, indeed" is a tuple of names): code outside fences
    is taken only when it has a statement, or is a literal (a list of test inputs)."""
    for n in tree.body:
        if isinstance(n, _STATEMENTS):
            return True
        if isinstance(n, ast.Expr) and isinstance(n.value, (ast.List, ast.Tuple, ast.Dict, ast.Set)):
            try:
                ast.literal_eval(n.value)
                return True
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    return False


def _tidy(block: str) -> str:
    return block.strip("\n") + "\n"  # one layout whichever way the code was found


def parse_fenced_python(text: str) -> str:
    """The last closed fenced Python block that parses; nothing else (for a response cut by
    max_tokens, where code outside closed fences may be a truncated program that parses)."""
    blocks = _FENCE.findall(text)
    for block in reversed(blocks):
        try:
            pyast.parse(block)
            return _tidy(block)
        except SyntaxError:
            continue
    raise Unparseable("unparseable_response",
                      "no fenced Python block" if not blocks else "no fenced block parses as Python")


def parse_python_block(text: str) -> str:
    """The last fenced Python block that parses (models often put a usage example first); else,
    as small models write it, code whose opening or closing fence is missing (cut by max_tokens,
    or a stray fence before prose). Only code that parses is taken, never prose."""
    try:
        return parse_fenced_python(text)
    except Unparseable:
        blocks = _FENCE.findall(text)
    # fences out of pairs: every stretch between fence lines, the last code first
    for block in reversed(_FENCE_LINE.split(text)):
        if not block.strip():
            continue
        try:
            tree = pyast.parse(block)
        except SyntaxError:
            continue
        if _is_code(tree):
            return _tidy(block)
    raise Unparseable("unparseable_response",
                      "no fenced Python block" if not blocks else "no fenced block parses as Python")


PARSERS = {"text": parse_text, "python_block": parse_python_block}


def parse_choice(text: str | None, refusal: str | None, parser, finish_reason: str | None = None) -> str:
    """What `parser` keeps of a model's choice; a refusal or unusable text is a `Reject` that keeps
    the raw response (the one way every method turns a choice into its input). A response cut
    at max_tokens gives code only from a closed fence: what follows the cut is not the model's."""
    from codekiln.transforms.stage import Reject

    if text is None or refusal:
        raise Reject("refusal", refusal or "the model returned no content")
    cut = finish_reason == "length"
    try:
        return (parse_fenced_python if cut and parser is parse_python_block else parser)(text)
    except Unparseable as e:
        if cut:
            raise Reject("truncated_response", f"cut at max_tokens and {e}; raw response: {text[:2000]}") from None
        raise Reject(e.reason, f"{e}; raw response: {text[:2000]}") from None
