"""LintSeq: synthetic edit sequences (see core.py)."""

from codekiln.transforms.lintseq.core import (
    DIFF_TOKEN,
    EditPath,
    Job,
    ProgramRejected,
    apply_edits,
    completion_edits,
    lintseq_batch,
    sample_edit_paths,
    training_text,
)
from codekiln.transforms.lintseq.linter import RULES, Ruff

__all__ = ["DIFF_TOKEN", "RULES", "EditPath", "Job", "ProgramRejected", "Ruff", "apply_edits",
           "completion_edits", "lintseq_batch", "sample_edit_paths", "training_text"]
