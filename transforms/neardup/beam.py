"""Near-dedupe in Beam: one global decision, whatever the number of workers.

Rows are spilled as they pass (`transforms.spill`); only small keys are shuffled: per document
its LSH band keys and its signature. Documents sharing a band are candidates; each candidate
pair is verified by the estimated Jaccard of the two full signatures (so LSH's false positives
are not dropped); verified pairs are merged by one union-find over the (few) edges, and every
document of a cluster but the smallest-keyed one is rejected as `near_duplicate`, naming the
one kept. A document is a row, or several rows sharing `doc_field` (the paths of one LintSeq
program are one document, never duplicates of each other).
"""

from __future__ import annotations

import apache_beam as beam
from codekiln.transforms.neardup.minhash import (
    NearDedupeParams,
    band_keys,
    clusters,
    jaccard,
    lsh_bands,
    pack,
    signature,
)
from codekiln.transforms.spill import spill_and_decide

STAGE = "near_dedupe"


def text_leaves(value) -> list[str]:
    """Every string inside a field value (a string, a list of them, conversational messages)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in text_leaves(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in text_leaves(v)]
    return []


class _Keys:
    """row -> ("b", band key) -> doc for each band, and ("s", doc) -> signature."""

    def __init__(self, params: NearDedupeParams, fields: tuple[str, ...], doc_field: str):
        self.params, self.fields, self.doc_field = params, fields, doc_field

    def setup(self):
        self.bands = lsh_bands(self.params.threshold, self.params.num_perm)
        self.seen: set[str] = set()

    def __call__(self, row: dict):
        doc = str(row[self.doc_field])
        if doc in self.seen:  # the other rows of a document already gave its keys here
            return
        if len(self.seen) > 100_000:
            self.seen.clear()
        self.seen.add(doc)
        text = "\n".join(s for f in self.fields for s in text_leaves(row.get(f)))[:self.params.max_chars]
        sig = signature(text, self.params)
        if sig is None:
            return
        yield ("s", doc), pack(sig)
        for key in band_keys(sig, *self.bands):
            yield ("b", key), doc


def _is_band(kv) -> bool:
    return kv[0][0] == "b"


def _is_sig(kv) -> bool:
    return kv[0][0] == "s"


def _unwrap(kv):
    return kv[0][1], kv[1]


def _star_edges(item):
    """(band key, docs) -> (smallest doc, other) for every other doc of the bucket."""
    _, docs = item
    docs = sorted(set(docs))
    for other in docs[1:]:
        yield docs[0], other


def _first_half(item):
    """(a, {sig: [sig_a], edge: [b, ...]}) -> (b, (a, sig_a))."""
    a, joined = item
    sigs = joined["sig"]
    for b in sorted(set(joined["edge"])):
        yield b, (a, sigs[0])


class _Verify:
    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, item):
        """(b, {sig: [sig_b], half: [(a, sig_a), ...]}) -> (a, b, estimated Jaccard) if close."""
        b, joined = item
        (sig_b, *_), halves = joined["sig"], joined["half"]
        for a, sig_a in sorted(halves, key=lambda h: h[0]):
            j = jaccard(sig_a, sig_b)
            if j >= self.threshold:
                yield a, b, round(j, 4)


def _losers(edges: list):
    """All verified pairs -> (doc, why) for every document that is not its cluster's kept one."""
    best: dict[str, tuple[float, str]] = {}  # doc -> its closest verified neighbour
    for a, b, j in edges:
        for x, y in ((a, b), (b, a)):
            if (j, y) > best.get(x, (-1.0, "")):
                best[x] = (j, y)
    for doc, kept in sorted(clusters([(a, b) for a, b, _ in edges]).items()):
        if doc != kept:
            j, neighbour = best[doc]
            yield doc, (kept, neighbour, j)


class _Decide(beam.PTransform):
    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def expand(self, keys):
        sigs = keys | "Signatures" >> beam.Filter(_is_sig) | "SigByDoc" >> beam.Map(_unwrap)
        edges = (keys | "Bands" >> beam.Filter(_is_band) | "BandKey" >> beam.Map(_unwrap)
                 | "Buckets" >> beam.GroupByKey() | "Candidates" >> beam.FlatMap(_star_edges))
        halves = ({"sig": sigs, "edge": edges} | "JoinFirst" >> beam.CoGroupByKey()
                  | "FirstHalf" >> beam.FlatMap(_first_half))
        verified = ({"sig": sigs, "half": halves} | "JoinSecond" >> beam.CoGroupByKey()
                    | "Verify" >> beam.FlatMap(_Verify(self.threshold)))
        return (verified | "AllPairs" >> beam.combiners.ToList()
                | "Clusters" >> beam.FlatMap(_losers))


class _Judge:
    def __init__(self, doc_field: str):
        self.doc_field = doc_field

    def __call__(self, row: dict, losers: dict):
        doc = str(row[self.doc_field])
        lost = losers.get(doc) if losers else None
        if lost is None:
            return row, None
        kept, neighbour, j = lost
        what = "" if self.doc_field == "id" else f"{self.doc_field} "
        return row, ("near_duplicate", row.get("source"), str(row.get("id")),
                     f"near-duplicate of kept {what}{kept} (estimated Jaccard {j:.2f}"
                     + (")" if neighbour == kept else f" with {neighbour}, in its cluster)"))


class NearDedupe(beam.PTransform):
    """rows -> (kept rows, near_duplicate rejects)."""

    def __init__(self, params: NearDedupeParams, fields: tuple[str, ...], doc_field: str, spill_dir: str,
                 progress_dir: str | None = None):
        super().__init__(label=STAGE)
        self.params, self.fields, self.doc_field = params, fields, doc_field
        self.spill_dir, self.progress_dir = spill_dir, progress_dir

    def expand(self, rows):
        return spill_and_decide(rows, STAGE, self.spill_dir, _Keys(self.params, self.fields, self.doc_field),
                                _Decide(self.params.threshold), _Judge(self.doc_field), self.progress_dir)
