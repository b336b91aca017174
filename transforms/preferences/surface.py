"""Whether surface features alone tell chosen from rejected: a check on preference data.

A pair whose chosen and rejected differ in layout (line endings, indentation, comments, blank
lines, `ast.unparse` form, a restated prompt, length) teaches a model the layout, not correctness.
`separability` trains trivial classifiers on those features only, pairwise (which side of a
randomly ordered pair is the chosen one: chance is 50%), with cross-validation by problem, and
returns their held-out accuracy. Near 0.5 means the surface carries no signal.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
import warnings

import numpy as np
from codekiln.transforms import pyast

FEATURES = ("crlf", "tabs", "indent_unit", "comments", "blank_lines", "unparse_form", "starts_with_prompt",
            "chars", "lines", "trailing_space")


def features(text: str, prompt: str = "", program: str | None = None) -> list[float]:
    """Surface features of one side of a pair (`text`: what the row holds; `program`: the
    whole program, for the `ast.unparse` round trip)."""
    lines = text.split("\n")
    indents = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip() and x.startswith(" ")]
    comments = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            comments += tok.type == tokenize.COMMENT
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comments = text.count("#")
    whole = program if program is not None else text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unparse_form = float(ast.unparse(pyast.parse(whole)).strip() == whole.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        unparse_form = 0.0
    head = prompt.strip()[:80]
    return [float("\r" in text), float("\t" in text), float(min(indents, default=0)), float(comments),
            float(sum(1 for x in lines[:-1] if not x.strip())), unparse_form,
            float(bool(head) and text.lstrip().startswith(head)), float(len(text)), float(len(lines)),
            float(sum(1 for x in lines if x != x.rstrip()))]


def _side(seed: int, key: str) -> bool:
    return hashlib.sha256(f"{seed}\0{key}".encode()).digest()[0] & 1 == 1


def pair_matrix(pairs: list[dict], seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """X: feature differences (first - second) of each pair in a seeded random order; y: 1 when
    the first side is the chosen one; groups: the problem of each pair."""
    xs, ys, groups = [], [], []
    for p in pairs:
        c = features(p["chosen"], p.get("prompt_text", ""), p.get("chosen_program"))
        r = features(p["rejected"], p.get("prompt_text", ""), p.get("rejected_program"))
        first_is_chosen = _side(seed, p["id"])
        a, b = (c, r) if first_is_chosen else (r, c)
        xs.append(np.array(a) - np.array(b))
        ys.append(1.0 if first_is_chosen else 0.0)
        groups.append(p["problem_id"])
    return np.array(xs).reshape(len(xs), len(FEATURES)), np.array(ys), groups


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 500, lr: float = 0.5, l2: float = 1e-3):
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return lambda q: ((q - mu) / sd) @ w + b > 0


def _stump(x: np.ndarray, y: np.ndarray):
    best = (0.0, 0, 0.0, True)
    for j in range(x.shape[1]):
        for t in np.unique(x[:, j]):
            for sign in (True, False):
                pred = (x[:, j] > t) if sign else (x[:, j] <= t)
                acc = float(np.mean(pred == (y == 1)))
                if acc > best[0]:
                    best = (acc, j, float(t), sign)
    _, j, t, sign = best
    return lambda q: (q[:, j] > t) if sign else (q[:, j] <= t)


def separability(pairs: list[dict], folds: int = 2, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of a logistic regression and of the best decision stump on surface
    features (cross-validated by problem, so one problem's pairs never train and test)."""
    x, y, groups = pair_matrix(pairs, seed)
    fold = np.array([int(hashlib.sha256(f"{seed}\0{g}".encode()).hexdigest(), 16) % folds for g in groups])
    out = {}
    for name, fit in (("logistic", _logistic), ("stump", _stump)):
        right = total = 0
        for k in range(folds):
            train, test = fold != k, fold == k
            if not test.any() or not train.any() or len(set(y[train])) < 2:
                continue
            predict = fit(x[train], y[train])
            right += int(np.sum(predict(x[test]) == (y[test] == 1)))
            total += int(test.sum())
        out[name] = round(right / total, 4) if total else 0.5
    out["pairs"] = len(pairs)
    return out
