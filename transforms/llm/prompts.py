"""Prompt templates: small files in `transforms/llm/templates/`, one per use.

A template has `### system` / `### user` / `### assistant` sections; `{field}` is replaced by the
record's field (`{{` and `}}` are literal braces). Its version is the hash of the file, recorded
with every row a model produced, so each row can be traced to the exact prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECTION = re.compile(r"^### (system|user|assistant)\s*$", re.MULTILINE)


class MissingField(KeyError):
    pass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    sections: tuple[tuple[str, str], ...]  # (role, text)
    version: str

    @classmethod
    def load(cls, name: str) -> PromptTemplate:
        path = TEMPLATES / f"{name}.prompt"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in TEMPLATES.glob("*.prompt")))
            raise FileNotFoundError(f"no prompt template {name!r} (known: {known})")
        return cls.parse(name, path.read_text())

    @classmethod
    def parse(cls, name: str, text: str) -> PromptTemplate:
        parts = _SECTION.split(text)
        sections = tuple((parts[i], parts[i + 1].strip("\n")) for i in range(1, len(parts), 2))
        if not sections:
            raise ValueError(f"template {name!r} has no '### system' or '### user' section")
        return cls(name, sections, hashlib.sha256(text.encode()).hexdigest()[:12])

    @property
    def fields(self) -> set[str]:
        return {m.group(1) for _, t in self.sections for m in _FIELD.finditer(t) if m.group(1)}

    def render(self, record: dict) -> list[dict]:
        def sub(m: re.Match) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            value = record.get(m.group(1))
            if value is None:
                raise MissingField(m.group(1))
            return str(value)

        return [{"role": role, "content": _FIELD.sub(sub, text)} for role, text in self.sections]
