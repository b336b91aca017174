"""Pragmatic example selection ("Generating Pragmatic Examples to Train Neural Program
Synthesizers", Vaduguru, Fried, Pu) for regex programs.

For a target: competitors (sampled from the DSL, half of them near misses of the target) and a
pool of labelled strings consistent with the target. The consistency matrix (programs x examples)
is computed once; then, with numpy, a literal listener is uniform over the programs consistent
with all chosen examples, and the speaker picks, one at a time, the example that maximises the
listener's probability of the target (ties broken by a seeded order), until `max_examples` or the
target is the only program left. A literal baseline draws random consistent examples from the
same pool.

Limits: the parameters are capped (`MAX_COMPETITORS`, `MAX_EXAMPLES`, `MAX_CELLS` for the
matrix; a config error), and each target's work is counted, not timed, in deterministic units
(`Work`: characters the regex scans visit, matrix cells, strings generated and tried) against
`MAX_WORK`: past it the target raises `OverBudget` (a `budget_exceeded` reject).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np
from codekiln.transforms.pragmatic.dsl import (
    DEFAULT_ALPHABET,
    MAX_LEN,
    mutate_program,
    negative_strings,
    sample_program,
)
from codekiln.transforms.rng import seeded_rng

MAX_COMPETITORS = 20_000
MAX_EXAMPLES = 20_000
MAX_CELLS = 25_000_000  # competitors x examples: the consistency matrix
MAX_ALPHABET = 256
MAX_WORK = 4_000_000_000  # units per target (the bundled configs: under 1% of it)
GENERATE_COST = 20 * MAX_LEN  # one `Program.generate`: up to 20 strings of up to MAX_LEN
SCAN_COST = 1000  # one regex scan's fixed part (compiling the pattern, the match vector)


class OverBudget(Exception):
    """A target's work ran past its budget."""


class Work:
    """A deterministic work count with a limit (the same on any machine and any load)."""

    def __init__(self, limit: int = MAX_WORK):
        self.limit, self.units = limit, 0

    def spend(self, units: int) -> None:
        self.units += units
        if self.units > self.limit:
            raise OverBudget(f"more than {self.limit:,} work units")


@dataclass(frozen=True)
class PragmaticParams:
    competitors: int = 500
    examples: int = 500  # candidate labelled strings per target
    max_examples: int = 10
    alphabet: str = DEFAULT_ALPHABET
    seed: int = 0
    near_miss_share: float = 0.5  # competitors made by changing one part of the target
    batch_size: int = 16

    def __post_init__(self):
        if self.competitors < 1 or self.examples < 2 or self.max_examples < 1 or self.batch_size < 1:
            raise ValueError("competitors, examples, max_examples and batch_size must be positive")
        if len(set(self.alphabet)) < 2:
            raise ValueError("alphabet must have at least two characters")
        if not 0 <= self.near_miss_share <= 1:
            raise ValueError("near_miss_share must be in [0, 1]")
        if self.competitors > MAX_COMPETITORS or self.examples > MAX_EXAMPLES or len(self.alphabet) > MAX_ALPHABET:
            raise ValueError(f"competitors must be <= {MAX_COMPETITORS}, examples <= {MAX_EXAMPLES}, "
                             f"alphabet at most {MAX_ALPHABET} characters")
        if self.competitors * self.examples > MAX_CELLS:
            raise ValueError(f"competitors x examples must be <= {MAX_CELLS:,} (the consistency matrix)")


def target_rng(seed: int, index: int, what: str) -> random.Random:
    return seeded_rng(seed, index, what)


def example_pool(target, params: PragmaticParams, rng: random.Random, work: Work | None = None) -> list[tuple[str, bool]]:
    work = work or Work()
    pattern = target.compiled()
    positives: dict[str, None] = {}
    for _ in range(params.examples * 4):
        if len(positives) >= params.examples // 2:
            break
        work.spend(GENERATE_COST)
        s = target.generate(rng)
        if s is not None:
            positives.setdefault(s)
    pos = list(positives)
    neg = negative_strings(pattern, pos, params.examples - len(pos), rng, params.alphabet,
                           spend=lambda: work.spend(MAX_LEN + 1))  # one fullmatch of at most MAX_LEN
    return [(s, True) for s in pos] + [(s, False) for s in neg]


class Matcher:
    """Which strings of a pool a program fullmatches, in one regex scan over the whole pool
    (anchored per line) instead of one call per string."""

    def __init__(self, strings: list[str], work: Work | None = None):
        self.n = len(strings)
        self.text = "\n".join(strings)
        self.starts = np.cumsum([0] + [len(s) + 1 for s in strings[:-1]])
        self.work = work

    def __call__(self, program) -> np.ndarray:
        if self.work is not None:  # a scan visits each character (the DSL nests no repeats: bounded backtracking)
            self.work.spend(SCAN_COST + len(self.text) + 1 + self.n)
        pattern = re.compile(f"^(?:{program.regex()})$", re.MULTILINE)
        hits = [m.start() for m in pattern.finditer(self.text)]
        vector = np.zeros(self.n, dtype=bool)
        vector[np.searchsorted(self.starts, hits)] = True
        return vector


def competitors(target, strings: list[str], params: PragmaticParams, rng: random.Random, work: Work | None = None):
    """Distinct competitor programs, none equivalent to the target (or to each other) on the pool."""
    match = Matcher(strings, work or Work())
    target_vector = match(target)
    seen = {target_vector.tobytes()}
    out, matches = [], []
    tries = 0
    while len(out) < params.competitors and tries < params.competitors * 4:
        tries += 1
        near = rng.random() < params.near_miss_share
        program = mutate_program(target, rng, params.alphabet) if near else sample_program(rng, params.alphabet)
        vector = match(program)
        key = vector.tobytes()
        if key in seen:  # equivalent on the whole pool: collapsed to one
            continue
        seen.add(key)
        out.append(program)
        matches.append(vector)
    matrix = np.array(matches, dtype=bool).reshape(len(out), len(strings))
    return out, matrix, target_vector


def speak(consistent: np.ndarray, order: np.ndarray, max_examples: int,
          work: Work | None = None) -> tuple[list[int], list[float], list[int]]:
    """Greedy pragmatic speaker over a (programs x examples) consistency matrix whose row 0 is the
    target. Returns chosen example indices, P(target) and competitors left after each."""
    work = work or Work()
    alive = np.ones(consistent.shape[0], dtype=bool)
    available = np.ones(consistent.shape[1], dtype=bool)
    chosen, p_target, left = [], [], []
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))  # the seeded tie-break: earlier in `order` wins
    while len(chosen) < max_examples and alive.sum() > 1 and available.any():
        work.spend(int(alive.sum()) * consistent.shape[1] + consistent.shape[0])
        counts = consistent[alive].sum(axis=0)  # programs still consistent after each example
        counts = np.where(available, counts, np.iinfo(np.int64).max)
        best = np.flatnonzero(counts == counts.min())
        pick = int(best[np.argmin(rank[best])])
        alive &= consistent[:, pick]
        available[pick] = False
        chosen.append(pick)
        p_target.append(1.0 / alive.sum())
        left.append(int(alive.sum()) - 1)
    return chosen, p_target, left


def literal_baseline(consistent: np.ndarray, order: np.ndarray, max_examples: int,
                     work: Work | None = None) -> tuple[list[int], list[float]]:
    work = work or Work()
    alive = np.ones(consistent.shape[0], dtype=bool)
    chosen, p_target = [], []
    for pick in order[:max_examples]:
        work.spend(consistent.shape[0])
        alive &= consistent[:, pick]
        chosen.append(int(pick))
        p_target.append(1.0 / alive.sum())
    return chosen, p_target


def pragmatic_row(index: int, params: PragmaticParams, work: Work | None = None) -> dict:
    """The row of target `index`; raises OverBudget when its work runs past `work`'s limit."""
    work = work or Work()
    rng = target_rng(params.seed, index, "target")
    target = sample_program(rng, params.alphabet)
    pool = example_pool(target, params, target_rng(params.seed, index, "examples"), work)
    strings = [s for s, _ in pool]
    labels = np.array([label for _, label in pool], dtype=bool)
    others, matches, target_vector = competitors(target, strings, params, target_rng(params.seed, index, "competitors"), work)
    work.spend((len(others) + 1) * len(pool))  # the consistency matrix
    programs = np.vstack([target_vector[None, :], matches]) if len(others) else target_vector[None, :]
    consistent = programs == labels[None, :]  # row 0, the target, is consistent with every example
    order = np.array(target_rng(params.seed, index, "order").sample(range(len(pool)), len(pool)))
    chosen, p_target, left = speak(consistent, order, params.max_examples, work)
    base, base_p = literal_baseline(consistent, order, params.max_examples, work)
    return {
        "program": target.dsl(),
        "regex": target.regex(),
        "examples": [{"text": strings[i], "label": bool(labels[i])} for i in chosen],
        "p_target": p_target,
        "n_competitors": left,
        "baseline_examples": [{"text": strings[i], "label": bool(labels[i])} for i in base],
        "baseline_p_target": base_p,
        "seed": params.seed,
        "n_candidates": len(others),
        "n_pool": len(pool),
    }
