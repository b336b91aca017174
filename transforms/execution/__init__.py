"""The execution sandbox: the shared service that runs model-written code (see sandbox.py)."""

from codekiln.transforms.execution.sandbox import (
    VERDICTS,
    ExecResult,
    Probe,
    SandboxConfig,
    SandboxPool,
    SandboxUnavailable,
    Task,
)

__all__ = ["VERDICTS", "ExecResult", "Probe", "SandboxConfig", "SandboxPool", "SandboxUnavailable", "Task"]
