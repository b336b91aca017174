"""Run TRL recipes exactly as written, in a fresh interpreter:
`python -m tests.trl_runner JOBS.json OUT.json`.

Each job names a recipe's Python source (a card's or the README's code block), the model folder
to use and where its output goes. Only the user's knobs are changed, each of which must be found
exactly once: `model_id = "..."`, `output_dir="..."` and `max_steps=-1`; everything else runs
verbatim. Per job the result records the final training loss, every warning raised and every
WARNING-or-worse record logged (TRL and transformers log their data warnings), and the
token length of each sequence the trainer built, against its `max_length`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
import warnings

KNOBS = [
    (re.compile(r'^model_id = "[^"\n]*"', re.M), 'model_id = "{model}"'),
    (re.compile(r'output_dir="[^"\n]*"'), 'output_dir="{output}"'),
    (re.compile(r"max_steps=-1\b"), "max_steps={steps}"),
]


def with_knobs(code: str, model: str, output: str, steps: int) -> str:
    for pattern, template in KNOBS:
        code, n = pattern.subn(template.format(model=model, output=output, steps=steps).replace("\\", "\\\\"), code)
        if n != 1:
            raise ValueError(f"the recipe has {n} matches of {pattern.pattern!r}, not one")
    return code


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"{record.name}: {record.getMessage()}")


def trained_lengths(trainer) -> dict[str, list[int]]:
    """The token length of every sequence the trainer built from the rows (its own tokenisation:
    chat template, EOS, KTO's mismatched KL pairs), before its collator cuts at max_length, per
    kind of sequence, in row order."""
    ds = trainer.train_dataset
    cols = ds.column_names
    if "input_ids" in cols:  # SFT
        return {"input_ids": [len(ids) for ids in ds["input_ids"]]}
    prompts = ds["prompt_ids"]  # DPO: chosen/rejected; KTO: completion and its KL pair
    return {side: [len(p) + len(c) for p, c in zip(prompts, ds[side], strict=True)]
            for side in ("chosen_ids", "rejected_ids", "completion_ids", "KL_completion_ids") if side in cols}


def forget_warnings_shown() -> None:
    """transformers' and accelerate's `warning_once` remember what they said: a warning that an
    earlier job raised must be raised again by the next."""
    import logging as std

    from accelerate.logging import MultiProcessAdapter

    for fn in (getattr(std.Logger, "warning_once", None), MultiProcessAdapter.warning_once):
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


def run(job: dict) -> dict:
    code = with_knobs(job["code"], job["model"], job["output"], job.get("steps", 2))
    forget_warnings_shown()
    handler = Records()
    for name in ("trl", "transformers", "datasets", "accelerate"):
        logging.getLogger(name).addHandler(handler)
    namespace: dict = {"__name__": "__recipe__"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(code, f"<recipe {job['name']}>", "exec"), namespace)
        except Exception:
            return {"name": job["name"], "error": traceback.format_exc(), "code": code}
    for name in ("trl", "transformers", "datasets", "accelerate"):
        logging.getLogger(name).removeHandler(handler)
    trainer = namespace["trainer"]
    history = trainer.state.log_history
    losses = [h["train_loss"] for h in history if "train_loss" in h]
    max_length = getattr(trainer.args, "max_length", None)
    return {
        "name": job["name"], "error": None, "code": code,
        "steps": trainer.state.global_step, "train_loss": losses[-1] if losses else None,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "logged": handler.messages,
        "max_length": max_length,
        "lengths": trained_lengths(trainer),
        "rows": len(namespace["ds"]),
        "columns": list(namespace["ds"].column_names),
    }


def main(argv: list[str]) -> int:
    jobs = json.loads(open(argv[0]).read())
    results = [run(job) for job in jobs]
    with open(argv[1], "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
