"""Live per-stage counts while a local build runs, and the summary table at the end."""

from __future__ import annotations

import sys

from codekiln.pipelines.building.build import BuildResult
from codekiln.pipelines.config import DatasetConfig
from codekiln.pipelines.storage import manifest
from rich.console import Console
from rich.live import Live
from rich.table import Table

console = Console(stderr=False)


def _table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title, title_justify="left", box=None, header_style="bold")
    for col in ("stage", "in", "out", "rejected", "reasons"):
        t.add_column(col, justify="left" if col in ("stage", "reasons") else "right")
    for r in rows:
        reasons = ", ".join(f"{k}={v}" for k, v in r["reasons"].items())
        t.add_row(r["stage"], str(r["in"]), str(r["out"]), str(r["rejected"]), reasons)
    return t


class BuildView:
    """A rich Live table fed by the build's progress poller (only on a terminal)."""

    def __init__(self, cfg: DatasetConfig, enabled: bool = True):
        self.cfg = cfg
        self.live = Live(console=console, refresh_per_second=8, transient=True) \
            if enabled and sys.stdout.isatty() else None

    def __enter__(self):
        if self.live:
            self.live.__enter__()
            self.update([])
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.__exit__(*exc)

    def update(self, stages: list[dict]) -> None:
        """`stages`: the per-stage counts so far (`counts_table` rows)."""
        if self.live:
            self.live.update(_table(f"building {self.cfg.name} ...", stages))


def print_summary(result: BuildResult) -> None:
    m = result.manifest
    if result.stages:
        console.print(_table(f"{result.dataset}: per-stage counts", result.stages))
    rows = manifest.rows(m)
    for stage, u in ((result.llm or {}).get("stages") or {}).items():
        console.print(f"{stage}: {u['requests_sent']} requests sent, {u['cache_hits']} cache hits, "
                      f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens, "
                      f"{u['rejected']} failed"
                      + (f"; the server ignored n: {u['requests_per_choice']} requests of one choice each"
                         if u.get("n_ignored") else ""), soft_wrap=True)
    d = m.get("decontamination")
    if d:
        per = ", ".join(f"{b} {v['contaminated_rows']}" for b, v in d["benchmarks"].items())
        console.print(f"{result.dataset}: decontaminated: {d['contaminated_rows']} rows contaminated ({per})",
                      soft_wrap=True)
    n = m.get("near_dedupe")
    if n:
        console.print(f"{result.dataset}: near-duplicates: {n['duplicate_rows']} rows removed "
                      f"(Jaccard >= {n['threshold']:g}, {n['num_perm']} permutations)", soft_wrap=True)
    if result.status == "unchanged":
        console.print(f"[bold]{result.dataset}[/bold]: unchanged, same content as "
                      f"{m['version']} (fingerprint {m['fingerprint'][:12]}); no new version", soft_wrap=True)
    else:
        console.print(f"[bold]{result.dataset}[/bold]: created [bold]{m['version']}[/bold] with "
                      f"{rows} rows and {m['rejects']['rows']} rejects (fingerprint {m['fingerprint'][:12]})", soft_wrap=True)
