"""The decontamination index: benchmark pieces -> n-grams, and the check of one record.

Two rules, as the peer pipelines use them:
- **n-gram overlap** (NeMo Curator, Tulu): a record field that contains at least `threshold`
  of a benchmark piece's distinct word n-grams (default 13-grams of normalised words) is
  contaminated by it. Code solutions are matched a second time with identifiers abstracted
  (`tokens.code_tokens`), so renaming the variables of a pasted solution does not hide it.
- **exact substring** (BigCode): the piece's whole normalised word sequence occurs in the field.

A piece's share is counted against the piece, not the record: a benchmark problem pasted into a
long document is as contaminated as one standing alone. Pieces too short to be evidence (fewer
than `min_tokens` words) are skipped, as are abstracted n-grams that are mostly placeholders.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field

from codekiln.transforms import tokens
from codekiln.transforms.decontaminate import benchmarks


@dataclass(frozen=True)
class DecontaminationParams:
    """The config's `decontaminate:` block."""

    benchmarks: tuple[str, ...] = ()
    ngram: int = 13  # words per n-gram
    threshold: float = 0.5  # share of a piece's n-grams one field must contain
    min_tokens: int = 8  # a piece with fewer words is not checked (too short to be evidence)
    code: bool = True  # also match code solutions with identifiers abstracted
    fields: tuple[str, ...] = ()  # the row fields checked; empty: the kind's text fields
    max_chars: int = 2_000_000  # a longer field is rejected (`too_large_to_check`), never passed unchecked

    def __post_init__(self):
        unknown = [b for b in self.benchmarks if b not in benchmarks.BENCHMARKS]
        if unknown:
            raise ValueError(f"benchmarks names unknown {', '.join(map(repr, unknown))} "
                             f"(bundled: {', '.join(benchmarks.BENCHMARKS)})")
        if not self.benchmarks:
            raise ValueError("benchmarks must name at least one benchmark")
        if self.ngram < 3:
            raise ValueError("ngram must be >= 3")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.min_tokens < 1 or self.max_chars < 1:
            raise ValueError("min_tokens and max_chars must be >= 1")


@dataclass(frozen=True)
class Match:
    benchmark: str
    item: str
    part: str
    rule: str  # "substring" | "ngram" | "code_ngram"
    share: float  # of the piece's n-grams found in the field (1.0 for a substring)
    matched: int
    total: int
    field: str
    span: str

    def detail(self, n: int) -> str:
        how = {"substring": "exact normalised substring",
               "ngram": f"{n}-gram overlap {self.share:.0%} ({self.matched}/{self.total})",
               "code_ngram": f"{n}-gram overlap {self.share:.0%} ({self.matched}/{self.total}) "
                             "with identifiers abstracted"}[self.rule]
        # first word: benchmark:item (the manifest counts per benchmark from it)
        return f"{self.benchmark}:{self.item} {self.part}, {how}, in field {self.field!r}: {self.span!r}"


@dataclass
class _Channel:
    """n-gram -> piece ids, for one token view (words, or abstracted code)."""

    n: int
    vocab: dict[str, int] = field(default_factory=dict)
    grams: dict[tuple[int, ...], list[int]] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=dict)  # piece id -> its distinct n-grams

    def add(self, pid: int, toks: list[str], keep=lambda gram: True) -> None:
        ids = [self.vocab.setdefault(t, len(self.vocab)) for t in toks]
        seen = set()
        for i in range(len(ids) - self.n + 1):
            gram = tuple(ids[i:i + self.n])
            if gram in seen or not keep(toks[i:i + self.n]):
                continue
            seen.add(gram)
            self.grams.setdefault(gram, []).append(pid)
        if seen:
            self.totals[pid] = len(seen)

    def hits(self, toks: list[str]) -> dict[int, tuple[int, int, int]]:
        """piece id -> (distinct n-grams matched, first token, last token) in `toks`."""
        get = self.vocab.get
        ids = [get(t, -1) for t in toks]
        n, found, out = self.n, set(), {}
        run = 0  # known tokens ending at i: only windows of known tokens can match
        for i, t in enumerate(ids):
            run = run + 1 if t >= 0 else 0
            if run < n:
                continue
            gram = tuple(ids[i - n + 1:i + 1])
            pids = self.grams.get(gram)
            if pids is None or gram in found:
                continue
            found.add(gram)
            for pid in pids:
                k, first, _ = out.get(pid, (0, i - n + 1, 0))
                out[pid] = (k + 1, first, i)
        return out


def _mostly_placeholders(gram: list[str]) -> bool:
    return sum(t == tokens.PLACEHOLDER for t in gram) * 5 > len(gram) * 3


class Index:
    """Built once per process for a params value (`get_index`), then shared by every record."""

    def __init__(self, params: DecontaminationParams):
        self.params = params
        self.pieces: list[benchmarks.Piece] = []
        self.words: list[tuple[str, ...]] = []  # per piece, its normalised words
        self.items: dict[str, int] = {}
        self.word = _Channel(params.ngram)
        self.code = _Channel(params.ngram)
        # pieces of min_tokens..ngram-1 words, by their first min_tokens words (one scan finds them)
        self.short: dict[tuple[str, ...], list[int]] = {}
        for name in params.benchmarks:
            loaded = benchmarks.load(name)
            self.items[name] = len({p.item for p in loaded})
            for piece in loaded:
                toks = tokens.words(piece.text)
                if len(toks) < params.min_tokens:
                    continue
                pid = len(self.pieces)
                self.pieces.append(piece)
                self.words.append(tuple(toks))
                if len(toks) < params.ngram:
                    self.short.setdefault(tuple(toks[:params.min_tokens]), []).append(pid)
                else:
                    self.word.add(pid, toks)
                if piece.code and params.code:
                    self.code.add(pid, tokens.code_tokens(piece.text),
                                  keep=lambda g: not _mostly_placeholders(g))

    def check(self, fields: dict[str, str]) -> Match | None:
        """The strongest match over the fields (a substring first, then the largest share, then
        the most n-grams: a pasted solution names its own item, not one that shares a helper;
        ties by benchmark order and item), or None for a clean record."""
        best: tuple | None = None
        order = {name: i for i, name in enumerate(self.params.benchmarks)}
        for name, text in fields.items():
            for m in self._field_matches(name, text):
                key = (m.rule != "substring", -m.share, -m.matched, order[m.benchmark], m.item, m.part)
                if best is None or key < best[0]:
                    best = (key, m)
        return best[1] if best else None

    def _field_matches(self, name: str, text: str):
        p = self.params
        toks = tokens.words(text)
        spans: list = []

        def span(a: int, b: int) -> str:  # only for a match: offsets are built on demand
            if not spans:
                spans.extend(tokens.word_spans(text))
            norm = tokens.normalise(text)
            shown = text if len(norm) == len(text) else norm
            return _cut(shown[spans[a][0]:spans[b][1]])

        joined = None
        for pid, (k, first, last) in self.word.hits(toks).items():
            total = self.word.totals[pid]
            piece = self.pieces[pid]
            if k == total:  # every n-gram is there: is the whole piece, contiguously?
                joined = joined if joined is not None else " " + " ".join(toks) + " "
                needle = " " + " ".join(self.words[pid]) + " "
                at = joined.find(needle)
                if at >= 0:
                    start = joined.count(" ", 0, at)  # the word index the piece starts at
                    yield Match(piece.benchmark, piece.item, piece.part, "substring", 1.0, k, total, name,
                                span(start, start + len(self.words[pid]) - 1))
                    continue
            if k / total >= p.threshold:
                yield Match(piece.benchmark, piece.item, piece.part, "ngram", k / total, k, total, name,
                            span(first, last))
        k = p.min_tokens
        for i in range(len(toks) - k + 1) if self.short else ():
            for pid in self.short.get(tuple(toks[i:i + k]), ()):
                whole = self.words[pid]
                if tuple(toks[i:i + len(whole)]) == whole:
                    piece = self.pieces[pid]
                    yield Match(piece.benchmark, piece.item, piece.part, "substring", 1.0, 1, 1, name,
                                span(i, i + len(whole) - 1))
        if self.code.totals:
            for pid, (k, first, last) in self.code.hits(tokens.code_tokens(text)).items():
                total = self.code.totals[pid]
                if k / total >= p.threshold:
                    piece = self.pieces[pid]
                    cspans, shown = tokens.code_spans(text), unicodedata.normalize("NFKC", text)
                    yield Match(piece.benchmark, piece.item, piece.part, "code_ngram", k / total, k, total, name,
                                _cut(shown[cspans[first][0]:cspans[last][1]]))


def _cut(s: str) -> str:
    return s if len(s) <= 300 else s[:150] + " … " + s[-150:]


_INDEXES: dict[DecontaminationParams, Index] = {}
_LOCK = threading.Lock()


def get_index(params: DecontaminationParams) -> Index:
    """This process's index for `params` (built on first use: once per worker, not per record)."""
    key = DecontaminationParams(**{**params.__dict__, "fields": ()})
    with _LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = Index(key)
        return index
