"""A version's manifest, typed: what `manifest.json` holds and the figures derived from it.

The JSON file is the contract (readers in other languages, the Hub copy, `codekiln show`), so
the store keeps handing out the parsed JSON; `Manifest.of(m)` is its validated, typed view and
the one place the sums live (rows over splits, ...). The store validates every manifest it
reads with this model: one that does not fit is reported as broken, never half-read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Split(_Part):
    rows: int
    files: list[str]
    content_hash: str


class Rejects(_Part):
    rows: int
    files: list[str]
    by_stage: dict[str, dict[str, int]] = {}
    content_hash: str


class StageCounts(_Part):
    stage: str
    in_: int = 0
    out: int = 0
    rejected: int = 0
    reasons: dict[str, int] = {}

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True,
                              alias_generator=lambda name: "in" if name == "in_" else name)


class FileEntry(_Part):
    rows: int
    bytes: int
    sha256: str


class Column(_Part):
    name: str
    type: str
    nullable: bool


class Manifest(_Part):
    dataset: str
    version: str
    version_number: int
    kind: str
    method: str = ""
    created_at: str = ""
    codekiln_version: str = ""
    git_revision: str | None = None
    description: str = ""
    license: str | None = None
    parent: str | None = None
    config: dict[str, Any] = {}
    config_sha256: str = ""
    beam_args: list[str] = []
    sources: list[dict[str, Any]] = []
    splits: dict[str, Split]
    rejects: Rejects
    stages: list[StageCounts] = []
    llm: dict[str, Any] | None = None
    sandbox: dict[str, Any] | None = None
    quality: dict[str, Any] = {}
    schema_: list[Column] = []
    files: dict[str, FileEntry] = {}
    fingerprint: str

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True,
                              alias_generator=lambda name: "schema" if name == "schema_" else name)

    @classmethod
    def of(cls, manifest: dict) -> Manifest:
        return cls.model_validate(manifest)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits.values())


# The figures readers derive, over a manifest the store has validated (not validated again on
# every read: `ls` and the catalog go through every version).


def rows(manifest: dict) -> int:
    """Data rows over every split."""
    return sum(s["rows"] for s in manifest["splits"].values())


def per_split(manifest: dict, fmt: str = "{split} {rows:,}") -> str:
    return ", ".join(fmt.format(split=k, rows=v["rows"]) for k, v in sorted(manifest["splits"].items()))
