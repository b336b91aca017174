"""The `efas` and `efa_variants` kinds' parameters (importable without Beam), and their stages."""

from __future__ import annotations

from dataclasses import dataclass

from codekiln.transforms.efa.contract import TESTS

MAX_K = 1000  # samples per test
MAX_VARIANTS = 10_000  # variants per EFA


@dataclass(frozen=True)
class EfaParams:
    k: int = 10  # samples for has_dof and is_single_valued
    batch_size: int = 8
    llm_samples: int = 1  # requests per seed when an llm is configured (each with llm.n choices)

    def __post_init__(self):
        if self.k < 2 or self.batch_size < 1 or self.llm_samples < 0:
            raise ValueError("k must be >= 2, batch_size >= 1, llm_samples >= 0")
        if self.k > MAX_K:
            raise ValueError(f"k must be <= {MAX_K}")


@dataclass(frozen=True)
class VariantParams:
    variants_per_efa: int = 16
    seed: int = 1000  # variant i of an EFA is Problem.sample(random.Random(seed + i))
    batch_size: int = 8

    def __post_init__(self):
        if self.variants_per_efa < 1 or self.batch_size < 1:
            raise ValueError("variants_per_efa and batch_size must be >= 1")
        if self.variants_per_efa > MAX_VARIANTS:
            raise ValueError(f"variants_per_efa must be <= {MAX_VARIANTS}")


def funnel_sql(group_by: str = "") -> str:
    """The EFA funnel over `data` (one query for the manifest, the card and the report): the
    candidates, then how many pass each of the five tests in order (they run in order)."""
    cols = ", ".join(f"count(*) filter (where passed_tests >= {i + 1}) {t}" for i, t in enumerate(TESTS))
    if not group_by:
        return f"select count(*) candidates, {cols} from data"
    return f"select {group_by}, count(*) candidates, {cols} from data group by {group_by} order by {group_by}"
