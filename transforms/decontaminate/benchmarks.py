"""The benchmark test sets a dataset can be decontaminated against, bundled as package data
(`codekiln.configs/corpora/`, with their licenses in that folder's README).

Each item gives the pieces a training record must not contain: its prompt and its solution
(prose or code). A piece is what the matcher compares as a whole, so a record that holds only
the solution of a problem is as contaminated as one that holds the problem.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    file: str  # under codekiln.configs/corpora
    license: str
    id_of: str  # the item id: a field name, or "" for the line number (GSM8K has no ids)
    # (part name, field, code?): code pieces are also matched with their identifiers abstracted
    # (a HumanEval prompt is code, but its docstring is prose: it is matched as words)
    pieces: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class Piece:
    benchmark: str
    item: str
    part: str
    text: str
    code: bool


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("humaneval", "HumanEval (164 problems)", "humaneval.jsonl.gz", "mit", "task_id",
              (("prompt", "prompt", False), ("solution", "canonical_solution", True))),
    Benchmark("mbpp", "MBPP test split (task ids 11-510)", "mbpp_test.jsonl.gz", "cc-by-4.0", "task_id",
              (("prompt", "text", False), ("solution", "code", True))),
    Benchmark("math500", "MATH-500", "math500.jsonl.gz", "mit", "unique_id",
              (("prompt", "problem", False), ("solution", "solution", False))),
    Benchmark("gsm8k", "GSM8K test split", "gsm8k_test.jsonl.gz", "mit", "",
              (("prompt", "question", False), ("solution", "answer", False))),
)}


def load(name: str) -> list[Piece]:
    """Every piece of one bundled benchmark, in file order."""
    bench = BENCHMARKS[name]
    raw = resources.files("codekiln.configs").joinpath("corpora", bench.file).read_bytes()
    pieces = []
    for i, line in enumerate(gzip.decompress(raw).decode().splitlines()):
        if not line.strip():
            continue
        item = json.loads(line)
        if bench.id_of:
            ident = str(item[bench.id_of])
            ident = ident if "/" in ident else f"{bench.name}/{ident}"
        else:
            ident = f"{bench.name}/test/{i}"
        for part, fld, code in bench.pieces:
            text = item.get(fld)
            if isinstance(text, str) and text.strip():
                pieces.append(Piece(name, ident, part, text, code))
    return pieces


def item_counts(names: tuple[str, ...]) -> dict[str, int]:
    return {n: len({p.item for p in load(n)}) for n in names}
