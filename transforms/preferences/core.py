"""PLUM-style labels and preference pairs ("Preference Learning Plus Test Cases Yields Better
Code Language Models"): candidates run in the sandbox; passing and failing candidates become
chosen/rejected pairs.

A label is decided by a *differential oracle*, not by the shipped suite alone: a candidate is
`label: true` only if it passes the suite and agrees with the reference on the problem's whole
verified input pool and on `fuzz_inputs` fresh inputs drawn inside the problem's input contract
(`oracle` says which of `suite`, `pool`, `fuzz` first told it apart, `first_difference` on what).

Candidates: real samples (a `samples` source, EvalPlus's `samples.jsonl` shape), a model's
samples (when configured), a `candidates` column of the source and, offline, the reference and
its mutants, each marked by `origin`. Every candidate, the reference included, is rendered in one
canonical form (`render.py`) before it runs and becomes a row, so layout never tells chosen from
rejected; programs with the same rendering count once.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from transforms.execution.sandbox import ExecResult, Task
from transforms.preferences.render import normalise_prompt, render
from transforms.testgen import contract as contracts
from transforms.testgen.mutants import mutants as make_mutants
from transforms.testgen.suite import (
    first_line,
    pack,
    packed_verdicts,
    reference_tasks,
    rng_for,
    trust_of,
    verified,
)

RULES = ("plum", "acecoder")
FORMATS = ("standard", "conversational")
MAX_PROGRAM_CHARS = 100_000


@dataclass(frozen=True)
class LabelParams:
    max_candidates: int = 16  # offline candidates per problem (reference + mutants), after deduplication
    mutants: bool = True  # offline candidates: the reference's mutants
    seed: int = 0
    batch_size: int = 8
    llm_samples: int = 0  # when an llm is configured: requests per problem (each with llm.n choices)
    fuzz_inputs: int = 100  # fresh inputs per problem for the differential oracle (0: suite and pool only)
    max_steps: int = 200_000  # the reference's traced work per fresh input (as in `tests`): past it, dropped
    require_isolated: bool = True  # judge only by tests the host judges (tests that run as code are left out)

    def __post_init__(self):
        if self.max_candidates < 1 or self.batch_size < 1 or self.llm_samples < 0 or self.fuzz_inputs < 0:
            raise ValueError("max_candidates and batch_size must be >= 1, llm_samples and fuzz_inputs >= 0")


@dataclass(frozen=True)
class PairParams:
    rule: str = "plum"  # plum: chosen passes all, rejected fails one; acecoder: ratio >= 0.8, gap >= 0.4
    max_pairs_per_prompt: int = 4
    format: str = "standard"  # or conversational (TRL message lists)
    seed: int = 0
    min_chosen_ratio: float = 0.8  # acecoder
    min_gap: float = 0.4  # acecoder
    require_isolated: bool = True  # pair only candidates whose every verdict was judged on the host
    balance_length: bool = True  # length never tells chosen from rejected (unbalanceable pairs left out)

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of: {', '.join(RULES)} (got {self.rule!r})")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of: {', '.join(FORMATS)} (got {self.format!r})")
        if self.max_pairs_per_prompt < 1:
            raise ValueError("max_pairs_per_prompt must be >= 1")


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}\0{key}".encode()).digest()[:8], "big"))


@dataclass(frozen=True)
class Candidate:
    program: str  # what runs and what the row holds: the canonical rendering when it parses
    completion: str
    origin: str
    canonical: bool  # rendered in the canonical form (False: it does not parse, kept as written)
    continues_prompt: bool  # program == prompt + completion
    copies: int = 1  # candidates that rendered to this same program (first origin kept)


def candidates(row: dict, extra: list[tuple[str, str]], params: LabelParams) -> list[Candidate]:
    """A problem's candidates: samples first, then the reference and its mutants (at most
    `max_candidates` of those); same canonical program once."""
    prompt, entry = row.get("prompt") or "", row.get("entry_point") or ""
    offline = [(row["reference"], "reference")]
    if params.mutants:
        rng = _rng(params.seed, row["problem_id"])
        offline += [(src, "mutant") for _, src in make_mutants(
            row["reference"], params.max_candidates * 2, rng, first_line=first_line(row["reference"], prompt))]
    sampled = list(extra) + [(c, "source") for c in row.get("candidates") or []]
    seen: dict[str, int] = {}
    out, n_offline = [], 0
    for program, origin in sampled + offline:
        if origin in ("reference", "mutant") and n_offline >= params.max_candidates:
            break
        cand = _candidate(program, origin, prompt, entry)
        if cand.program in seen:  # the same program again: counted on the row that has it
            k = seen[cand.program]
            out[k] = dataclasses.replace(out[k], copies=out[k].copies + 1)
            continue
        seen[cand.program] = len(out)
        out.append(cand)
        n_offline += origin in ("reference", "mutant")
    return out


def _candidate(program: str, origin: str, prompt: str, entry: str) -> Candidate:
    text = program.replace("\r\n", "\n").replace("\r", "\n")
    rendered = render(text, prompt, entry) if len(text) <= MAX_PROGRAM_CHARS else None
    if rendered is None:  # does not parse: it runs and is kept as written (normalised line ends)
        return Candidate(text, text, origin, False, False)
    return Candidate(rendered.program, rendered.completion, origin, True, rendered.continues_prompt)


class NotLabelled(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _trusted(row: dict, params: LabelParams) -> dict | NotLabelled:
    """The row with only the tests whose verdicts no program can forge (the host judges them),
    when `require_isolated`; a reject when that leaves nothing to judge by."""
    if not row.get("tests"):
        return NotLabelled("no_valid_tests", "the problem has no test suite")
    if not params.require_isolated:
        return row

    def isolated(t):
        return (t.get("trust") or trust_of(t["assert_src"])) == "isolated"

    tests = [t for t in row["tests"] if isolated(t)]
    pool = [t for t in row.get("pool") or [] if isolated(t)]
    if not tests:
        dropped = next(t["assert_src"] for t in row["tests"] if not isolated(t))
        return NotLabelled("not_isolated", f"all {len(row['tests'])} tests run as code (verdicts a program could "
                                           f"forge), e.g. {dropped[:300]!r}")
    return dict(row, tests=tests, pool=pool)


def _pool(row: dict) -> list[dict]:
    """The row's verified pool tests not already in its suite."""
    in_suite = {t["assert_src"] for t in row["tests"]}
    return [t for t in row.get("pool") or [] if t["assert_src"] not in in_suite]


def _literal_input(text: str | None):
    try:
        value = ast.literal_eval(text) if text else None
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    return value if isinstance(value, tuple) else None


def fuzz_inputs(row: dict, params: LabelParams) -> list[tuple]:
    """Fresh inputs inside the row's contract, none of them in its pool (deterministic)."""
    if not params.fuzz_inputs or not row.get("contract"):
        return []
    contract = contracts.Contract.from_json(row["contract"])
    base = [a for a in (_literal_input(t.get("input")) for t in row.get("pool") or []) if a is not None]
    exclude = {repr(a) for a in base}
    return contracts.generate(contract, base, params.fuzz_inputs,
                              rng_for(params.seed, row["problem_id"], "fuzz"), exclude=exclude)


PACK = 30  # generated tests per process when labelling


def label_rows(rows: list[dict], extra: dict[str, list[tuple[str, str]]], params: LabelParams,
               run: Callable[[list[Task]], list[ExecResult]]) -> list[list[dict] | Exception]:
    """Every candidate of every problem against that problem's oracle, in two sandbox rounds:
    (A) the reference on the fresh inputs, and every candidate on the suite (test by test) and
    the pool (packed); (B) the candidates that passed both, on the fresh inputs."""
    rows = [_trusted(row, params) for row in rows]
    live = [i for i, r in enumerate(rows) if not isinstance(r, NotLabelled)]
    fuzz, cands, tasks = {}, {}, []
    for i in live:
        row = rows[i]
        fuzz[i] = fuzz_inputs(row, params)
        tasks.append(reference_tasks(row["reference"], fuzz[i], row["entry_point"], params.max_steps))
    for i in live:
        cands[i] = candidates(rows[i], extra.get(rows[i]["problem_id"], []), params)
        tasks += [_task(rows[i], c, [t["assert_src"] for t in rows[i]["tests"]], [_pool(rows[i])]) for c in cands[i]]
    results = iter(run(tasks) if tasks else [])
    fuzz_tests = {}
    for i in live:
        result = next(results)
        v = verified(result, fuzz[i], ["fuzz"] * len(fuzz[i]), 0) if result.verdict != "sandbox_error" else None
        fuzz_tests[i] = v.tests(rows[i]["entry_point"]) if v is not None else []
    first = {i: [next(results) for _ in cands[i]] for i in live}

    again, owners = [], []
    for i in live:
        packs = [fuzz_tests[i][k:k + PACK] for k in range(0, len(fuzz_tests[i]), PACK)]
        for j, (c, r) in enumerate(zip(cands[i], first[i], strict=True)):
            if packs and _agrees(rows[i], r) == (True, True):
                again.append(_task(rows[i], c, [], packs))
                owners.append((i, j))
    second = dict(zip(owners, run(again) if again else [], strict=True))

    out: list[list[dict] | Exception] = []
    for i, row in enumerate(rows):
        if isinstance(row, NotLabelled):
            out.append(row)
            continue
        out.append([_label(row, c, first[i][j], second.get((i, j)), fuzz_tests[i])
                    for j, c in enumerate(cands[i])])
    return out


def _task(row: dict, c: Candidate, singles: list[str], groups: list[list[dict]]) -> Task:
    packs = [pack([t["assert_src"] for t in g[k:k + PACK]]) for g in groups for k in range(0, len(g), PACK)]
    return Task(c.program, singles + packs, timeout_s=2 * float(row.get("timeout_s") or 1.0), max_timeouts=1,
                each=True)


def _packs_of(tests: list[dict]) -> list[list[dict]]:
    return [tests[k:k + PACK] for k in range(0, len(tests), PACK)]


def _suite_verdicts(row: dict, r: ExecResult) -> list[str]:
    n = len(row["tests"])
    verdicts = [t.get("verdict", "failed") for t in r.tests[:n]]
    return verdicts + [r.verdict if r.verdict != "passed" else "failed"] * (n - len(verdicts))


def _first_bad(r: ExecResult, offset: int, tests: list[dict]) -> tuple[str, dict] | None:
    """(verdict, test) of the first packed test (from test `offset` of `r`) that did not pass."""
    for g, group in enumerate(_packs_of(tests)):
        for v, t in zip(packed_verdicts(r, offset + g, len(group)), group, strict=True):
            if v != "passed":
                return v, t
    return None


def _agrees(row: dict, r: ExecResult) -> tuple[bool, bool]:
    """(suite passed, pool agrees) from a round-A result."""
    suite_ok = r.program_error is None and all(v == "passed" for v in _suite_verdicts(row, r))
    return suite_ok, r.program_error is None and _first_bad(r, len(row["tests"]), _pool(row)) is None


def _label(row: dict, c: Candidate, r: ExecResult, r2: ExecResult | None, fuzz: list[dict]) -> dict:
    verdicts = _suite_verdicts(row, r)
    suite_passed, pool_agrees = _agrees(row, r)
    originals = [v for v, t in zip(verdicts, row["tests"], strict=True) if t.get("origin") == "original"]
    oracle = where = bad = None
    fuzz_agrees = None
    if not suite_passed:
        k = next((k for k, v in enumerate(verdicts) if v != "passed"), 0)
        oracle, bad = "suite", (r.program_error or {}).get("verdict") or verdicts[k]
        where = row["tests"][k].get("input") or row["tests"][k].get("assert_src")
    elif not pool_agrees:
        bad, t = _first_bad(r, len(row["tests"]), _pool(row)) or ("failed", {})
        oracle, where = "pool", t.get("input")
    elif fuzz:
        miss = _first_bad(r2, 0, fuzz) if r2 is not None else ("not_run", {})
        fuzz_agrees = miss is None
        if miss is not None:
            oracle, (bad, t) = "fuzz", miss
            where = t.get("input")
    else:
        fuzz_agrees = True
    label = oracle is None
    return {
        "problem_id": row["problem_id"],
        "prompt": normalise_prompt(row.get("prompt") or ""),
        "completion": c.completion,
        "program": c.program,
        "origin": c.origin,
        "canonical": c.canonical,
        "continues_prompt": c.continues_prompt,
        "copies": c.copies,
        "verdicts": verdicts,
        "pass_ratio": round(sum(v == "passed" for v in verdicts) / len(verdicts), 6) if verdicts else 0.0,
        "verdict": "passed" if label else bad or r.verdict,
        "label": label,
        "suite_passed": suite_passed,
        "original_passed": (r.program_error is None and all(v == "passed" for v in originals)) if originals else None,
        "oracle": oracle,
        "first_difference": where[:2000] if where else None,
        "pool_agrees": pool_agrees,
        "fuzz_agrees": fuzz_agrees,
        "n_tests": len(verdicts),
        "n_pool": len(_pool(row)),
        "n_fuzz": len(fuzz),
        "trust": "isolated" if r.tests and r.isolated and (r2 is None or r2.isolated) else "in_process",
    }


def pairs(labels: list[dict], params: PairParams) -> list[tuple[dict, dict]]:
    """Chosen/rejected pairs of one prompt, by the configured rule, at most max_pairs_per_prompt.
    Only canonical candidates pair, and only with a side of the same form (both continue the
    prompt, or both are whole programs): a program that does not parse, or one that restates the
    prompt, differs in form, not only in behaviour."""
    labels = [c for c in labels if c.get("canonical", True)]
    if params.require_isolated:
        labels = [c for c in labels if c.get("trust", "isolated") == "isolated"]
    if params.rule == "plum":
        chosen = [c for c in labels if c["label"]]
        rejected = [c for c in labels if not c["label"]]
        ok = lambda c, r: True  # noqa: E731
    else:
        chosen = [c for c in labels if c["label"] and c["pass_ratio"] >= params.min_chosen_ratio]
        rejected = list(labels)
        ok = lambda c, r: c["pass_ratio"] - r["pass_ratio"] >= params.min_gap  # noqa: E731
    key = lambda c: (c["origin"], c["completion"])  # noqa: E731
    combos = [(c, r) for c in sorted(chosen, key=key) for r in sorted(rejected, key=key)
              if c is not r and ok(c, r) and c.get("continues_prompt") == r.get("continues_prompt")]
    rng = _rng(params.seed, labels[0]["problem_id"] if labels else "")
    rng.shuffle(combos)
    if not params.balance_length:
        return combos[:params.max_pairs_per_prompt]
    # length must not tell them apart either (mutants that drop a branch are shorter than the
    # reference): pairs are taken in couples, one whose chosen is the longer and one whose
    # rejected is, by the same number of characters or as near as there is, then pairs of equal
    # lengths; what cannot be balanced is left out
    longer, shorter, equal = [], [], []
    for c, r in combos:
        d = len(c["completion"]) - len(r["completion"])
        (longer if d > 0 else shorter if d < 0 else equal).append((abs(d), c, r))
    longer.sort(key=lambda x: x[0])
    shorter.sort(key=lambda x: x[0])
    couples = []
    for a, c, r in longer:
        if not shorter:
            break
        k = min(range(len(shorter)), key=lambda i: (abs(shorter[i][0] - a), i))
        if abs(shorter[k][0] - a) <= max(2, a // 4):
            b, c2, r2 = shorter.pop(k)
            couples.append(((c, r), (c2, r2)))
    out = []
    for one, two in couples:
        if len(out) + 2 > params.max_pairs_per_prompt:
            break
        out += [one, two] if rng.random() < 0.5 else [two, one]
    for _, c, r in equal:
        if len(out) >= params.max_pairs_per_prompt:
            break
        out.append((c, r))
    return out


def first_failure(verdicts: list[str]) -> str:
    return next((v for v in verdicts if v != "passed"), "passed")
