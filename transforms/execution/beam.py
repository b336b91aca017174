"""The sandbox inside Beam: a DoFn that holds a warm pool per worker and runs batches."""

from __future__ import annotations

import apache_beam as beam
from codekiln.transforms.execution.sandbox import SandboxConfig, SandboxPool, Task


class _ExecuteBatchDoFn(beam.DoFn):
    def __init__(self, cfg: SandboxConfig, cache_dir: str | None):
        self.cfg = cfg
        self.cache_dir = cache_dir

    def setup(self):
        self.pool = SandboxPool(self.cfg, self.cache_dir)

    def process(self, batch):
        results = self.pool.run_many([task for _, task in batch])
        for (key, _), result in zip(batch, results, strict=True):
            yield key, result

    def teardown(self):
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close()


class PooledFn:
    """Base of stage functions that execute code: a warm sandbox pool per worker, opened in the
    DoFn's setup and closed in its teardown (the stage wrappers call both)."""

    def __init__(self, sandbox: SandboxConfig, cache_dir: str | None):
        self.sandbox, self.cache_dir = sandbox, cache_dir
        self.pool: SandboxPool | None = None

    def setup(self):
        self.pool = SandboxPool(self.sandbox, self.cache_dir)

    def teardown(self):
        if self.pool is not None:
            self.pool.close()


class ExecuteTasks(beam.PTransform):
    """`(key, Task)` -> `(key, ExecResult)`, batched so every slot of the pool stays busy.

    Results are cached by content under `cache_dir` (a store path), so a retried bundle or a
    rerun does not execute again. `sandbox_error` results are returned, not raised: the caller
    decides (retried already inside the pool, never a verdict on the program).
    """

    def __init__(self, cfg: SandboxConfig, cache_dir: str | None = None,
                 min_batch_size: int = 4, max_batch_size: int = 64):
        super().__init__()
        self.cfg = cfg
        self.cache_dir = cache_dir
        self.min_batch_size = min_batch_size
        self.max_batch_size = max_batch_size

    def expand(self, pcoll):
        return (
            pcoll
            | "Batch" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                            max_batch_size=self.max_batch_size)
            | "Execute" >> beam.ParDo(_ExecuteBatchDoFn(self.cfg, self.cache_dir))
        )


__all__ = ["ExecuteTasks", "Task"]
