"""The dataset card of a published version: Hub YAML metadata plus a body made from the manifest.

Everything on the card comes from the version's manifest and its kind's registry entry, so a
card can be rebuilt for any version at any time and says exactly what that version holds. The
`codekiln` block of the metadata (dataset, version, fingerprint) is how publishing recognises a
version that is already on a repo.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from codekiln.pipelines import kinds
from codekiln.pipelines.publishing import training
from codekiln.pipelines.storage.manifest import per_split as manifest_per_split
from codekiln.pipelines.storage.manifest import rows as manifest_rows
from codekiln.schemas import REJECT_SCHEMA, schema_to_json
from codekiln.transforms import fs
from huggingface_hub import DatasetCard, DatasetCardData

DATA_CONFIG = "default"
REJECTS_CONFIG = "rejects"


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if rows < bound:
            return label
    return "n>1T" if rows >= 10**12 else "1B<n<10B" if rows < 10**10 else "10B<n<100B" if rows < 10**11 else "100B<n<1T"


def arrow_schema(manifest: dict) -> pa.Schema:
    """The version's Arrow schema: its kind's schema for the params it was built with (checked
    against the manifest's record of it, so a card never declares other features)."""
    kind = kinds.KINDS[manifest["kind"]]
    params = kind.recorded_params(manifest["config"].get("params") or {})
    schema = kind.schema_of(params).arrow
    if schema_to_json(schema) != manifest["schema"]:
        raise ValueError(f"{manifest['dataset']}@{manifest['version']} was written with a schema this "
                         f"codekiln no longer has for kind {manifest['kind']!r}")
    return schema


def _uncompressed_bytes(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with fs.open_read(path) as f:
            meta = pq.read_metadata(f)
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


_DTYPES = {"double": "float64", "float": "float32", "halffloat": "float16"}


def hf_features(schema: pa.Schema) -> list[dict]:
    """An Arrow schema as the `features` of a card's `dataset_info` (what `datasets` writes and
    checks on load), without importing `datasets`; a type this does not know is left to it."""
    try:
        return [{"name": f.name, **_feature(f.type)} for f in schema]
    except NotImplementedError:
        from datasets import Features

        return Features.from_arrow_schema(schema)._to_yaml_list()


def _feature(t: pa.DataType) -> dict:
    if pa.types.is_struct(t):
        return {"struct": [{"name": t.field(i).name, **_feature(t.field(i).type)} for i in range(t.num_fields)]}
    if pa.types.is_list(t):
        return {"list": _inner(t.value_type)}
    return {"dtype": _dtype(t)}


def _inner(t: pa.DataType):
    if pa.types.is_struct(t):
        return [{"name": t.field(i).name, **_feature(t.field(i).type)} for i in range(t.num_fields)]
    if pa.types.is_list(t):
        return {"list": _inner(t.value_type)}
    return _dtype(t)


def _dtype(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t) or pa.types.is_integer(t) \
            or pa.types.is_floating(t):
        return _DTYPES.get(str(t), str(t))
    raise NotImplementedError(str(t))


def card_data(manifest: dict, data_files: dict[str, list[str]], reject_files: list[str],
              with_rejects: bool) -> DatasetCardData:
    """YAML metadata: license, task categories, size, tags, `configs` (data files per split) and
    `dataset_info` (features and row counts, which `datasets` verifies when it loads)."""
    kind = kinds.KINDS[manifest["kind"]]
    rows = manifest_rows(manifest)
    domains = sorted({(s.get("domain") or "") for s in manifest["config"].get("sources", [])} - {""})
    data = DatasetCardData(
        license=manifest.get("license") or "other",
        pretty_name=manifest["dataset"],
        task_categories=list(kind.task_categories),
        size_categories=[size_category(rows)],
        tags=sorted({"codekiln", manifest["kind"].replace("_", "-"), *kind.tags, *domains}),
    )
    configs = [{"config_name": DATA_CONFIG, "data_files": [{"split": split, "path": f"data/{split}-*.parquet"}
                                                           for split in sorted(manifest["splits"])]}]
    infos = [{"config_name": DATA_CONFIG, "features": hf_features(arrow_schema(manifest)),
              "splits": [{"name": split, "num_bytes": _uncompressed_bytes(data_files[split]),
                          "num_examples": manifest["splits"][split]["rows"]} for split in sorted(manifest["splits"])]}]
    if with_rejects and manifest["rejects"]["rows"]:
        configs.append({"config_name": REJECTS_CONFIG, "data_files": [{"split": "train", "path": "rejects/*.parquet"}]})
        infos.append({"config_name": REJECTS_CONFIG, "features": hf_features(REJECT_SCHEMA),
                      "splits": [{"name": "train", "num_bytes": _uncompressed_bytes(reject_files),
                                  "num_examples": manifest["rejects"]["rows"]}]})
    data.configs = configs
    # as `datasets` writes it: one config named `default` goes without its name
    data.dataset_info = ({k: v for k, v in infos[0].items() if k != "config_name"} if len(infos) == 1 else infos)
    data.codekiln = {"dataset": manifest["dataset"], "version": manifest["version"], "kind": manifest["kind"],
                     "fingerprint": manifest["fingerprint"], "config_sha256": manifest["config_sha256"]}
    return data


def build_card(manifest: dict, repo_id: str, data_files: dict[str, list[str]], reject_files: list[str],
               with_rejects: bool = True) -> DatasetCard:
    data = card_data(manifest, data_files, reject_files, with_rejects)
    body = card_body(manifest, repo_id, with_rejects and manifest["rejects"]["rows"] > 0, data_files)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


# ---------------------------------------------------------------------------------------------
# the body


def _table(rows: list[dict]) -> str:
    if not rows:
        return "_(none)_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        v = f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def public_path(path: str) -> str:
    """Local absolute paths are shown by file name only (they mean nothing off the build machine
    and may say more than intended); URLs and dataset references are shown as they are."""
    return os.path.basename(path) if os.path.isabs(path) else path


def public_manifest(manifest: dict) -> dict:
    """The manifest as shown outside the build machine: local source paths become file names."""
    out = dict(manifest, sources=[dict(s, path=public_path(s["path"])) for s in manifest["sources"]])
    out["config"] = dict(manifest["config"], sources=[dict(s, path=public_path(s["path"]))
                                                      for s in manifest["config"].get("sources", [])])
    return out


def config_yaml(manifest: dict) -> str:
    """The build config as YAML, with public paths (for cards and reports)."""
    return yaml.safe_dump(public_manifest(manifest)["config"], sort_keys=False, allow_unicode=True).rstrip()


def _sources(manifest: dict) -> str:
    rows = []
    for s in manifest["sources"]:
        if s["format"] == "dataset":
            what = f"codekiln dataset `{s.get('dataset', s['path'])}@{s.get('version', '?')}`"
            digest = f"fingerprint `{s['fingerprint'][:16]}`" if s.get("fingerprint") else ""
        else:
            what = f"`{public_path(s['path'])}` ({s['format']}, {s['files']} file{'s' * (s['files'] != 1)})"
            digest = f"sha256 `{s['sha256'][:16]}`"
        rows.append({"source": s["name"], "what": what, "license": s.get("license") or "not declared",
                     "fingerprint": digest})
    return _table(rows)


def _stages(manifest: dict) -> str:
    return _table([{"stage": st["stage"], "in": st["in"], "out": st["out"], "rejected": st["rejected"],
                    "reasons": ", ".join(f"{k}={v}" for k, v in sorted(st["reasons"].items()))}
                   for st in manifest["stages"]])


def _quality(manifest: dict) -> str:
    parts = []
    for name, rows in (manifest.get("quality") or {}).items():
        parts.append(f"**{name.replace('_', ' ')}**\n\n{_table(rows)}")
    return "\n\n".join(parts) or "_This kind records no quality figures._"


def filter_tables(m: dict) -> list[tuple[str, list[dict]]]:
    """(caption, rows) for what decontamination and near-dedupe did (cards and reports)."""
    out = []
    d = m.get("decontamination")
    if d:
        out.append((f"Decontamination: a row is rejected (`contaminated`) when a field ({', '.join(d['fields'])}) "
                    f"holds a benchmark item's prompt or solution: its exact normalised text, or at least "
                    f"{d['threshold']:.0%} of its {d['ngram']}-grams of normalised words"
                    + (" (code also with identifiers abstracted)" if d.get("code") else ""),
                    [{"benchmark": name, "items": b["items"], "license": b["license"],
                      "contaminated rows": b["contaminated_rows"]} for name, b in d["benchmarks"].items()]))
    n = m.get("near_dedupe")
    if n:
        out.append((f"Near-duplicates: MinHash-LSH over {n['ngram']}-grams of normalised words of "
                    f"{', '.join(n['fields'])}; of each cluster (estimated Jaccard >= {n['threshold']:g}) "
                    "the smallest id is kept, the others are rejected (`near_duplicate`)",
                    [{"removed rows": n["duplicate_rows"], "document": n["document"], "permutations": n["num_perm"],
                      "bands x rows": f"{n['bands']} x {n['rows_per_band']}", "library": n["library"]}]))
    return out


def filter_notes(m: dict) -> list[str]:
    """What was not done, said as plainly as what was."""
    notes = []
    if not m.get("decontamination"):
        notes.append("Not decontaminated: no benchmark was checked (config `decontaminate:`).")
    if not m.get("near_dedupe"):
        notes.append("Near-duplicates were not removed, only exact duplicate ids (config `dedupe: {near: true}`).")
    return notes


def _filters(m: dict) -> str:
    parts = [f"{caption}.\n\n{_table(rows)}" for caption, rows in filter_tables(m)]
    return "\n\n".join(parts + [f"_{note}_" for note in filter_notes(m)])


def _usage(manifest: dict, repo_id: str, with_rejects: bool, data_files: dict[str, list[str]]) -> str:
    version = manifest["version"]
    split = "train" if "train" in manifest["splits"] else sorted(manifest["splits"])[0]
    kind = kinds.KINDS[manifest["kind"]]
    text = f"""```python
from datasets import load_dataset

ds = load_dataset("{repo_id}", split="{split}", revision="{version}")  # this version; omit revision for the newest
```

With DuckDB, straight from the Hub:

```sql
SELECT * FROM 'hf://datasets/{repo_id}@{version}/data/*.parquet' LIMIT 10;
```"""
    if with_rejects:
        text += f"""

Every input that did not become a row is in the `{REJECTS_CONFIG}` config, with the stage and the reason:

```python
rejects = load_dataset("{repo_id}", "{REJECTS_CONFIG}", split="train", revision="{version}")
```"""
    if kind.training:
        text += "\n\n### Training\n\n" + training_section(manifest, repo_id, data_files)
    return text


def training_section(manifest: dict, repo_id: str, data_files: dict[str, list[str]]) -> str:
    """The kind's TRL recipe for this version (KTO weights from its own label counts)."""
    kind = kinds.KINDS[manifest["kind"]]
    split = manifest["config"].get("split") or sorted(manifest["splits"])[0]
    counts = label_counts(data_files.get(split, [])) if kind.training.trainer == "KTO" else None
    text = training.render(kind.training, load=training.card_load(repo_id, split, manifest["version"]),
                           name=manifest["dataset"], label_counts=counts, diff_token=training.diff_token(manifest))
    return text + (f"\n\nProven with TRL {training.TRL_VERSION} (codekiln runs this recipe on its demo "
                   "outputs in CI).")


def label_counts(paths: list[str]) -> tuple[int, int]:
    """(passing, failing) rows of a split's files."""
    yes = total = 0
    for path in paths:
        with fs.open_read(path) as f:
            column = pq.read_table(f, columns=["label"]).column("label")
        yes += pc.sum(column).as_py() or 0
        total += len(column)
    return yes, total - yes


def card_body(manifest: dict, repo_id: str, with_rejects: bool, data_files: dict[str, list[str]]) -> str:
    m = manifest
    rows, splits = manifest_rows(m), manifest_per_split(m, "`{split}` {rows:,}")
    sandbox = ""
    if m.get("sandbox"):
        sandbox = (f"\n\nCode was executed in codekiln's sandbox (isolation `{m['sandbox']['isolation']}`; "
                   f"profile in the manifest).")
    llm = ""
    if m.get("llm"):
        llm = f"\n\nModel outputs came from `{m['llm'].get('model', '?')}` (usage in the manifest)."
    schema = _table([{"column": f["name"], "type": f"`{f['type']}`", "nullable": f["nullable"]} for f in m["schema"]])
    licenses = sorted({s.get("license") or "not declared" for s in m["sources"]})
    return f"""# {m['dataset']}

{m.get('description') or ''}

Version **{m['version']}** of `{m['dataset']}`, a `{m['kind']}` dataset built by
codekiln {m['codekiln_version']} on {m['created_at']}
(git `{(m.get('git_revision') or 'unknown')[:12]}`). Fingerprint `{m['fingerprint']}`:
a rebuild from the same config and inputs gives the same fingerprint.

## Method

{m['method']}.{sandbox}{llm}

## Contents

{rows:,} rows ({splits}) and {m['rejects']['rows']:,} rejects. Nothing is dropped silently: every
record a stage takes in leaves it as output or as a reject with a reason (some stages fan out, one
record becoming several rows). The counts per stage:

{_stages(m)}

## Quality

{_quality(m)}

## Decontamination and near-duplicates

{_filters(m)}

## Sources

{_sources(m)}

## Use

{_usage(m, repo_id, with_rejects, data_files)}

## Schema

{schema}

## Build config

Config sha256 `{m['config_sha256']}`; local paths are shown by file name.

```yaml
{config_yaml(m)}
```

## License

This dataset: `{m.get('license') or 'not declared'}`. Its sources: {', '.join(f'`{x}`' for x in licenses)}.
Check the sources' terms before redistributing derived data.
"""
