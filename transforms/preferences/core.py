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

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass

from codekiln.transforms import pyast
from codekiln.transforms.execution.sandbox import ExecResult, Task
from codekiln.transforms.preferences.render import normalise_prompt, render
from codekiln.transforms.rng import seeded_rng
from codekiln.transforms.testgen import contract as contracts
from codekiln.transforms.testgen import traced
from codekiln.transforms.testgen.mutants import mutants as make_mutants
from codekiln.transforms.testgen.suite import (
    TestgenParams,
    Verified,
    answers,
    first_line,
    judge_programs,
    rng_for,
    run_traced,
    trust_of,
    verified,
)

RULES = ("plum", "acecoder")
FORMATS = ("standard", "conversational")


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
    return seeded_rng(seed, key)


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
    rendered = render(text, prompt, entry)
    if rendered is None:  # does not parse (or is too large to render): kept as written (normalised line ends)
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


_UNREADABLE = object()


def _literal(text: str | None):
    try:
        return pyast.literal_eval(text) if text else _UNREADABLE
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return _UNREADABLE


def pool_of(row: dict) -> Verified:
    """The row's verified pool as inputs and expected values (read back from their literals)."""
    v = Verified()
    for t in row.get("pool") or []:
        args, expected = _literal(t.get("input")), _literal(t.get("expected"))
        if isinstance(args, tuple) and expected is not _UNREADABLE:
            v.inputs.append(args)
            v.expected.append(expected)
            v.origins.append(t.get("origin") or "mutation")
    return v


def fuzz_inputs(row: dict, params: LabelParams, pool: Verified | None = None) -> list[tuple]:
    """Fresh inputs inside the row's contract, none of them in its pool (deterministic)."""
    if not params.fuzz_inputs or not row.get("contract"):
        return []
    contract = contracts.Contract.from_json(row["contract"])
    base = (pool if pool is not None else pool_of(row)).inputs
    return contracts.generate(contract, base, params.fuzz_inputs,
                              rng_for(params.seed, row["problem_id"], "fuzz"), exclude={repr(a) for a in base})


def _step_budget(row: dict, steps: list[int]) -> int:
    """The row's budget, or the `tests` rule over the fresh inputs' steps when that is larger."""
    return max(int(row.get("step_budget") or 0), TestgenParams().step_budget(steps))


def label_rows(rows: list[dict], extra: dict[str, list[tuple[str, str]]], params: LabelParams,
               run: Callable[[list[Task]], list[ExecResult]]) -> list[list[dict] | Exception]:
    """Every candidate of every problem against that problem's oracle: the reference on fresh
    inputs; every candidate traced on the whole pool (so its suite's generated tests too), then
    on the original tests; the candidates that agreed so far, traced on the fresh inputs. Each
    answer is judged on the host; too slow means past a step budget, never a clock."""
    rows = [_trusted(row, params) for row in rows]
    live = [i for i, r in enumerate(rows) if not isinstance(r, NotLabelled)]
    pools = {i: pool_of(rows[i]) for i in live}
    fuzz_in = {i: fuzz_inputs(rows[i], params, pools[i]) for i in live}
    refs = run_traced(run, [(rows[i]["reference"], fuzz_in[i], rows[i]["entry_point"], params.max_steps, (), 3)
                            for i in live]) if live else []
    fuzz, cands, jobs = {}, {}, []
    for i, result in zip(live, refs, strict=True):
        row = rows[i]
        fuzz[i] = verified(result, fuzz_in[i], ["fuzz"] * len(fuzz_in[i]), 0) if result.verdict != "sandbox_error" \
            else Verified()
        cands[i] = candidates(row, extra.get(row["problem_id"], []), params)
        singles = [t["assert_src"] for t in row["tests"] if t.get("input") is None]
        budget = _step_budget(row, fuzz[i].steps)
        jobs += [(c.program, row["entry_point"], pools[i], singles, budget, float(row.get("timeout_s") or 1.0))
                 for c in cands[i]]
    outcomes = iter(judge_programs(jobs, run))
    first = {i: [next(outcomes) for _ in cands[i]] for i in live}

    again, owners = [], []
    for i in live:
        for j, (c, o) in enumerate(zip(cands[i], first[i], strict=True)):
            if fuzz[i].inputs and _suite(rows[i], pools[i], o)[1] and all(v == "passed" for v in o.pool):
                again.append((c.program, fuzz[i].inputs, rows[i]["entry_point"],
                              _step_budget(rows[i], fuzz[i].steps), (), 1))
                owners.append((i, j))
    second = dict(zip(owners, run_traced(run, again) if again else [], strict=True))

    out: list[list[dict] | Exception] = []
    for i, row in enumerate(rows):
        if isinstance(row, NotLabelled):
            out.append(row)
            continue
        out.append([_label(row, c, first[i][j], pools[i], fuzz[i], second.get((i, j)))
                    for j, c in enumerate(cands[i])])
    return out


def _suite(row: dict, pool: Verified, o) -> tuple[list[str], bool]:
    """The verdict of each suite test (a generated test is its input's pool verdict) and
    whether all passed."""
    at = {repr(a): k for k, a in enumerate(pool.inputs)}
    singles = iter(o.singles if o.singles is not None else [])
    verdicts = []
    for t in row["tests"]:
        if t.get("input") is None:  # a single test: run unless the program was already wrong by load or speed
            if o.singles is not None:
                verdicts.append(next(singles, "not_run"))
            elif not o.loaded:
                verdicts.append(o.pool[0] if o.pool else "failed")
            else:
                verdicts.append("too_slow" if o.too_slow else "not_run")
        else:
            args = _literal(t["input"])
            k = at.get(repr(args))
            verdicts.append(o.pool[k] if k is not None else "not_run")
    return verdicts, o.loaded and all(v == "passed" for v in verdicts)


def _label(row: dict, c: Candidate, o, pool: Verified, fuzz: Verified, r2: ExecResult | None) -> dict:
    verdicts, suite_passed = _suite(row, pool, o)
    originals = [v for v, t in zip(verdicts, row["tests"], strict=True) if t.get("origin") == "original"
                 and t.get("input") is None]
    pool_agrees = o.loaded and all(v == "passed" for v in o.pool)
    fuzz_verdicts = ([traced.verdict(rec, exp) for rec, exp in zip(answers(r2, len(fuzz.inputs)), fuzz.expected,
                                                                   strict=True)] if r2 is not None else None)
    oracle = where = bad = None
    if not suite_passed:
        k = next((k for k, v in enumerate(verdicts) if v != "passed"), 0)
        oracle, bad = "suite", verdicts[k] if verdicts else "failed"
        where = row["tests"][k].get("input") or row["tests"][k].get("assert_src")
    elif not pool_agrees:
        k = next(k for k, v in enumerate(o.pool) if v != "passed")
        oracle, bad, where = "pool", o.pool[k], repr(pool.inputs[k])
    elif fuzz_verdicts and any(v != "passed" for v in fuzz_verdicts):
        k = next(k for k, v in enumerate(fuzz_verdicts) if v != "passed")
        oracle, bad, where = "fuzz", fuzz_verdicts[k], repr(fuzz.inputs[k])
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
        "verdict": "passed" if label else bad,
        "label": label,
        "suite_passed": suite_passed,
        "original_passed": (all(v == "passed" for v in originals) if "not_run" not in originals else None)
        if originals else None,
        "oracle": oracle,
        "first_difference": where[:2000] if where else None,
        "pool_agrees": pool_agrees,
        "fuzz_agrees": None if fuzz_verdicts is None else all(v == "passed" for v in fuzz_verdicts),
        "n_tests": len(verdicts),
        "n_pool": len(pool.inputs),
        "n_fuzz": len(fuzz.inputs),
        "trust": "isolated" if o.trust == "isolated" and (r2 is None or r2.isolated) else "in_process",
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
