"""Real samples as candidates: rows in EvalPlus's `samples.jsonl` shape, joined to problems.

A sample is `{"task_id": ..., "solution": full program}` or `{"task_id": ..., "completion":
text to append to the problem's prompt}`, any number per problem. Each becomes a candidate of
its problem with `origin` `sample:<source name>`; a sample for a problem the tests do not have is
a reject (`unknown_problem`), never dropped.
"""

from __future__ import annotations

from codekiln.schemas import content_id
from codekiln.transforms.preferences.render import (
    MAX_CHARS,  # what can be rendered can be a candidate
)
from codekiln.transforms.stage import Reject


def sample_record(data: dict, source: str, location: str) -> dict:
    """One validated sample, as the record the labels graph joins by problem id."""
    task_id = data.get("task_id")
    if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or str(task_id) == "":
        raise Reject("missing_field", "task_id: a sample names its problem")
    solution, completion = data.get("solution"), data.get("completion")
    text = solution if isinstance(solution, str) else completion if isinstance(completion, str) else None
    if text is None:
        raise Reject("missing_field", "solution or completion: a sample needs its program (a string)")
    if len(text) > MAX_CHARS:
        raise Reject("too_large", f"the program has {len(text)} characters (at most {MAX_CHARS})")
    return {"id": content_id("sample", source, location), "_sample": {
        "problem_id": str(task_id), "text": text, "is_completion": not isinstance(solution, str),
        "origin": f"sample:{source}", "location": location}}


def as_candidate(sample: dict, prompt: str) -> tuple[str, str]:
    """(program, origin): a completion is appended to the prompt, as EvalPlus does."""
    text = sample["text"]
    return (prompt + text if sample["is_completion"] else text), sample["origin"]
