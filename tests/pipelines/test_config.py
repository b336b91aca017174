import pytest
from codekiln.pipelines.config import ConfigError, load, parse

from tests.conftest import SAMPLES


def _doc(**over):
    doc = {"name": "p", "kind": "problems",
           "source": {"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"id": "task_id", "prompt": "prompt"}}}
    doc.update(over)
    return doc


def _error(doc, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse(doc, base_dir=str(SAMPLES), overrides=list(overrides))
    return e.value


def test_demo_config_parses_with_resolved_paths():
    configs = load(str(SAMPLES.parent / "demo.yaml"))
    assert [c.name for c in configs] == ["problems", "instructions", "lintseq", "tests", "labels", "preferences",
                                         "pragmatic", "efas", "efa-variants"]
    cfg = configs[0]
    assert [s.name for s in cfg.sources] == ["humaneval", "math500", "gsm8k"]
    assert cfg.sources[0].path == str(SAMPLES / "humaneval.jsonl")
    assert cfg.sources[0].format == "jsonl" and cfg.sources[0].domain == "code"
    assert cfg.license == "mit"  # from defaults
    assert [s.license for s in cfg.sources] == ["mit", "mit", "mit"]
    assert len(cfg.sha256) == 64


@pytest.mark.parametrize("doc, key", [
    (_doc(colour="red"), "colour"),
    (_doc(kind="nope"), "kind"),
    (_doc(name="Bad Name"), "name"),
    (_doc(params={"seed": 1}), "params.seed"),
    (_doc(beam={"workers": 0}), "beam.workers"),
    (_doc(beam={"mode": "fast"}), "beam.mode"),
    (_doc(source={"path": "missing.jsonl"}), "source.path"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"title": "x"}}), "source.fields.title"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "format": "xml"}), "source.format"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"id": {"from": "a", "value": 1}}}), "source.fields.id"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"entry_point": {"from": "test", "regex": "(("}}}),
     "source.fields.entry_point.regex"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"entry_point": {"from": "test", "regex": "(a)(b)"}}}),
     "source.fields.entry_point.regex"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "fields": {"entry_point": {"from": "test", "regex": ""}}}),
     "source.fields.entry_point.regex"),
    ({"kind": "problems"}, "name"),
    (_doc(decontaminate=["humaneval", "leetcode"]), "decontaminate.benchmarks"),
    (_doc(decontaminate={"benchmarks": ["mbpp"], "fields": ["prompt", "nope"]}), "decontaminate.fields[1]"),
    (_doc(decontaminate={"ngram": 8}), "decontaminate.benchmarks"),
    (_doc(decontaminate={"benchmarks": ["mbpp"], "threshold": 0}), "decontaminate.threshold"),
    (_doc(dedupe={"near": True, "threshold": 1.5}), "dedupe.threshold"),
    (_doc(dedupe={"near": "yes"}), "dedupe.near"),
    (_doc(dedupe={"near": True, "fields": ["colour"]}), "dedupe.fields[0]"),
    ({"datasets": [_doc(), {"name": "q", "kind": "problems", "sources": []}]}, "datasets[1].sources"),
    ({"datasets": [_doc(), _doc()]}, "datasets"),
    (_doc(license="MIT License"), "license"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "license": "Apache 2"}), "source.license"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "role": "samples"}), "source.role"),
    (_doc(source={"path": str(SAMPLES / "humaneval.jsonl"), "role": "candidates"}), "source.role"),
    (_doc(kind="labels", source={"path": str(SAMPLES / "humaneval.jsonl"), "role": "samples"}), "source"),
    ({"name": "l", "kind": "labels", "sources": [{"dataset": "t"}, {"path": str(SAMPLES / "humaneval.jsonl"),
                                                                     "role": "samples", "fields": {"id": "task_id"}}]},
     "sources[1].role"),
])
def test_bad_config_names_the_key(doc, key):
    assert _error(doc).key == key


def test_set_overrides_apply_as_yaml_and_can_target_one_dataset():
    two = {"datasets": [_doc(name="a"), _doc(name="b")]}
    a, b = parse(two, str(SAMPLES), ["b.split=test", "description=hi"])
    assert (a.split, b.split) == ("train", "test")
    assert a.description == b.description == "hi"
    (one,) = parse(_doc(), str(SAMPLES), ["beam.workers=2"])
    assert one.beam.workers == 2 and one.beam.mode == "multi_processing"
    assert _error(_doc(), ["beam.workers=two"]).key == "beam.workers"
    assert _error(_doc(), ["nonsense"]).key == "nonsense"


def test_missing_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(str(tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(str(bad))


def test_set_targets_by_index_name_or_all():
    two = {"datasets": [_doc(name="a"), _doc(name="b")]}
    a, b = parse(two, str(SAMPLES), ["datasets.0.split=x", "datasets.b.split=y"])
    assert (a.split, b.split) == ("x", "y")
    assert _error(two, ["datasets.7.split=x"]).key == "datasets.7.split"


def test_sandbox_block_is_validated_and_recorded():
    (cfg,) = parse(_doc(sandbox={"timeout_s": 2, "isolation": "none"}), str(SAMPLES))
    assert cfg.sandbox.timeout_s == 2.0 and cfg.sandbox.isolation == "none"
    assert cfg.raw["sandbox"]["isolation"] == "none"
    assert _error(_doc(sandbox={"isolation": "docker"})).key == "sandbox.isolation"
    assert _error(_doc(sandbox={"memory_mb": 0})).key == "sandbox.memory_mb"
    assert _error(_doc(sandbox={"timeout": 1})).key == "sandbox.timeout"
    assert _error(_doc(sandbox={"preload": "math"})).key == "sandbox.preload"
