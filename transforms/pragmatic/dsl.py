"""A small regex DSL in the spirit of StructuredRegex: a program concatenates 2-6 parts, each a
character class, a literal, an alternation, a counted repeat or an optional group.

Programs print as a DSL term and as a Python `re` pattern (matched with `fullmatch`). Samplers
for programs, positive strings (generated from the program) and negative strings are seeded.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

DEFAULT_ALPHABET = "abcde0123"
MAX_LEN = 15


@dataclass(frozen=True)
class Part:
    kind: str  # class | lit | or | rep | opt
    chars: str = ""  # class: its characters; lit: the literal
    options: tuple[str, ...] = ()  # or: the alternatives
    inner: Part | None = None  # rep / opt: the repeated or optional part
    n: int = 0
    m: int = 0

    def dsl(self) -> str:
        if self.kind == "class":
            return f"class({self.chars})"
        if self.kind == "lit":
            return f"lit({self.chars})"
        if self.kind == "or":
            return f"or({','.join(self.options)})"
        if self.kind == "rep":
            return f"rep({self.inner.dsl()},{self.n},{self.m})"
        return f"opt({self.inner.dsl()})"

    def regex(self) -> str:
        if self.kind == "class":
            return "[" + "".join(re.escape(c) for c in self.chars) + "]"
        if self.kind == "lit":
            return re.escape(self.chars) if len(self.chars) == 1 else f"(?:{re.escape(self.chars)})"
        if self.kind == "or":
            return "(?:" + "|".join(re.escape(o) for o in self.options) + ")"
        if self.kind == "rep":
            return f"{self.inner.regex()}{{{self.n},{self.m}}}"
        return f"{self.inner.regex()}?"

    def generate(self, rng: random.Random) -> str:
        if self.kind == "class":
            return rng.choice(self.chars)
        if self.kind == "lit":
            return self.chars
        if self.kind == "or":
            return rng.choice(self.options)
        if self.kind == "rep":
            return "".join(self.inner.generate(rng) for _ in range(rng.randint(self.n, self.m)))
        return self.inner.generate(rng) if rng.random() < 0.5 else ""


@dataclass(frozen=True)
class Program:
    parts: tuple[Part, ...]

    def dsl(self) -> str:
        return "concat(" + ", ".join(p.dsl() for p in self.parts) + ")"

    def regex(self) -> str:
        return "".join(p.regex() for p in self.parts)

    def compiled(self) -> re.Pattern:
        return re.compile(self.regex())

    def generate(self, rng: random.Random) -> str | None:
        for _ in range(20):
            s = "".join(p.generate(rng) for p in self.parts)
            if len(s) <= MAX_LEN:
                return s
        return None


def _word(rng: random.Random, alphabet: str, lo: int = 1, hi: int = 3) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _atom(rng: random.Random, alphabet: str) -> Part:
    if rng.random() < 0.6:
        k = rng.randint(2, max(2, len(alphabet) // 2))
        return Part("class", chars="".join(sorted(rng.sample(alphabet, k))))
    return Part("lit", chars=_word(rng, alphabet, 1, 2))


def sample_part(rng: random.Random, alphabet: str) -> Part:
    kind = rng.choice(["class", "lit", "or", "rep", "rep", "opt"])
    if kind == "class":
        return Part("class", chars="".join(sorted(rng.sample(alphabet, rng.randint(2, max(2, len(alphabet) // 2))))))
    if kind == "lit":
        return Part("lit", chars=_word(rng, alphabet))
    if kind == "or":
        options = sorted({_word(rng, alphabet) for _ in range(rng.randint(2, 3))})
        return Part("or", options=tuple(options)) if len(options) > 1 else Part("lit", chars=options[0])
    if kind == "rep":
        n = rng.randint(0, 2)
        return Part("rep", inner=_atom(rng, alphabet), n=n, m=n + rng.randint(1, 3))
    return Part("opt", inner=_atom(rng, alphabet))


def sample_program(rng: random.Random, alphabet: str = DEFAULT_ALPHABET) -> Program:
    return Program(tuple(sample_part(rng, alphabet) for _ in range(rng.randint(2, 6))))


def mutate_program(program: Program, rng: random.Random, alphabet: str = DEFAULT_ALPHABET) -> Program:
    """A near miss: one part replaced, dropped or added (competitors close to the target)."""
    parts = list(program.parts)
    op = rng.randrange(3)
    if op == 0 or len(parts) <= 2:
        parts[rng.randrange(len(parts))] = sample_part(rng, alphabet)
    elif op == 1:
        del parts[rng.randrange(len(parts))]
    if op == 2 and len(parts) < 6:
        parts.insert(rng.randrange(len(parts) + 1), sample_part(rng, alphabet))
    return Program(tuple(parts))


def negative_strings(pattern: re.Pattern, positives: list[str], n: int, rng: random.Random,
                     alphabet: str = DEFAULT_ALPHABET, spend=None) -> list[str]:
    """Strings that do not match: random ones and one-edit perturbations of positives.
    `spend()` is called once per string tried (the caller's work count)."""
    out: dict[str, None] = {}
    tries = 0
    while len(out) < n and tries < n * 30:
        tries += 1
        if spend is not None:
            spend()
        if positives and rng.random() < 0.6:
            s = list(rng.choice(positives))
            op = rng.randrange(3)
            i = rng.randrange(len(s) + 1)
            if op == 0 or not s:
                s.insert(i, rng.choice(alphabet))
            elif op == 1:
                del s[min(i, len(s) - 1)]
            else:
                s[min(i, len(s) - 1)] = rng.choice(alphabet)
            cand = "".join(s)[:MAX_LEN]
        else:
            cand = _word(rng, alphabet, 0, 10)
        if not pattern.fullmatch(cand):
            out.setdefault(cand)
    return list(out)
