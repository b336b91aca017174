"""MinHash signatures and LSH bands (the plain-Python core of near-dedupe).

Signatures come from rensa's RMinHash (a Rust MinHash, ~40x faster than datasketch's on the
same shingles here; `benchmarks/dedup_bench.py` measures both), seeded, so the same text has
the same signature in every process and run. Bands are chosen as BigCode and datasketch choose
them: the (bands, rows) with bands x rows <= num_perm that minimise the sum of false-positive
and false-negative probability mass around the Jaccard threshold.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache

from codekiln.transforms import tokens


@dataclass(frozen=True)
class NearDedupeParams:
    """The config's `dedupe:` block (exact dedupe by id always runs; `near` adds this)."""

    near: bool = False
    threshold: float = 0.7  # estimated Jaccard similarity of shingle sets (BigCode's default)
    num_perm: int = 256  # MinHash permutations (BigCode's default)
    ngram: int = 5  # words per shingle
    seed: int = 42
    fields: tuple[str, ...] = ()  # the row fields compared; empty: the kind's own choice
    max_chars: int = 2_000_000  # longer text is rejected (`too_large_to_compare`), never passed unchecked

    def __post_init__(self):
        if not 0 < self.threshold < 1:
            raise ValueError("threshold must be in (0, 1)")
        if not 16 <= self.num_perm <= 1024:
            raise ValueError("num_perm must be from 16 to 1024")
        if self.ngram < 1 or self.max_chars < 1:
            raise ValueError("ngram and max_chars must be >= 1")


def _probability(s: float, b: int, r: int) -> float:
    return 1 - (1 - s ** r) ** b


def _area(b: int, r: int, lo: float, hi: float, miss: bool, steps: int = 200) -> float:
    """The integral of P(candidate) (or of 1 - P with `miss`) over [lo, hi], trapezoids."""
    h = (hi - lo) / steps

    def f(s: float) -> float:
        p = _probability(s, b, r)
        return 1 - p if miss else p

    return h * (sum(f(lo + i * h) for i in range(1, steps)) + (f(lo) + f(hi)) / 2)


@lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising false positives below and false negatives above."""
    best = None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _area(b, r, 0.0, threshold, miss=False)
            fn = _area(b, r, threshold, 1.0, miss=True)
            err = 0.5 * fp + 0.5 * fn
            if best is None or err < best[0]:
                best = (err, b, r)
    return best[1], best[2]


def document_shingles(text: str, n: int) -> list[str]:
    return tokens.shingles(tokens.words(text), n)


def signature(text: str, params: NearDedupeParams) -> list[int] | None:
    """The MinHash signature of `text`'s word n-grams, or None when it has no words."""
    import rensa

    sh = document_shingles(text, params.ngram)
    if not sh:
        return None
    m = rensa.RMinHash(num_perm=params.num_perm, seed=params.seed)
    m.update(sh)
    return list(m.digest())


def band_keys(sig: list[int], bands: int, rows: int) -> list[bytes]:
    """One key per band: the band's index and a digest of its rows (equal keys = candidates)."""
    packed = struct.pack(f"<{bands * rows}I", *sig[:bands * rows])
    step = 4 * rows
    return [i.to_bytes(2, "little") + hashlib.blake2b(packed[i * step:(i + 1) * step], digest_size=12).digest()
            for i in range(bands)]


def pack(sig: list[int]) -> bytes:
    """A signature as 4 bytes a value: what is shuffled (a list of ints is ~9x larger)."""
    return struct.pack(f"<{len(sig)}I", *sig)


def jaccard(a: list[int] | bytes, b: list[int] | bytes) -> float:
    """The signatures' estimate of the shingle sets' Jaccard similarity (lists or packed)."""
    if isinstance(a, bytes):
        import numpy as np

        x, y = np.frombuffer(a, dtype="<u4"), np.frombuffer(b, dtype="<u4")
        if len(x) != len(y):
            raise ValueError("signatures of different lengths")
        return float((x == y).mean())
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def clusters(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Union-find over candidate pairs: every document -> its cluster's kept document (the
    smallest key, so the choice does not depend on the order edges arrive in)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {x: find(x) for x in parent}
