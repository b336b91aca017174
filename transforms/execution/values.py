"""Values that come out of the sandbox, and the one float tolerance rule.

A value computed by untrusted code crosses to the host as tagged JSON written by the harness's
strict encoder (`harness.encode`). The host trusts none of it: `decode` rebuilds exact builtin
values (and the standard library's plain-data containers) with bounded size and depth, so
whatever the untrusted process wrote, the host holds plain data whose `==` is Python's own.
Anything else is `NonData`: a failed test, never a pass.

Wire format (JSON): null/true/false, numbers (NaN and +-Infinity allowed), strings; containers
and other scalars as arrays whose first item is a tag: "i" big int (hex), "c" complex, "b" bytes
(hex), "l" list, "t" tuple, "s" set, "f" frozenset, "d" dict ([key, value] pairs), "C" Counter,
"o" OrderedDict, "D" defaultdict (its factory's name first, if a builtin type), "q" deque,
"r" range, "K"/"W"/"I" a dict's keys/values/items view, "g" an iterator or generator (rebuilt as
an iterator over its items), "F" Fraction.
"""

from __future__ import annotations

import collections
import fractions
import json
import math

MAX_BYTES = 1 << 20  # an encoded value
MAX_DEPTH = 100
MAX_ITEMS = 1_000_000
MAX_COLLISIONS = 32  # distinct hashable items sharing one hash (crafted ints make sets quadratic)

# The float tolerance: generated tests compare with it, and the host judges them with it.
REL_TOL = 1e-6
ABS_TOL = 1e-9


class NonData(ValueError):
    """What the sandbox returned is not a plain-data value."""


def decode(text: str, max_bytes: int = MAX_BYTES):
    if not isinstance(text, str):
        raise NonData("not an encoded value")
    if len(text) > max_bytes:
        raise NonData(f"larger than {max_bytes} bytes")
    try:
        raw = json.loads(text)
    except RecursionError:
        raise NonData(f"nested deeper than {MAX_DEPTH}") from None
    except ValueError as e:
        raise NonData(f"unreadable: {str(e)[:200]}") from None
    budget = [MAX_ITEMS]
    value = _dec(raw, 0, budget)
    _no_collisions(_scalars(value))
    return value


_HASHED = (int, float, complex, tuple, frozenset)  # hashes an attacker can choose (str/bytes are salted)
FACTORIES = {"int": int, "list": list, "set": set, "dict": dict, "str": str, "float": float, "tuple": tuple}


def _scalars(value):
    """Every int, float, complex, tuple and frozenset anywhere in `value` (any of them can become
    a set member or a dict key in a judgement)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _HASHED) and not isinstance(v, bool):
            yield v
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set, frozenset, collections.deque)):
            stack.extend(v)


def _no_collisions(items) -> None:
    """Refuse containers whose items were chosen to share a hash: building a set or dict of
    them, here or in a test's judgement, would take quadratic time on the host."""
    buckets: dict[int, list] = {}
    for item in items:
        try:
            h = hash(item)
        except TypeError:
            continue
        same = buckets.setdefault(h, [])
        if len(same) < MAX_COLLISIONS and all(item is not x and item != x for x in same):
            same.append(item)
        elif len(same) >= MAX_COLLISIONS and all(item != x for x in same):
            raise NonData(f"more than {MAX_COLLISIONS} distinct items with one hash")


def _pairs(items, depth, budget):
    out = []
    for pair in items:
        if type(pair) is not list or len(pair) != 2:
            raise NonData("a mapping entry is not a [key, value] pair")
        out.append((_dec(pair[0], depth, budget), _dec(pair[1], depth, budget)))
    return out


def _dec(x, depth, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise NonData(f"more than {MAX_ITEMS} items")
    t = type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if t is not list or not x or type(x[0]) is not str:
        raise NonData("not a tagged value")
    tag, items = x[0], x[1:]
    if tag == "i":
        if len(items) != 1 or type(items[0]) is not str or len(items[0]) > 2 * MAX_BYTES:
            raise NonData("a malformed integer")
        try:
            return int(items[0], 16)
        except ValueError:
            raise NonData("a malformed integer") from None
    if tag == "c":
        if len(items) != 2 or not all(type(v) in (int, float) for v in items):
            raise NonData("a malformed complex number")
        return complex(items[0], items[1])
    if tag == "b":
        if len(items) != 1 or type(items[0]) is not str:
            raise NonData("malformed bytes")
        try:
            return bytes.fromhex(items[0])
        except ValueError:
            raise NonData("malformed bytes") from None
    if depth >= MAX_DEPTH:
        raise NonData(f"nested deeper than {MAX_DEPTH}")
    if tag == "r":
        if len(items) != 3 or not all(type(v) is int for v in items) or items[2] == 0:
            raise NonData("a malformed range")
        r = range(*items)
        if len(r) > MAX_ITEMS:
            raise NonData(f"a range of more than {MAX_ITEMS} items")
        return r
    if tag == "F":
        if len(items) != 2:
            raise NonData("a malformed Fraction")
        num, den = _dec(items[0], depth, budget), _dec(items[1], depth, budget)
        if type(num) is not int or type(den) is not int or den <= 0:
            raise NonData("a malformed Fraction")
        return fractions.Fraction(num, den)
    depth += 1
    factory = None
    if tag == "D" and items and (items[0] is None or type(items[0]) is str):
        factory, items = FACTORIES.get(items[0]), items[1:]
    if tag in ("l", "t", "s", "f", "q", "g", "K", "W"):
        items = [_dec(v, depth, budget) for v in items]
        if tag in ("s", "f", "K") and len(items) > MAX_COLLISIONS:
            _no_collisions(items)  # before they are hashed into a set
        elif tag == "g":
            _no_collisions(_scalars(items))  # an iterator hides its items from the final scan
    elif tag in ("d", "C", "o", "D", "I"):
        pairs = _pairs(items, depth, budget)
        if len(pairs) > MAX_COLLISIONS:
            _no_collisions(k for k, _ in pairs)
    try:
        if tag == "l":
            return items
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "f":
            return frozenset(items)
        if tag == "q":
            return collections.deque(items)
        if tag == "d":
            return dict(pairs)
        if tag == "C":
            return collections.Counter(dict(pairs))
        if tag == "o":
            return collections.OrderedDict(pairs)
        if tag == "D":
            return collections.defaultdict(factory, pairs)
        if tag == "g":
            return iter(items)
        if tag == "K":
            return dict.fromkeys(items).keys()
        if tag == "W":
            return dict(enumerate(items)).values()
        if tag == "I":
            return dict(pairs).items()
    except TypeError:  # an unhashable key or set member
        raise NonData("an unhashable key or set member") from None
    raise NonData(f"unknown tag {tag[:20]!r}")


def close(a, b) -> bool:
    """`a == b`, except that floats (anywhere inside lists, tuples and dicts) may differ by the
    tolerance: |a - b| <= max(REL_TOL * max(|a|, |b|), ABS_TOL)."""
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL))
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(v, b[k]) for k, v in a.items())
    return a == b


# The same rule as test source, for generated tests that must also run on their own (a user
# running the `tests` dataset's asserts). The host recognises exactly this helper and judges
# `assert _close(call, expected)` with `close` above, outside the sandbox.
CLOSE_HELPER = (
    "def _close(a, b):\n"
    "    if isinstance(a, float) or isinstance(b, float):\n"
    "        return (isinstance(a, (int, float)) and isinstance(b, (int, float))\n"
    f"                and abs(a - b) <= max({REL_TOL!r} * max(abs(a), abs(b)), {ABS_TOL!r}))\n"
    "    if isinstance(a, (list, tuple)) and type(a) is type(b):\n"
    "        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))\n"
    "    if isinstance(a, dict) and isinstance(b, dict):\n"
    "        return a.keys() == b.keys() and all(_close(v, b[k]) for k, v in a.items())\n"
    "    return a == b\n"
)


def has_float(v) -> bool:
    if isinstance(v, float):
        return True
    if isinstance(v, (list, tuple, set, frozenset)):
        return any(has_float(x) for x in v)
    if isinstance(v, dict):
        return any(has_float(x) for x in v.values())
    return False


def is_finite(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, complex):
        return math.isfinite(v.real) and math.isfinite(v.imag)
    if isinstance(v, (list, tuple, set, frozenset)):
        return all(is_finite(x) for x in v)
    if isinstance(v, dict):
        return all(is_finite(k) and is_finite(x) for k, x in v.items())
    return True
