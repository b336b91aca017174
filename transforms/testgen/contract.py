"""Input contracts: the domain a problem's inputs come from, inferred from its seed inputs, and
fresh inputs generated inside it.

A differential oracle calls a candidate correct when it agrees with the reference on generated
inputs; an input the problem never allows makes the reference do something arbitrary and a
correct candidate look wrong. So inputs are generated from a `Contract`: one spec per argument
position plus relations between arguments, inferred by general rules only (no per-problem cases):

- type structure per position: int/float/bool/str/list/tuple/set/dict/None, nested element specs
  (depth <= 3; deeper, or other literal types: only the values seen), a union when seeds mix
  types; fixed-length tuples of <= 3 items (or of mixed item types) are records, with relations
  between their items; arguments left out by some seeds (defaults) stay optional.
- ints: all seeds >= 2: >= 2 (0 and 1 are degenerate bases, moduli, sizes), >= 1: positive,
  >= 0: non-negative, else both signs; magnitude up to max|seed| * 1.5 + 2 (values that never
  leave [-1, 1] keep exactly the seen range). floats: the same signs (> 0 when every seed is),
  one decimal more than the seeds show (fewer exact coincidences: equal gaps, equal sums).
- lengths: non-empty unless a seed is empty, at most the longest seed + max(3, half of it);
  strings that are always one character stay characters.
- strings: the characters seen; a letter or digit class is opened to the whole class unless the
  seeds use few of its characters many times (a closed alphabet such as '01' or 'A'-'F');
  punctuation only as seen. Short operator-like strings ('+', '**', '//') are a vocabulary: only
  those seen. When every non-empty seed contains a digit the strings are templates ("format
  mode": '03-11-2000', '1/5', '15.3', '5 apples and 6 oranges'): digit runs vary, the rest is
  kept as in some seed; a field of one width >= 2 in every seed keeps it ('03', '2000'), others
  may have one digit more than seen; leading zeros and all-zero fields only if seen. Otherwise
  text: no leading/trailing space unless seen; brackets balanced when every seed is; up to two
  spaces in a row (a whitespace variation) unless the text is a list of 1-2 character symbols
  ('a b c', 'o| .|': single spaces, tokens of that size) or the docstring says the words are
  separated by a space (and does not ask to keep the spaces).
- sequences: sorted (ascending/descending) and distinct when every seed is (with enough
  evidence); otherwise no more repeated items than a seed has; items of one length (a matrix)
  and square when every seed is; int items that are always 0..n-1 or 1..n in some order stay a
  permutation; all even/odd/prime, one smallest value shared by every seed, and "some item is
  prime" when every seed has one and the problem speaks of primes.
- relations between positions (>= 2 seeds): value/length of one position <, <= or == (with a
  small offset; == needs 3 seeds unless both are lengths) the value/length of another.
- docstring phrases (only ever tightening, and only where every seed still fits): "positive
  integer/number", "non-negative", "non-empty [list|string|...]", "at least two", "lowercase"/
  "uppercase", "separated by a space", "closest"/"nearest" (no tie for the closest pair of
  numbers), "a <= name <= b" and "name > a"-style bounds on a parameter or its len. A prompt that
  is not code (MBPP) is read as the docstring.
- annotations: an element type for containers whose seeds are all empty.

A problem without seeds gets an empty contract: it admits nothing and `generate` returns [].
Generation mixes spec-aware mutations of seeds (and of earlier outputs) with fresh samples
(boundaries and random values): numbers nudged (+-1, x2, /2, sign, bounds); strings with
class-preserving substitutions, insertions of seen characters, deletions, doubled characters,
word and sentence moves, splices with other seeds, double spaces where allowed; template fields
changed digit by digit, nudged, taken from the same field of another seed or swapped; sequences
with items inserted, deleted, changed, swapped, duplicated, reversed, cut to 0-2 items; one
argument copied onto another of its type. Broken relations are repaired where an int or a length
can be adjusted; what `admits` refuses, what breaks the caps (|ints| <= 10**6, lengths <= 30,
depth <= 3) and what does not read back as the same literal are dropped, as are repeats. Every
choice comes from the given `random.Random` and no set is ever iterated unsorted, so the output
does not depend on PYTHONHASHSEED; attempts are capped at 40 * n + 200.
"""

from __future__ import annotations

import abc
import ast
import json
import math
import random
import re
import string
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from codekiln.transforms import pyast

MAX_LEN = 30
MAX_INT = 10**6
MAX_DEPTH = 3
MAX_DECIMALS = 6

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
CLOSERS = {v: k for k, v in BRACKETS.items()}


class _NoValue(Exception):
    """A spec that can give no value (nothing of that kind was seen)."""


def _key(v) -> str:
    """A canonical text of a value that tells 1, 1.0 and True apart and does not depend on the
    iteration order of sets (hence not on PYTHONHASHSEED)."""
    if isinstance(v, (set, frozenset)):
        return f"{type(v).__name__}{{{', '.join(sorted(_key(x) for x in v))}}}"
    if isinstance(v, list):
        return "[" + ", ".join(_key(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(_key(x) for x in v) + ",)"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)}: {_key(x)}" for k, x in v.items()) + "}"
    return f"{type(v).__name__}:{v!r}"


def _kind(v) -> str:
    if v is None:
        return "none"
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"),
                    (tuple, "tuple"), (dict, "dict"), (frozenset, "frozenset"), (set, "set")):
        if type(v) is t:
            return name
    return "other"


def _items(v) -> list:
    return sorted(v, key=_key) if isinstance(v, (set, frozenset)) else list(v)


def _round_trips(v) -> bool:
    try:
        return _key(pyast.literal_eval(repr(v))) == _key(v)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _capped(v, depth: int = 1) -> bool:
    """Within the generation caps: |ints| <= MAX_INT, lengths <= MAX_LEN, containers nested at
    most MAX_DEPTH deep (a list of lists of lists is 3 deep)."""
    if isinstance(v, bool) or v is None:
        return True
    if isinstance(v, (int, float)):
        return abs(v) <= MAX_INT
    if isinstance(v, str):
        return len(v) <= MAX_LEN
    if isinstance(v, (list, tuple, set, frozenset, dict)):
        if depth > MAX_DEPTH or len(v) > MAX_LEN:
            return False
        items = [x for kv in v.items() for x in kv] if isinstance(v, dict) else list(v)
        return all(_capped(x, depth + 1) for x in items)
    return True


# -- specs ------------------------------------------------------------------------------------


class _Gen:
    """Generation state: the rng and what the seeds hold for each spec (mutation material)."""

    def __init__(self, rng: random.Random, material: dict):
        self.rng = rng
        self.material = material
        self._chars: dict = {}
        self._words: dict = {}

    def seen(self, spec) -> list:
        return self.material.get(spec, [])

    def chars(self, spec) -> str:
        if spec not in self._chars:
            self._chars[spec] = "".join(self.seen(spec))
        return self._chars[spec]

    def words(self, spec) -> list[str]:
        if spec not in self._words:
            self._words[spec] = [w for s in self.seen(spec) for w in s.split(" ") if w]
        return self._words[spec]


class Spec(abc.ABC):
    """What one argument (or element) may be: every kind says what it admits, how it is
    recorded, and how a fresh value is drawn; mutation defaults to a fresh draw."""

    @abc.abstractmethod
    def admits(self, v) -> bool: ...

    @abc.abstractmethod
    def to_obj(self) -> dict: ...

    @abc.abstractmethod
    def sample(self, g: _Gen): ...

    def mutate(self, v, g: _Gen):
        return self.sample(g)


@dataclass(frozen=True)
class Never(Spec):
    """No value of this kind was seen (the elements of containers that are always empty)."""

    def admits(self, v) -> bool:
        return False

    def to_obj(self) -> dict:
        return {"type": "nothing"}

    def sample(self, g):
        raise _NoValue


@dataclass(frozen=True)
class Atom(Spec):
    kind: str  # "bool" | "none"

    def admits(self, v) -> bool:
        return _kind(v) == self.kind

    def to_obj(self) -> dict:
        return {"type": self.kind}

    def sample(self, g):
        return g.rng.choice([False, True]) if self.kind == "bool" else None

    def mutate(self, v, g):
        return (not v) if self.kind == "bool" else None


@dataclass(frozen=True)
class Choice(Spec):
    """Values beyond what inference models (too deep, or of other types): only those seen."""

    reprs: tuple[str, ...]

    def admits(self, v) -> bool:
        return _key(v) in {_key(pyast.literal_eval(r)) for r in self.reprs}

    def to_obj(self) -> dict:
        return {"type": "one_of", "values": list(self.reprs)}

    def sample(self, g):
        return pyast.literal_eval(g.rng.choice(self.reprs))


def _loguniform(rng: random.Random, lo: int, hi: int) -> int:
    """An int in [lo, hi], small magnitudes (near the bound closest to zero) more likely."""
    if lo >= 0:
        return min(hi, lo + int(math.expm1(rng.uniform(0, math.log1p(hi - lo)))))
    if hi <= 0:
        return max(lo, hi - int(math.expm1(rng.uniform(0, math.log1p(hi - lo)))))
    if rng.random() < 0.5:
        return _loguniform(rng, 0, hi)
    return _loguniform(rng, lo, -1)


@dataclass(frozen=True)
class Int(Spec):
    lo: int
    hi: int

    def admits(self, v) -> bool:
        return type(v) is int and self.lo <= v <= self.hi

    def to_obj(self) -> dict:
        return {"type": "int", "min": self.lo, "max": self.hi}

    def span(self) -> tuple[int, int]:
        return max(self.lo, -MAX_INT), min(self.hi, MAX_INT)

    def clamp(self, v: int) -> int:
        lo, hi = self.span()
        return max(lo, min(hi, v))

    def boundaries(self) -> list[int]:
        lo, hi = self.span()
        return sorted({b for b in (lo, lo + 1, hi, hi - 1, 0, 1, -1, 2) if lo <= b <= hi})

    def sample(self, g):
        r = g.rng.random()
        if r < 0.25:
            return g.rng.choice(self.boundaries())
        seen = [v for v in g.seen(self) if type(v) is int]
        if r < 0.4 and seen:
            return self.clamp(g.rng.choice(seen))
        lo, hi = self.span()
        if r < 0.7 and seen:  # around the seen values
            top = max(abs(v) for v in seen)
            return self.clamp(_loguniform(g.rng, max(lo, -top), min(hi, top)) if lo <= top else lo)
        return _loguniform(g.rng, lo, hi)

    def mutate(self, v, g):
        if type(v) is not int:
            return self.sample(g)
        rng = g.rng
        op = rng.randrange(9)
        w = [v + 1, v - 1, v * 2, v // 2, -v, v + rng.randint(-10, 10), v + rng.choice([-1, 1]) * rng.randint(2, 100),
             None, None][op]
        if w is None:
            return self.sample(g)
        return self.clamp(w)


def _decimals(x: float) -> int:
    text = repr(x)
    if "e" in text or "E" in text:
        return MAX_DECIMALS
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class Float(Spec):
    lo: float
    hi: float
    decimals: int = 1
    positive: bool = False  # > 0 (lo is then 0.0, excluded)

    def admits(self, v) -> bool:
        return (type(v) is float and math.isfinite(v) and self.lo <= v <= self.hi
                and (not self.positive or v > 0))

    def to_obj(self) -> dict:
        return {"type": "float", "min": self.lo, "max": self.hi, "decimals": self.decimals,
                "positive": self.positive}

    def span(self) -> tuple[float, float]:
        return max(self.lo, -MAX_INT), min(self.hi, MAX_INT)

    def fit(self, x: float) -> float:
        lo, hi = self.span()
        x = round(max(lo, min(hi, x)), self.decimals)
        x = max(lo, min(hi, x))
        if self.positive and x <= 0:
            x = min(hi, 10.0 ** -self.decimals)
        return float(x)

    def sample(self, g):
        rng = g.rng
        lo, hi = self.span()
        r = rng.random()
        if r < 0.2:
            return self.fit(rng.choice([lo, hi, 0.0, 1.0, -1.0, 0.5, 10.0 ** -self.decimals]))
        seen = [v for v in g.seen(self) if type(v) is float]
        if r < 0.35 and seen:
            return self.fit(rng.choice(seen))
        if r < 0.5:  # an integral value
            return self.fit(float(_loguniform(rng, math.ceil(lo), math.floor(hi)))) if math.ceil(lo) <= math.floor(hi) else self.fit(lo)
        if r < 0.8 and seen:
            top = max(abs(v) for v in seen)
            return self.fit(rng.uniform(max(lo, -top), min(hi, top)))
        return self.fit(rng.uniform(lo, hi))

    def mutate(self, v, g):
        if type(v) is not float:
            return self.sample(g)
        rng = g.rng
        step = 10.0 ** -self.decimals
        w = rng.choice([v + 1, v - 1, v + 0.5, v - 0.5, v * 2, v / 2, -v, v + step, v - step,
                        float(round(v)), None])
        return self.sample(g) if w is None else self.fit(w)


# -- strings --


def _classes(c: str) -> str:
    if c in LOWER:
        return LOWER
    if c in UPPER:
        return UPPER
    if c in DIGITS:
        return DIGITS
    return ""


def _balanced(s: str) -> bool:
    stack = []
    for c in s:
        if c in BRACKETS:
            stack.append(c)
        elif c in CLOSERS:
            if not stack or stack.pop() != CLOSERS[c]:
                return False
    return not stack


def _runs(s: str) -> list[str]:
    return re.findall(r"[0-9]+|[^0-9]+", s)


@dataclass(frozen=True)
class Str(Spec):
    min_len: int
    max_len: int
    chars: str  # every character allowed, sorted
    shapes: tuple = ()  # format mode: shapes; a part is literal text or (min, max) digits
    zero_runs: bool = True  # format mode: a digit run may be all zeros ('0', '00')
    lead_zeros: bool = True  # format mode: a digit run of 2+ may start with 0
    edge_space: bool = True  # free mode: a leading or trailing space is allowed
    space_run: int = 0  # free mode: most spaces in a row
    balanced: bool = False  # free mode: brackets are balanced
    symbols: int = 0  # free mode, > 0: space-separated symbols of at most this many characters ('a b c', 'o| .|')
    vocab: tuple[str, ...] = ()  # short operator-like strings ('+', '**'): only these

    def digits(self) -> str:
        return "".join(c for c in self.chars if c in DIGITS) or "0123456789"

    def admits(self, v) -> bool:
        if type(v) is not str or not self.min_len <= len(v) <= self.max_len:
            return False
        if any(c not in self.chars for c in v):
            return False
        if self.vocab:
            return v in self.vocab or v == ""
        if self.symbols and v and any(not 1 <= len(t) <= self.symbols for t in v.split(" ")):
            return False
        if self.shapes:
            return v == "" or self._shape_of(v) is not None
        if not self.edge_space and v != v.strip(" "):
            return False
        if " " * (self.space_run + 1) in v:
            return False
        return not self.balanced or _balanced(v)

    def _shape_of(self, v: str):
        runs = _runs(v)
        for shape in self.shapes:
            if len(shape) != len(runs):
                continue
            ok = True
            for part, run in zip(shape, runs, strict=True):
                if isinstance(part, str):
                    ok = part == run
                else:
                    ok = (run[0] in DIGITS and part[0] <= len(run) <= part[1]
                          and (self.zero_runs or run.strip("0") != "")
                          and (self.lead_zeros or len(run) == 1 or run[0] != "0"))
                if not ok:
                    break
            if ok:
                return shape
        return None

    def to_obj(self) -> dict:
        obj = {"type": "str", "min_len": self.min_len, "max_len": self.max_len, "chars": _describe_chars(self.chars)}
        if self.vocab:
            obj["one_of"] = list(self.vocab)
        elif self.shapes:
            obj["formats"] = ["".join(re.escape(p) if isinstance(p, str) else f"[0-9]{{{p[0]},{p[1]}}}" for p in shape)
                              for shape in self.shapes]
            obj["zero_runs"], obj["lead_zeros"] = self.zero_runs, self.lead_zeros
        else:
            obj["edge_space"], obj["space_run"], obj["balanced"] = self.edge_space, self.space_run, self.balanced
            if self.symbols:
                obj["symbols"] = self.symbols
        return obj

    # format mode

    def _digit_run(self, lo: int, hi: int, g: _Gen) -> str:
        """A digit run of lo..hi digits: mostly of a length seen in the seeds, sometimes a small
        number (small values are where numbers meet: equal, multiples, ...)."""
        rng = g.rng
        digits = self.digits()
        seen = [len(r) for x in g.seen(self) for r in _runs(x) if r[0] in DIGITS and lo <= len(r) <= hi]
        n = rng.choice(seen) if seen and rng.random() < 0.6 else rng.randint(lo, hi)
        r = rng.random()
        if r < 0.15:
            run = rng.choice(digits) * n
        elif r < 0.45 and len(digits) == 10:
            run = str(_loguniform(rng, 0, 10 ** n - 1))
            if len(run) < lo:
                run = run.zfill(lo)
        else:
            run = "".join(rng.choice(digits) for _ in range(n))
        return self._fix_run(run, g)

    def _fix_run(self, run: str, g: _Gen) -> str:
        nonzero = [d for d in self.digits() if d != "0"] or ["1"]
        if not self.lead_zeros and len(run) > 1 and run[0] == "0":
            run = g.rng.choice(nonzero) + run[1:]
        if not self.zero_runs and run.strip("0") == "":
            run = run[:-1] + g.rng.choice(nonzero)
        return run

    def _fill(self, shape, g: _Gen) -> str:
        return "".join(p if isinstance(p, str) else self._digit_run(p[0], p[1], g) for p in shape)

    def _mutate_format(self, v: str, g: _Gen) -> str:
        rng = g.rng
        shape = self._shape_of(v) if v else None
        if shape is None or rng.random() < 0.15:
            return self._fill(rng.choice(self.shapes), g)
        runs = _runs(v)
        slots = [i for i, p in enumerate(shape) if not isinstance(p, str)]
        if not slots:
            return self._fill(rng.choice(self.shapes), g)
        i = rng.choice(slots)
        lo, hi = shape[i]
        run = runs[i]
        op = rng.choice([0, 1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 9])
        if op == 0:  # one digit changed
            j = rng.randrange(len(run))
            run = run[:j] + rng.choice(self.digits()) + run[j + 1:]
        elif op == 1 and len(run) < hi:  # one digit more
            j = rng.randrange(len(run) + 1)
            run = run[:j] + rng.choice(self.digits()) + run[j:]
        elif op == 2 and len(run) > lo:  # one digit less
            j = rng.randrange(len(run))
            run = run[:j] + run[j + 1:]
        elif op == 3:  # a boundary-ish number
            run = rng.choice(["0", "1", "9" * len(run), "1" + "0" * (len(run) - 1), run[::-1]])
            run = "".join(c if c in self.digits() else rng.choice(self.digits()) for c in run)
            run = run[:hi] if len(run) >= lo else run + "1" * (lo - len(run))
        elif op == 4:  # every digit of the run anew
            run = self._digit_run(lo, hi, g)
        elif op == 5:  # the number nudged: +-1, +-a few
            width = len(run)
            value = int(run) + rng.choice([-1, 1, -2, 2, rng.randint(-20, 20)])
            if value >= 0:
                run = str(value)
                if run[0] != "0" and width > len(run) and (self.lead_zeros or run == "0"):
                    run = run.zfill(width)
                if not lo <= len(run) <= hi or any(c not in self.digits() for c in run):
                    run = runs[i]
        elif op == 6:  # the same field of another seed of this shape
            same = [x for x in g.seen(self) if x and self._shape_of(x) == shape]
            if same:
                run = _runs(rng.choice(same))[i]
        elif op == 7:  # a number from another field (of this string or another seed's)
            pool = [r for x in g.seen(self) + [v] for r in _runs(x) if r[0] in DIGITS and lo <= len(r) <= hi]
            if pool:
                run = rng.choice(pool)
        elif op == 9:  # the field's smallest or largest value over the seeds of this shape, +-1
            same = [_runs(x)[i] for x in g.seen(self) if x and self._shape_of(x) == shape]
            if same:
                edge = rng.choice([min(same, key=int), max(same, key=int)])
                value = int(edge) + rng.choice([-1, 0, 0, 1])
                text = str(value).zfill(len(edge)) if edge[0] == "0" else str(value)
                if value >= 0 and lo <= len(text) <= hi and all(c in self.digits() for c in text):
                    run = text
        else:  # every digit run anew
            return self._fill(shape, g)
        runs[i] = self._fix_run(run, g)
        if op == 8 or (len(slots) >= 2 and rng.random() < 0.1):  # two fields swapped
            a, b = rng.sample(slots, 2) if len(slots) >= 2 else (i, i)
            runs[a], runs[b] = runs[b], runs[a]
        return "".join(runs)

    # free mode

    def _pick_char(self, g: _Gen) -> str:
        pool = g.chars(self)
        if pool and g.rng.random() < 0.8:
            return g.rng.choice(pool)
        return g.rng.choice(self.chars)

    def _same_class(self, c: str, g: _Gen) -> str:
        cls = _classes(c)
        if cls:
            options = [x for x in self.chars if x in cls]
        elif c == " ":
            options = []
        else:  # punctuation: another one of the same sort (an opening bracket for an opening one)
            options = [x for x in self.chars if not _classes(x) and x != " "
                       and (x in BRACKETS) == (c in BRACKETS) and (x in CLOSERS) == (c in CLOSERS)]
        return g.rng.choice(options) if options else c

    def _tidy(self, s: str) -> str:
        if self.space_run >= 1:
            while " " * (self.space_run + 1) in s:
                s = s.replace(" " * (self.space_run + 1), " " * self.space_run)
        if not self.edge_space:
            s = s.strip(" ")
        top = min(self.max_len, MAX_LEN)
        if len(s) > top:
            cut = s.rfind(" ", 0, top + 1)
            s = s[:cut] if cut >= max(1, self.min_len) else s[:top]
            if not self.edge_space:
                s = s.strip(" ")
        return s

    def _mutate_free(self, v: str, g: _Gen) -> str:
        rng = g.rng
        s = v
        words = s.split(" ")
        spaced = " " in self.chars and " " in s.strip(" ")
        op = rng.randrange(17 if spaced else 10)
        n = len(s)
        if op == 0 and n:  # a character of the same class
            i = rng.randrange(n)
            s = s[:i] + self._same_class(s[i], g) + s[i + 1:]
        elif op == 1:  # a seen character inserted
            i = rng.randrange(n + 1)
            s = s[:i] + self._pick_char(g) + s[i:]
        elif op == 2 and n:
            i = rng.randrange(n)
            s = s[:i] + s[i + 1:]
        elif op == 3 and n:  # a character doubled
            i = rng.randrange(n)
            s = s[:i] + s[i] + s[i:]
        elif op == 4 and n >= 2:  # neighbours swapped
            i = rng.randrange(n - 1)
            s = s[:i] + s[i + 1] + s[i] + s[i + 2:]
        elif op == 5 and n:  # a letter in the other case
            i = rng.randrange(n)
            if s[i].swapcase() in self.chars:
                s = s[:i] + s[i].swapcase() + s[i + 1:]
        elif op == 6 and self.balanced:  # a bracket pair inserted
            opens = [c for c in self.chars if c in BRACKETS and BRACKETS[c] in self.chars]
            if opens:
                o = rng.choice(opens)
                i = rng.randrange(n + 1)
                j = rng.randrange(i, n + 1)
                s = s[:i] + o + s[i:j] + BRACKETS[o] + s[j:]
        elif op == 7 and g.seen(self):  # spliced with another seed
            other = rng.choice(g.seen(self))
            if spaced or (" " in self.chars and rng.random() < 0.5):
                s = s + " " + other if rng.random() < 0.5 else other + " " + s
            else:
                s = s[:rng.randint(0, n)] + other[rng.randint(0, len(other)):]
        elif op == 8:
            s = s[::-1]
        elif op == 9:  # a run of one character, or a single character
            c = rng.choice(s) if s and rng.random() < 0.7 else self._pick_char(g)
            s = c * rng.randint(1, 4)
        elif op == 10:  # words swapped
            i, j = rng.randrange(len(words)), rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
            s = " ".join(words)
        elif op == 11 and len(words) > 1:
            del words[rng.randrange(len(words))]
            s = " ".join(words)
        elif op == 12:  # a word doubled
            i = rng.randrange(len(words))
            words.insert(i, words[i])
            s = " ".join(words)
        elif op == 13 and g.words(self):  # a seen word inserted
            words.insert(rng.randrange(len(words) + 1), rng.choice(g.words(self)))
            s = " ".join(words)
        elif op == 14 and self.space_run >= 2:  # a double space
            spaces = [i for i, c in enumerate(s) if c == " "]
            if spaces:
                i = rng.choice(spaces)
                s = s[:i] + " " + s[i:]
        elif op == 15:
            s = " ".join(words[::-1])
        elif op == 16:  # sentences (ended by . ? !) of the seeds recombined
            pool = [x for t in g.seen(self) + [s] for x in re.split(r"(?<=[.?!])\s+", t) if x]
            if pool:
                s = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        return self._tidy(s)

    def sample(self, g):
        rng = g.rng
        if self.vocab:
            return "" if self.min_len == 0 and rng.random() < 0.1 else rng.choice(self.vocab)
        if self.shapes:
            if self.min_len == 0 and rng.random() < 0.1:
                return ""
            return self._fill(rng.choice(self.shapes), g)
        r = rng.random()
        if r < 0.1 and self.min_len == 0:
            return ""
        if r < 0.25:  # one character, or a run of one
            return self._tidy(self._pick_char(g) * rng.randint(max(1, self.min_len), max(1, min(self.max_len, 4))))
        words = g.words(self)
        if " " in self.chars and words and r < 0.6:
            k = rng.randint(1, 6)
            sep = [" "] * k
            if self.space_run >= 2:
                sep = [rng.choice([" ", " ", " ", "  "]) for _ in range(k)]
            s = "".join(rng.choice(words) + sep[i] for i in range(k))
            if not self.edge_space:
                s = s.strip(" ")
            return self._tidy(s)
        top = min(self.max_len, max(self.min_len, 10))
        n = rng.randint(self.min_len, top)
        return self._tidy("".join(self._pick_char(g) for _ in range(n)))

    def mutate(self, v, g):
        if type(v) is not str or self.vocab:
            return self.sample(g)
        if self.shapes:
            return self._mutate_format(v, g)
        return self._mutate_free(v, g)


def _describe_chars(chars: str) -> dict:
    """{"alnum": "a-z A-Z 0-9" for whole classes (else the characters), "other": the rest as they are}."""
    out = []
    for cls, name in ((LOWER, "a-z"), (UPPER, "A-Z"), (DIGITS, "0-9")):
        have = [c for c in cls if c in chars]
        if len(have) == len(cls):
            out.append(name)
        elif have:
            out.append("".join(have))
    return {"alnum": " ".join(out), "other": "".join(c for c in chars if not _classes(c))}


def _chars_from_description(d: dict) -> str:
    names = {"a-z": LOWER, "A-Z": UPPER, "0-9": DIGITS}
    out = set(d["other"])
    for piece in d["alnum"].split():
        out |= set(names.get(piece, piece))
    return "".join(sorted(out))


# -- containers --


def _flat(xs: list) -> list:
    """The leaves of a list of scalars or of a list of lists/tuples of scalars."""
    out = []
    for x in xs:
        out.extend(x if isinstance(x, (list, tuple)) else [x])
    return out


def _is_perm(xs: list, base: int) -> bool:
    leaves = _flat(xs)
    return all(type(v) is int for v in leaves) and sorted(leaves) == list(range(base, base + len(leaves)))


def _relabel(xs: list, base: int) -> list:
    """The int leaves replaced by their ranks (ties by position) from `base`: a permutation that
    keeps the leaves' order."""
    where = [(i, j) for i, x in enumerate(xs) for j in (range(len(x)) if isinstance(x, (list, tuple)) else [None])]
    leaves = _flat(xs)
    if not all(type(v) is int for v in leaves):
        return xs
    rank = {}
    for r, k in enumerate(sorted(range(len(leaves)), key=lambda k: (leaves[k], k))):
        rank[where[k]] = base + r
    return [type(x)(rank[(i, j)] for j in range(len(x))) if isinstance(x, (list, tuple)) else rank[(i, None)]
            for i, x in enumerate(xs)]


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


_PREDICATES = {"even": lambda x: x % 2 == 0, "odd": lambda x: x % 2 == 1, "prime": _is_prime}


def _prop_holds(prop: str, xs: list) -> bool:
    """A property of the int leaves (items, or items of items): "all even", "some prime",
    "min 1" (the smallest is 1); or of number items: "unique gap" (one closest pair)."""
    quantifier, name = prop.split(" ")
    if prop == "unique gap":  # one closest pair: the smallest gap between sorted items occurs once
        nums = sorted(xs) if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs) else None
        if nums is None:
            return False
        gaps = [b - a for a, b in zip(nums, nums[1:], strict=False)]
        return len(gaps) < 2 or sum(math.isclose(x, min(gaps), rel_tol=1e-9, abs_tol=1e-12) for x in gaps) == 1
    ints = _flat(xs)
    if not all(type(x) is int for x in ints):
        return False
    if quantifier == "min":
        return bool(ints) and min(ints) == int(name)
    test = _PREDICATES[name]
    return all(map(test, ints)) if quantifier == "all" else any(map(test, ints))


def _infer_props(lists: list[list], words: frozenset = frozenset()) -> tuple[str, ...]:
    """Properties of the int leaves holding in every non-empty seed: all even/odd/prime (>= 4
    leaves in >= 2 seeds), or, failing that, at least one prime (>= 3 seeds, and the problem
    speaks of primes: `words` are the words of its text); one smallest value shared by every
    seed (>= 3 seeds of >= 2 leaves, of more than one length)."""
    full = [xs for xs in lists if xs]
    if not full or not all(type(x) is int for xs in full for x in _flat(xs)):
        return ()
    out = []
    if len(full) >= 2 and sum(len(_flat(xs)) for xs in full) >= 4:
        out = [f"all {name}" for name in ("even", "odd", "prime") if all(_prop_holds(f"all {name}", xs) for xs in full)]
    if not out and len(full) >= 3 and "prime" in words and all(_prop_holds("some prime", xs) for xs in full):
        out = ["some prime"]
    mins = {min(_flat(xs)) for xs in full if _flat(xs)}
    if (len(full) >= 3 and len(mins) == 1 and all(len(_flat(xs)) >= 2 for xs in full)
            and len({len(_flat(xs)) for xs in full}) > 1):
        out.append(f"min {mins.pop()}")
    return tuple(out)


def _with_min(xs: list, m: int) -> list:
    """The leaves moved so that the smallest is `m`: those below it raised to it, else the
    smallest lowered to it."""
    leaves = _flat(xs)
    if not leaves or not all(type(v) is int for v in leaves) or min(leaves) == m:
        return xs
    low = min(leaves)

    def fix(v):
        return m if v < m or (low > m and v == low) else v
    return [type(x)(fix(v) for v in x) if isinstance(x, (list, tuple)) else fix(x) for x in xs]


def _sorted_as(xs: list, order: str) -> bool:
    try:
        if order == "asc":
            return all(a <= b for a, b in zip(xs, xs[1:], strict=False))
        return all(a >= b for a, b in zip(xs, xs[1:], strict=False))
    except TypeError:
        return False


def _size(v):
    return len(v) if isinstance(v, (str, list, tuple, dict, set, frozenset)) else None


@dataclass(frozen=True)
class Seq(Spec):
    kind: str  # list | tuple | set | frozenset
    elem: Spec
    min_len: int
    max_len: int
    order: str = ""  # "asc" | "desc": every seed is sorted that way
    distinct: bool = False
    same_len: bool = False  # every item has the same length (a matrix)
    square: bool = False  # ... equal to the number of items
    props: tuple[str, ...] = ()  # "all even|odd|prime", "some prime", "min <m>", "unique gap" (non-empty)
    max_repeats: int = -1  # items equal to an earlier one: at most this many (-1: any number)
    perm: int = -1  # >= 0: the int leaves (items, or items of items) are perm, perm+1, ... in some order

    def admits(self, v) -> bool:
        if _kind(v) != self.kind or not self.min_len <= len(v) <= self.max_len:
            return False
        xs = _items(v)
        if not all(self.elem.admits(x) for x in xs):
            return False
        if xs and not all(_prop_holds(p, xs) for p in self.props):
            return False
        if self.perm >= 0 and not _is_perm(xs, self.perm):
            return False
        if self.order and not _sorted_as(xs, self.order):
            return False
        if (self.distinct or self.max_repeats >= 0) and \
                len(xs) - len({_key(x) for x in xs}) > (0 if self.distinct else self.max_repeats):
            return False
        if self.same_len and xs:
            sizes = {_size(x) for x in xs}
            if len(sizes) != 1 or (self.square and sizes != {len(xs)}):
                return False
        return True

    def to_obj(self) -> dict:
        obj = {"type": self.kind, "items": self.elem.to_obj(), "min_len": self.min_len, "max_len": self.max_len}
        for name in ("order", "distinct", "same_len", "square"):
            if getattr(self, name):
                obj[name] = getattr(self, name)
        if self.props:
            obj["props"] = list(self.props)
        if self.max_repeats > 0:
            obj["max_repeats"] = self.max_repeats
        if self.perm >= 0:
            obj["perm"] = self.perm
        return obj

    def _finish(self, xs: list, g: _Gen):
        for prop in self.props:
            if prop.startswith("min ") and xs:
                xs = _with_min(xs, int(prop[4:]))
            if prop in ("all even", "all odd"):  # nudged to the parity every seed has
                want = 0 if prop == "all even" else 1
                xs = [x if type(x) is not int or x % 2 == want
                      else (x + 1 if self.elem.admits(x + 1) else x - 1) for x in xs]
        if self.distinct or self.max_repeats >= 0 or self.kind in ("set", "frozenset"):
            allowed = self.max_repeats if self.max_repeats > 0 and not self.distinct else 0
            out, keys = [], set()
            for x in xs:
                if _key(x) not in keys or allowed > 0:
                    allowed -= _key(x) in keys
                    keys.add(_key(x))
                    out.append(x)
            xs = out
        xs = xs[:min(self.max_len, MAX_LEN)]
        if self.same_len and xs:
            n = len(xs) if self.square else _size(xs[0])
            xs = [_resize(self.elem, x, n, g) for x in xs]
        if self.perm >= 0:
            xs = _relabel(xs, self.perm)
        if self.order:
            xs = sorted(xs, reverse=self.order == "desc")
        if self.kind == "list":
            return xs
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[self.kind](xs)

    def _length(self, g: _Gen) -> int:
        rng = g.rng
        if isinstance(self.elem, Never):
            return 0
        lo, hi = self.min_len, min(self.max_len, MAX_LEN)
        if rng.random() < 0.3:
            return rng.choice([n for n in (lo, lo + 1, hi) if lo <= n <= hi] or [lo])
        return rng.randint(lo, max(lo, min(hi, 8)))

    def sample(self, g):
        rng = g.rng
        n = self._length(g)
        xs = []
        for _ in range(n):
            if xs and not self.distinct and rng.random() < 0.15:
                xs.append(rng.choice(xs))
            else:
                xs.append(self.elem.sample(g))
        return self._finish(xs, g)

    def mutate(self, v, g):
        if _kind(v) != self.kind:
            return self.sample(g)
        rng = g.rng
        xs = _items(v)
        n = len(xs)
        can_grow = not isinstance(self.elem, Never)
        op = rng.randrange(11)
        if op == 0 and can_grow:  # an element inserted: like an existing one, or fresh
            x = self.elem.mutate(rng.choice(xs), g) if xs and rng.random() < 0.6 else self.elem.sample(g)
            xs.insert(rng.randint(0, n), x)
        elif op == 1 and n:
            del xs[rng.randrange(n)]
        elif op in (2, 3) and n:  # an element changed
            i = rng.randrange(n)
            xs[i] = self.elem.mutate(xs[i], g)
        elif op == 4 and n >= 2:
            i, j = rng.randrange(n), rng.randrange(n)
            xs[i], xs[j] = xs[j], xs[i]
        elif op == 5:
            xs.reverse()
        elif op == 6 and n:  # a duplicate
            xs.insert(rng.randint(0, n), rng.choice(xs))
        elif op == 7 and n:  # an element replaced by another seen one
            seen = g.seen(self.elem)
            if seen:
                xs[rng.randrange(n)] = rng.choice(seen)
        elif op == 8 and n:  # a boundary length
            xs = xs[:rng.choice([0, 1, 2])] if rng.random() < 0.7 else xs * 2
        elif op == 9 and g.seen(self):  # spliced with another seed
            other = _items(rng.choice(g.seen(self)))
            xs = xs[:rng.randint(0, n)] + other[rng.randint(0, len(other)):]
        else:
            rng.shuffle(xs)
        return self._finish(xs, g)


def _resize(spec: Spec, v, n: int, g: _Gen):
    """`v` cut or grown to length `n` (strings and sequences; anything else unchanged)."""
    if isinstance(spec, Union):
        spec = next((o for o in spec.options if o.admits(v)), spec)
    if isinstance(v, str) and isinstance(spec, Str):
        if len(v) >= n:
            return v[:n]
        extra = "".join((g.rng.choice(spec.digits()) if spec.shapes else spec._pick_char(g)) for _ in range(n - len(v)))
        return v + extra
    if isinstance(v, (list, tuple)) and isinstance(spec, Seq):
        xs = list(v)[:n]
        while len(xs) < n:
            xs.append(spec.elem.mutate(g.rng.choice(xs), g) if xs and g.rng.random() < 0.5 else spec.elem.sample(g))
        return type(v)(xs) if isinstance(v, tuple) else xs
    return v


@dataclass(frozen=True)
class Record(Spec):
    """A fixed-length tuple: a spec per item, relations between items."""

    items: tuple[Spec, ...]
    relations: tuple = ()

    def admits(self, v) -> bool:
        return (type(v) is tuple and len(v) == len(self.items)
                and all(s.admits(x) for s, x in zip(self.items, v, strict=True))
                and all(r.holds(v) for r in self.relations))

    def to_obj(self) -> dict:
        return {"type": "tuple_of", "items": [s.to_obj() for s in self.items],
                "relations": [r.to_obj() | {"text": r.text(prefix="item")} for r in self.relations]}

    def sample(self, g):
        return _repair(tuple(s.sample(g) for s in self.items), self.items, self.relations, g)

    def mutate(self, v, g):
        if type(v) is not tuple or len(v) != len(self.items):
            return self.sample(g)
        xs = list(v)
        i = g.rng.randrange(len(xs))
        xs[i] = self.items[i].mutate(xs[i], g)
        return _repair(tuple(xs), self.items, self.relations, g)


@dataclass(frozen=True)
class Dict(Spec):
    key: Spec
    value: Spec
    min_len: int
    max_len: int

    def admits(self, v) -> bool:
        return (type(v) is dict and self.min_len <= len(v) <= self.max_len
                and all(self.key.admits(k) and self.value.admits(x) for k, x in v.items()))

    def to_obj(self) -> dict:
        return {"type": "dict", "keys": self.key.to_obj(), "values": self.value.to_obj(),
                "min_len": self.min_len, "max_len": self.max_len}

    def sample(self, g):
        if isinstance(self.key, Never):
            return {}
        n = g.rng.randint(self.min_len, max(self.min_len, min(self.max_len, 6)))
        d = {}
        for _ in range(n * 2):
            if len(d) >= n:
                break
            k = self.key.sample(g)
            try:
                d[k] = self.value.sample(g)
            except TypeError:
                continue
        return d

    def mutate(self, v, g):
        if type(v) is not dict:
            return self.sample(g)
        rng = g.rng
        d = dict(v)
        keys = list(d)
        op = rng.randrange(5)
        try:
            if op == 0 and keys:
                k = rng.choice(keys)
                d[k] = self.value.mutate(d[k], g)
            elif op == 1 and keys:
                del d[rng.choice(keys)]
            elif op == 2 and not isinstance(self.key, Never):
                k = self.key.mutate(rng.choice(keys), g) if keys and rng.random() < 0.6 else self.key.sample(g)
                d[k] = self.value.mutate(d[rng.choice(keys)], g) if keys else self.value.sample(g)
            elif op == 3 and keys:  # a key renamed
                k = rng.choice(keys)
                new = self.key.mutate(k, g)
                d = {(new if x == k else x): y for x, y in d.items()}
            else:
                return self.sample(g)
        except TypeError:
            return v
        return d


@dataclass(frozen=True)
class Union(Spec):
    options: tuple[Spec, ...]

    def admits(self, v) -> bool:
        return any(o.admits(v) for o in self.options)

    def to_obj(self) -> dict:
        return {"type": "any_of", "options": [o.to_obj() for o in self.options]}

    def sample(self, g):
        return g.rng.choice(self.options).sample(g)

    def mutate(self, v, g):
        own = [o for o in self.options if o.admits(v)]
        if not own or g.rng.random() < 0.15:
            return self.sample(g)
        return own[0].mutate(v, g)


# -- relations --------------------------------------------------------------------------------


def _measure(v, how: str):
    if how == "len":
        return _size(v)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class Relation:
    """measure(arg a) op measure(arg b) [+ offset]; a measure is an argument's value or its len."""

    op: str  # "lt" | "le" | "eq"
    a: int
    a_measure: str  # "value" | "len"
    b: int
    b_measure: str
    offset: int = 0  # eq: m(a) == m(b) + offset

    def holds(self, args: tuple) -> bool:
        if max(self.a, self.b) >= len(args):
            return True  # an argument left out (a shorter arity)
        x, y = _measure(args[self.a], self.a_measure), _measure(args[self.b], self.b_measure)
        if x is None or y is None:
            return False
        if self.op == "lt":
            return x < y
        if self.op == "le":
            return x <= y
        return x == y + self.offset

    def text(self, names=(), prefix: str = "arg") -> str:
        def side(i, m):
            name = names[i] if i < len(names) else f"{prefix}{i}"
            return f"len({name})" if m == "len" else name
        op = {"lt": "<", "le": "<=", "eq": "=="}[self.op]
        tail = f" {'+' if self.offset > 0 else '-'} {abs(self.offset)}" if self.offset else ""
        return f"{side(self.a, self.a_measure)} {op} {side(self.b, self.b_measure)}{tail}"

    def to_obj(self) -> dict:
        return {"op": self.op, "a": [self.a, self.a_measure], "b": [self.b, self.b_measure],
                "offset": self.offset, "text": self.text()}


def _measures(spec: Spec) -> list[str]:
    options = spec.options if isinstance(spec, Union) else (spec,)
    out = []
    if all(isinstance(o, (Int, Float)) for o in options):
        out.append("value")
    if all(isinstance(o, (Str, Seq, Dict)) for o in options):
        out.append("len")
    return out


def _infer_relations(rows: list[tuple], specs: list[Spec]) -> tuple[Relation, ...]:
    out = []
    n = len(specs)
    for i in range(n):
        for j in range(i + 1, n):
            for mi in _measures(specs[i]):
                for mj in _measures(specs[j]):
                    pairs = [(_measure(r[i], mi), _measure(r[j], mj)) for r in rows if len(r) > max(i, j)]
                    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                    if len(pairs) < 2:
                        continue
                    diffs = {x - y for x, y in pairs}
                    if (len(diffs) == 1 and all(isinstance(x, int) and isinstance(y, int) for x, y in pairs)
                            and abs(next(iter(diffs))) <= 3 and (len(pairs) >= 3 or mi == mj == "len")):
                        out.append(Relation("eq", i, mi, j, mj, int(next(iter(diffs)))))
                    elif all(x < y for x, y in pairs):
                        out.append(Relation("lt", i, mi, j, mj))
                    elif all(x <= y for x, y in pairs):
                        out.append(Relation("le", i, mi, j, mj))
                    elif all(y < x for x, y in pairs):
                        out.append(Relation("lt", j, mj, i, mi))
                    elif all(y <= x for x, y in pairs):
                        out.append(Relation("le", j, mj, i, mi))
    return tuple(out)


def _numeric_option(spec: Spec, v):
    options = spec.options if isinstance(spec, Union) else (spec,)
    for o in options:
        if isinstance(o, (Int, Float)) and o.admits(v):
            return o
    return next((o for o in options if isinstance(o, (Int, Float))), None)


def _adjust(rel: Relation, args: list, specs, g: _Gen) -> bool:
    """Change one side of a broken relation so that it holds (an int/float value, or a length)."""
    sides = [("b", rel.b, rel.b_measure), ("a", rel.a, rel.a_measure)]
    g.rng.shuffle(sides)
    for which, pos, measure in sides:
        other = (rel.a, rel.a_measure) if which == "b" else (rel.b, rel.b_measure)
        y = _measure(args[other[0]], other[1])
        if y is None:
            continue
        # the interval this side must fall in
        if rel.op == "eq":
            lo = hi = (y + rel.offset) if which == "a" else (y - rel.offset)
        elif which == "a":
            lo, hi = -math.inf, (y - 1 if rel.op == "lt" else y)
        else:
            lo, hi = (y + 1 if rel.op == "lt" else y), math.inf
        spec = specs[pos]
        if measure == "value":
            opt = _numeric_option(spec, args[pos])
            if opt is None:
                continue
            slo, shi = opt.span()
            lo, hi = max(lo, slo), min(hi, shi)
            if lo > hi:
                continue
            if isinstance(opt, Int):
                lo, hi = math.ceil(lo), math.floor(hi)
                if lo > hi:
                    continue
                args[pos] = g.rng.choice([lo, hi]) if g.rng.random() < 0.3 else g.rng.randint(lo, hi)
            else:
                args[pos] = opt.fit(g.rng.uniform(lo, hi))
            return True
        if measure == "len" and isinstance(args[pos], (str, list, tuple)):
            opt = spec
            if isinstance(spec, Union):
                opt = next((o for o in spec.options if o.admits(args[pos])), None)
            if not isinstance(opt, (Str, Seq)):
                continue
            lo, hi = max(lo, opt.min_len), min(hi, opt.max_len, MAX_LEN)
            if lo > hi:
                continue
            target = g.rng.randint(int(lo), int(hi))
            args[pos] = _resize(spec, args[pos], target, g)
            return True
    return False


def _repair(args: tuple, specs, relations, g: _Gen) -> tuple:
    xs = list(args)
    for _ in range(3):
        broken = [r for r in relations if not r.holds(tuple(xs))]
        if not broken:
            break
        for r in broken:
            if not r.holds(tuple(xs)):
                _adjust(r, xs, specs, g)
    return tuple(xs)


# -- inference --------------------------------------------------------------------------------


def _grow(m: float) -> float:
    return m * 1.5 + 2


def _int_spec(vs: list[int]) -> Int:
    lo, hi = min(vs), max(vs)
    m = max(abs(lo), abs(hi))
    if m <= 1:
        return Int(lo, hi)
    g = int(_grow(m))
    new_lo = 2 if lo >= 2 else 1 if lo >= 1 else 0 if lo >= 0 else -g
    new_hi = g if hi > 0 else hi
    return Int(min(lo, new_lo), max(hi, new_hi))


def _float_spec(vs: list[float]) -> Float:
    finite = [v for v in vs if math.isfinite(v)] or [0.0]
    lo, hi = min(finite), max(finite)
    m = max(abs(lo), abs(hi))
    # one decimal more than the seeds show: values as fine as theirs and finer, and fewer exact
    # coincidences (equal gaps, equal sums) than a coarse grid gives
    d = max(1, min(MAX_DECIMALS, max(_decimals(v) for v in finite) + 1))
    g = round(_grow(m), d)
    positive = lo > 0
    new_lo = 0.0 if lo >= 0 else -g
    new_hi = g if hi > 0 else hi
    return Float(min(lo, new_lo), max(hi, new_hi), d, positive)


def _closed(have: set, count: int, cls: str) -> bool:
    """A class whose few characters are used many times keeps just those (e.g. '01', 'A'-'F')."""
    small = 2 if cls == DIGITS else 6
    return len(have) <= small and count >= 4 * len(have) and len(have) < len(cls)


def _str_spec(vs: list[str]) -> Str:
    lens = [len(s) for s in vs]
    mx = max(lens)
    min_len = 0 if 0 in lens else 1
    max_len = 1 if all(n == 1 for n in lens) else max(mx, min(MAX_LEN, mx + max(3, mx // 2)))
    text = "".join(vs)
    if not text:
        return Str(0, 0, "")
    chars = set(text)
    for cls in (LOWER, UPPER, DIGITS):
        have = {c for c in chars if c in cls}
        if have and not _closed(have, sum(1 for c in text if c in cls), cls):
            chars |= set(cls)
    chars_s = "".join(sorted(chars))
    nonempty = [s for s in vs if s]
    if all(len(s) <= 3 and not any(c.isalnum() or c.isspace() or c in BRACKETS or c in CLOSERS for c in s)
           for s in nonempty):
        # operator-like tokens ('+', '**', '//'): a vocabulary, not text
        return Str(min_len, max(len(s) for s in nonempty), chars_s, vocab=tuple(sorted(set(nonempty))))
    if all(any(c in DIGITS for c in s) for s in nonempty):
        return _format_spec(vs, min_len, max_len, chars_s)
    space_run = max((len(r) for s in vs for r in re.findall(r" +", s)), default=0)
    tokens = [w for s in vs for w in s.split(" ") if w]
    longest = max((len(w) for w in tokens), default=0)
    symbols = longest if space_run == 1 and longest <= 2 and all(w for s in vs if s for w in s.split(" ")) else 0
    if space_run and not symbols:  # text, not a list of symbols: a whitespace variation
        space_run = max(space_run, 2)
    edge = any(s != s.strip(" ") for s in vs)
    balanced = any(c in BRACKETS or c in CLOSERS for c in text) and all(_balanced(s) for s in vs)
    return Str(min_len, max_len, chars_s, edge_space=edge, space_run=space_run, balanced=balanced, symbols=symbols)


def _format_spec(vs: list[str], min_len: int, max_len: int, chars: str) -> Str:
    shapes: dict[tuple, list[list[int]]] = {}
    counts: dict[tuple, int] = {}
    zero_runs = lead_zeros = False
    for s in vs:
        if not s:
            continue
        runs = _runs(s)
        skeleton = tuple(r if r[0] not in DIGITS else "#" for r in runs)
        lens = [len(r) for r in runs if r[0] in DIGITS]
        for r in runs:
            if r[0] in DIGITS:
                zero_runs |= r.strip("0") == ""
                lead_zeros |= len(r) > 1 and r[0] == "0"
        digit_runs = [r for r in runs if r[0] in DIGITS]
        bounds = shapes.setdefault(skeleton, [[n, n, False] for n in lens])
        counts[skeleton] = counts.get(skeleton, 0) + 1
        for b, n, r in zip(bounds, lens, digit_runs, strict=True):
            b[0], b[1], b[2] = min(b[0], n), max(b[1], n), b[2] or (n > 1 and r[0] == "0")
    out = []
    for skeleton in sorted(shapes):
        bounds = iter(shapes[skeleton])
        parts = []
        for p in skeleton:
            if p == "#":
                lo, hi, padded = next(bounds)
                # a fixed-width field: one width >= 2, zero-padded ('03') or in 4+ seeds ('2000')
                fixed = lo == hi >= 2 and (padded and counts[skeleton] >= 2 or counts[skeleton] >= 4)
                parts.append((lo, hi) if fixed else (1, min(MAX_LEN, hi + 1)))
            else:
                parts.append(p)
        out.append(tuple(parts))
    longest = max((sum(len(p) if isinstance(p, str) else p[1] for p in shape) for shape in out), default=0)
    return Str(min_len, max(max_len, min(MAX_LEN, longest)), chars, tuple(out), zero_runs, lead_zeros)


def _seq_spec(kind: str, vs: list, depth: int, words: frozenset) -> Seq:
    lists = [_items(v) for v in vs]
    elems = [x for xs in lists for x in xs]
    elem = _infer(elems, depth + 1, words) if elems else Never()
    lens = [len(xs) for xs in lists]
    mx = max(lens)
    min_len = 0 if 0 in lens else 1
    max_len = max(mx, min(MAX_LEN, mx + max(3, mx // 2)))
    multi = [xs for xs in lists if len(xs) >= 2]
    evidence = bool(multi) and (max(len(xs) for xs in multi) >= 3 or len(multi) >= 2)
    order = ""
    if evidence and kind in ("list", "tuple"):
        asc = all(_sorted_as(xs, "asc") for xs in multi)
        desc = all(_sorted_as(xs, "desc") for xs in multi)
        order = "asc" if asc and not desc else "desc" if desc and not asc else ""
    repeats = max((len(xs) - len({_key(x) for x in xs}) for xs in multi), default=0)
    distinct = evidence and kind in ("list", "tuple") and repeats == 0
    max_repeats = repeats if evidence and kind in ("list", "tuple") and repeats else -1
    same_len = square = False
    if multi and all(_size(x) is not None for x in elems):
        same_len = all(len({_size(x) for x in xs}) == 1 for xs in multi)
        square = same_len and all(_size(xs[0]) == len(xs) for xs in lists if xs)
    perm = -1
    big = [xs for xs in lists if len(_flat(xs)) >= 3]
    if kind in ("list", "tuple") and len(big) >= 2:
        perm = next((b for b in (0, 1) if all(_is_perm(xs, b) for xs in lists)), -1)
    return Seq(kind, elem, min_len, max_len, order, distinct, same_len, square, _infer_props(lists, words), max_repeats,
               perm)


def _infer(vs: list, depth: int = 1, words: frozenset = frozenset()) -> Spec:
    groups: dict[str, list] = {}
    for v in vs:
        groups.setdefault(_kind(v), []).append(v)
    options = []
    for kind in sorted(groups):
        g = groups[kind]
        if kind in ("list", "tuple", "dict", "set", "frozenset") and depth > MAX_DEPTH or kind == "other":
            options.append(Choice(tuple(sorted({repr(v) for v in g}))))
        elif kind in ("bool", "none"):
            options.append(Atom(kind))
        elif kind == "int":
            options.append(_int_spec(g))
        elif kind == "float":
            options.append(_float_spec(g))
        elif kind == "str":
            options.append(_str_spec(g))
        elif kind == "tuple" and len({len(t) for t in g}) == 1 and g[0] and (
                len(g[0]) <= 3 or len({_kind(x) for x in g[0]}) > 1):
            items = tuple(_infer([t[k] for t in g], depth + 1, words) for k in range(len(g[0])))
            rel = _infer_relations(g, list(items)) if len(g) >= 2 else ()
            options.append(Record(items, rel))
        elif kind in ("list", "tuple", "set", "frozenset"):
            options.append(_seq_spec(kind, g, depth, words))
        elif kind == "dict":
            keys = [k for d in g for k in d]
            values = [x for d in g for x in d.values()]
            lens = [len(d) for d in g]
            options.append(Dict(_infer(keys, depth + 1, words) if keys else Never(),
                                _infer(values, depth + 1, words) if values else Never(),
                                0 if 0 in lens else 1, max(max(lens), min(MAX_LEN, max(lens) + 3))))
    return options[0] if len(options) == 1 else Union(tuple(options))


# -- the signature and the docstring --


def _function(prompt: str, reference: str, entry_point: str):
    for src in (prompt, reference, prompt + reference):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = pyast.parse(src)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
                return node, src is prompt
    return None, False


def _signature(prompt: str, reference: str, entry_point: str) -> tuple[list[str], list[str], str]:
    """(parameter names, annotation texts, the describing text: the docstring, or the prompt
    itself when it is not code)."""
    fn, from_prompt = _function(prompt, reference, entry_point)
    names, anns, doc = [], [], ""
    if fn is not None:
        args = fn.args.posonlyargs + fn.args.args
        names = [a.arg for a in args]
        anns = [ast.unparse(a.annotation) if a.annotation is not None else "" for a in args]
        doc = ast.get_docstring(fn) or ""
    if not from_prompt:
        doc = (prompt + "\n" + doc).strip()
    return names, anns, doc


def _with_elements(spec: Spec, ann: str) -> Spec:
    """Containers whose seeds were all empty get an element spec from the annotation."""
    if isinstance(spec, Seq) and isinstance(spec.elem, Never):
        m = re.fullmatch(r"(?:typing\.)?(?:List|list|Tuple|tuple|Set|set)\[\s*(\w+)\s*(?:,\s*\.\.\.\s*)?\]", ann.strip())
        default = {"int": Int(-10, 10), "float": Float(-10.0, 10.0, 1), "str": Str(0, 5, LOWER),
                   "bool": Atom("bool")}.get(m.group(1)) if m else None
        if default is not None:
            return Seq(spec.kind, default, spec.min_len, max(spec.max_len, 5))
    return spec


def _map_numbers(spec: Spec, fn) -> Spec:
    if isinstance(spec, (Int, Float)):
        return fn(spec)
    if isinstance(spec, Seq):
        return _replace(spec, elem=_map_numbers(spec.elem, fn))
    if isinstance(spec, Union):
        return Union(tuple(_map_numbers(o, fn) for o in spec.options))
    return spec


def _map_strs(spec: Spec, fn) -> Spec:
    if isinstance(spec, Str):
        return fn(spec)
    if isinstance(spec, Seq):
        return _replace(spec, elem=_map_strs(spec.elem, fn))
    if isinstance(spec, Union):
        return Union(tuple(_map_strs(o, fn) for o in spec.options))
    return spec


def _min_len(spec: Spec, n: int, kinds: tuple) -> Spec:
    options = spec.options if isinstance(spec, Union) else (spec,)
    out = []
    for o in options:
        if isinstance(o, Str) and "str" in kinds:
            o = _replace(o, min_len=max(o.min_len, n))
        elif isinstance(o, Seq) and o.kind in kinds:
            o = _replace(o, min_len=max(o.min_len, n))
        elif isinstance(o, Dict) and "dict" in kinds:
            o = _replace(o, min_len=max(o.min_len, n))
        out.append(o)
    return out[0] if len(out) == 1 else Union(tuple(out))


def _replace(spec, **changes):
    from dataclasses import replace
    return replace(spec, **changes)


def _positive(s):
    if isinstance(s, Int):
        return Int(max(s.lo, 1), s.hi)
    return Float(max(s.lo, 0.0), s.hi, s.decimals, True)


def _non_negative(s):
    if isinstance(s, Int):
        return Int(max(s.lo, 0), s.hi)
    return Float(max(s.lo, 0.0), s.hi, s.decimals, s.positive)


def _map_seqs(spec: Spec, fn) -> Spec:
    if isinstance(spec, Seq):
        return fn(spec)
    if isinstance(spec, Union):
        return Union(tuple(_map_seqs(o, fn) for o in spec.options))
    return spec


def _unique_gap(s: Seq) -> Seq:
    options = s.elem.options if isinstance(s.elem, Union) else (s.elem,)
    if s.kind not in ("list", "tuple") or not all(isinstance(o, (Int, Float)) for o in options):
        return s
    return _replace(s, props=tuple(dict.fromkeys(s.props + ("unique gap",))))


def _single_spaces(s: Str) -> Str:
    return _replace(s, space_run=1) if s.space_run > 1 and not s.shapes else s


def _drop_class(cls: str):
    def fn(s: Str) -> Str:
        return _replace(s, chars="".join(c for c in s.chars if c not in cls))
    return fn


_KIND_WORDS = {"list": ("list",), "array": ("list",), "lists": ("list",), "arrays": ("list",),
               "string": ("str",), "strings": ("str",), "tuple": ("tuple",), "dictionary": ("dict",),
               "dict": ("dict",), "set": ("set",)}
ALL_SIZED = ("str", "list", "tuple", "set", "frozenset", "dict")


def _doc_rules(doc: str, names: list[str]) -> list[tuple[str, object, int | None]]:
    """(description, transform, position or None for every position) from docstring phrases."""
    text = " ".join(doc.split())
    low = text.lower()
    rules = []
    if re.search(r"\bpositive (?:integer|int|number|whole number|real number|float)s?\b", low) or \
            re.search(r"\b(?:integers?|numbers?) (?:that are |which are )?(?:all )?positive\b", low):
        rules.append(("positive numbers", lambda s: _map_numbers(s, _positive), None))
    if re.search(r"\bnon-?negative\b", low):
        rules.append(("non-negative numbers", lambda s: _map_numbers(s, _non_negative), None))
    for m in re.finditer(r"\bnon-?empty(?: (\w+))?", low):
        kinds = _KIND_WORDS.get(m.group(1) or "", ALL_SIZED)
        rules.append((f"non-empty {'/'.join(kinds)}", lambda s, k=kinds: _min_len(s, 1, k), None))
    if re.search(r"\b(?:at least|a minimum of|minimum) (?:two|2)\b", low):
        rules.append(("at least two elements", lambda s: _min_len(s, 2, ("list", "tuple", "set")), None))
    if re.search(r"\b(?:separated|delimited) by (?:a |one |a single |single )?(?:space|blank)\b|\bspace[- ](?:separated|delimited)\b", low) \
            and not re.search(r"\b(?:keep|preserv|maintain|retain)\w*\b[^.]*\bspaces\b", low):
        rules.append(("single spaces", lambda s: _map_strs(s, _single_spaces), None))
    if re.search(r"\b(?:closest|nearest)\b", low):  # a closest pair must be one pair: no ties
        rules.append(("one closest pair", lambda s: _map_seqs(s, _unique_gap), None))
    if re.search(r"\blower ?case\b", low) and not re.search(r"\bupper ?case\b", low):
        rules.append(("lowercase strings", lambda s: _map_strs(s, _drop_class(UPPER)), None))
    if re.search(r"\bupper ?case\b", low) and not re.search(r"\blower ?case\b", low):
        rules.append(("uppercase strings", lambda s: _map_strs(s, _drop_class(LOWER)), None))
    pos = {n: i for i, n in enumerate(names)}
    le = r"(<=|<|≤)"
    num = r"(-?\d+)"
    target = r"(len\(\s*(\w+)\s*\)|(\w+)(?:\.length)?)"
    for m in re.finditer(num + r"\s*" + le + r"\s*" + target + r"\s*" + le + r"\s*" + num, text):
        lo = int(m.group(1)) + (1 if m.group(2) == "<" else 0)
        hi = int(m.group(7)) - (1 if m.group(6) == "<" else 0)
        name = m.group(4) or m.group(5)
        if name in pos:
            rules.append(_bound_rule(name, pos[name], lo, hi, bool(m.group(4))))
    for m in re.finditer(r"\b" + target + r"\s*(>=|>|≥)\s*" + num + r"\b", text):
        name = m.group(2) or m.group(3)
        if name in pos:
            lo = int(m.group(5)) + (1 if m.group(4) == ">" else 0)
            rules.append(_bound_rule(name, pos[name], lo, None, bool(m.group(2))))
    return rules


def _bound_rule(name: str, i: int, lo: int, hi: int | None, of_len: bool):
    if of_len:
        def fn(s):
            options = s.options if isinstance(s, Union) else (s,)
            out = [_replace(o, min_len=max(o.min_len, lo), max_len=min(o.max_len, hi if hi is not None else o.max_len))
                   if isinstance(o, (Str, Seq, Dict)) else o for o in options]
            return out[0] if len(out) == 1 else Union(tuple(out))
        return (f"{lo} <= len({name})" + (f" <= {hi}" if hi is not None else ""), fn, i)

    def num(s):
        if isinstance(s, Int):
            return Int(max(s.lo, lo), min(s.hi, hi) if hi is not None else s.hi)
        if isinstance(s, Float):
            return Float(max(s.lo, float(lo)), min(s.hi, float(hi)) if hi is not None else s.hi, s.decimals, s.positive)
        return s

    def fn(s):
        if isinstance(s, Union):
            return Union(tuple(num(o) for o in s.options))
        return num(s)
    return (f"{lo} <= {name}" + (f" <= {hi}" if hi is not None else ""), fn, i)


# -- the contract -----------------------------------------------------------------------------


def _spec_from_obj(o: dict) -> Spec:
    t = o["type"]
    if t == "nothing":
        return Never()
    if t in ("bool", "none"):
        return Atom(t)
    if t == "one_of":
        return Choice(tuple(o["values"]))
    if t == "int":
        return Int(o["min"], o["max"])
    if t == "float":
        return Float(o["min"], o["max"], o["decimals"], o["positive"])
    if t == "str":
        chars = _chars_from_description(o["chars"])
        if "one_of" in o:
            return Str(o["min_len"], o["max_len"], chars, vocab=tuple(o["one_of"]))
        if "formats" in o:
            return Str(o["min_len"], o["max_len"], chars, tuple(_parse_format(f) for f in o["formats"]),
                       o["zero_runs"], o["lead_zeros"])
        return Str(o["min_len"], o["max_len"], chars, (), True, True, o["edge_space"], o["space_run"], o["balanced"],
                   o.get("symbols", 0))
    if t in ("list", "tuple", "set", "frozenset"):
        return Seq(t, _spec_from_obj(o["items"]), o["min_len"], o["max_len"], o.get("order", ""),
                   o.get("distinct", False), o.get("same_len", False), o.get("square", False),
                   tuple(o.get("props", ())), o.get("max_repeats", -1), o.get("perm", -1))
    if t == "tuple_of":
        return Record(tuple(_spec_from_obj(x) for x in o["items"]), tuple(_relation_from_obj(r) for r in o["relations"]))
    if t == "dict":
        return Dict(_spec_from_obj(o["keys"]), _spec_from_obj(o["values"]), o["min_len"], o["max_len"])
    if t == "any_of":
        return Union(tuple(_spec_from_obj(x) for x in o["options"]))
    raise ValueError(f"unknown spec type {t!r}")


def _parse_format(f: str) -> tuple:
    parts, i, lit = [], 0, ""
    while i < len(f):
        m = re.match(r"\[0-9\]\{(\d+),(\d+)\}", f[i:])
        if m:
            if lit:
                parts.append(lit)
                lit = ""
            parts.append((int(m.group(1)), int(m.group(2))))
            i += m.end()
        elif f[i] == "\\" and i + 1 < len(f):
            lit += f[i + 1]
            i += 2
        else:
            lit += f[i]
            i += 1
    if lit:
        parts.append(lit)
    return tuple(parts)


def _relation_from_obj(o: dict) -> Relation:
    return Relation(o["op"], o["a"][0], o["a"][1], o["b"][0], o["b"][1], o["offset"])


def _collect(spec: Spec, v, mat: dict) -> None:
    """Every seed value under the spec that admits it (mutation material), in order of appearance."""
    if isinstance(spec, Union):
        for o in spec.options:
            if o.admits(v):
                _collect(o, v, mat)
                return
        return
    bucket = mat.setdefault(spec, [])
    if len(bucket) < 500 and all(_key(x) != _key(v) for x in bucket[-50:]):
        bucket.append(v)
    if isinstance(spec, Seq) and isinstance(v, (list, tuple, set, frozenset)):
        for x in _items(v):
            _collect(spec.elem, x, mat)
    elif isinstance(spec, Record) and isinstance(v, tuple) and len(v) == len(spec.items):
        for s, x in zip(spec.items, v, strict=True):
            _collect(s, x, mat)
    elif isinstance(spec, Dict) and isinstance(v, dict):
        for k, x in v.items():
            _collect(spec.key, k, mat)
            _collect(spec.value, x, mat)


@dataclass(frozen=True)
class Contract:
    """The input domain of one problem: a spec per argument position, relations between
    arguments, and the argument counts seen. Immutable and hashable."""

    args: tuple[Spec, ...] = ()
    arities: tuple[int, ...] = ()
    relations: tuple[Relation, ...] = ()
    names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # which docstring rules tightened it

    def admits(self, args: tuple) -> bool:
        if not isinstance(args, tuple) or len(args) not in self.arities:
            return False
        try:
            return (all(s.admits(v) for s, v in zip(self.args, args, strict=False))
                    and all(r.holds(args) for r in self.relations))
        except (TypeError, ValueError, RecursionError):
            return False

    def to_obj(self) -> dict:
        return {"arities": list(self.arities), "names": list(self.names),
                "args": [s.to_obj() for s in self.args],
                "relations": [r.to_obj() | {"text": r.text(self.names)} for r in self.relations],
                "notes": list(self.notes)}

    def to_json(self) -> str:
        return json.dumps(self.to_obj(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Contract:
        o = json.loads(text)
        return cls(tuple(_spec_from_obj(s) for s in o["args"]), tuple(o["arities"]),
                   tuple(_relation_from_obj(r) for r in o["relations"]), tuple(o["names"]), tuple(o["notes"]))

    def _mutate(self, base: tuple, g: _Gen, seeds: list[tuple]) -> tuple:
        rng = g.rng
        xs = list(base)
        if not xs:
            return base
        if len(xs) >= 2 and rng.random() < 0.12:  # one argument copied onto another of its type
            i, j = rng.sample(range(len(xs)), 2)
            if _kind(xs[i]) == _kind(xs[j]):
                xs[j] = xs[i] if rng.random() < 0.5 else self.args[j].mutate(xs[i], g)
                return tuple(xs)
        k = min(len(xs), rng.choice([1, 1, 1, 2]))
        for i in rng.sample(range(len(xs)), k):
            same = [s for s in seeds if len(s) > i]
            if rng.random() < 0.1 and same:  # an argument taken from another seed
                xs[i] = rng.choice(same)[i]
            else:
                xs[i] = self.args[i].mutate(xs[i], g)
        return tuple(xs)

    def _sample(self, g: _Gen) -> tuple:
        n = g.rng.choice(self.arities)
        return tuple(self.args[i].sample(g) for i in range(n))


def infer(seeds: list[tuple], prompt: str, reference: str, entry_point: str) -> Contract:
    """The contract of a problem from its seed inputs, signature and docstring (see the module
    docstring for the rules). No seeds: an empty contract, which admits nothing."""
    seeds = [s for s in seeds if isinstance(s, tuple)]
    names, anns, doc = _signature(prompt or "", reference or "", entry_point)
    if not seeds:
        return Contract(names=tuple(names))
    arities = tuple(sorted({len(s) for s in seeds}))
    words = frozenset(re.findall(r"[a-z]+", (doc + " " + entry_point.replace("_", " ")).lower()))
    specs = []
    for i in range(max(arities)):
        vals = [s[i] for s in seeds if len(s) > i]
        spec = _infer(vals, 1, words)
        if i < len(anns):
            spec = _with_elements(spec, anns[i])
        specs.append(spec)
    notes = []
    for what, fn, only in _doc_rules(doc, names):
        for i, spec in enumerate(specs):
            if only is not None and i != only:
                continue
            new = fn(spec)
            vals = [s[i] for s in seeds if len(s) > i]
            if new != spec and all(new.admits(v) for v in vals):
                specs[i] = new
                notes.append(f"docstring: {what} ({names[i] if i < len(names) else f'arg{i}'})")
    relations = _infer_relations(seeds, specs) if len(seeds) >= 2 else ()
    return Contract(tuple(specs), arities, relations, tuple(names[:max(arities)]), tuple(notes))


def generate(contract: Contract, seeds: list[tuple], n: int, rng: random.Random,
             exclude: Iterable[str] = ()) -> list[tuple]:
    """Up to `n` fresh inputs: distinct, none equal to a seed or written as in `exclude`, each
    admitted by the contract, within the caps and a literal that reads back the same. Mutants of
    seeds (and of earlier outputs) and fresh samples; at most 40 * n + 200 attempts."""
    if n <= 0 or not contract.arities:
        return []
    seeds = [s for s in seeds if isinstance(s, tuple)]
    material: dict = {}
    for s in seeds:
        for spec, v in zip(contract.args, s, strict=False):
            _collect(spec, v, material)
    g = _Gen(rng, material)
    exclude = set(exclude)
    seen = {_key(s) for s in seeds}
    for text in sorted(exclude):
        try:
            seen.add(_key(pyast.literal_eval(text)))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    bases = [s for s in seeds if contract.admits(s)]
    out: list[tuple] = []
    for _ in range(40 * n + 200):
        if len(out) >= n:
            break
        try:
            if bases and rng.random() < 0.7:
                pool = bases if not out or rng.random() < 0.5 else out
                args = contract._mutate(rng.choice(pool), g, bases)
            else:
                args = contract._sample(g)
            args = _repair(args, contract.args, contract.relations, g)
            if not contract.admits(args) or not all(_capped(v) for v in args):
                continue
            key = _key(args)
            if key in seen or repr(args) in exclude or not _round_trips(args):
                continue
        except (_NoValue, TypeError, ValueError, OverflowError, RecursionError, IndexError):
            continue
        seen.add(key)
        out.append(args)
    return out
