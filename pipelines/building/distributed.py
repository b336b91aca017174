"""What a build on a distributed runner (Dataflow, or any runner whose workers are other machines)
needs beyond a local one: a store every worker can reach, the config's local input files staged
into that store, and Beam's dry run (`--dry_run=True`), which translates the job without
submitting it or touching the store.

Workers see only what the job graph names: a local path in it (the store, a source file, a
cache) would be read on a machine that does not have it. So a distributed build refuses a local
store root before any work, and uploads each local source file once, content-addressed, to
`<root>/.inputs/<sha256>/<name>`: a rerun finds it there, and a changed file gets a new path.
"""

from __future__ import annotations

import json
import os

from codekiln.pipelines.config import ConfigError
from codekiln.transforms import fs
from codekiln.transforms.fs import file_digest

INPUTS = ".inputs"


def is_dry_run(options) -> bool:
    from apache_beam.options.pipeline_options import TestOptions

    value = options.view_as(TestOptions).dry_run
    return str(value).strip().lower() in ("1", "true", "yes")


def check_root(root: str, runner: str) -> None:
    """A distributed runner's workers cannot see a local store."""
    if not fs.is_remote(root):
        raise ConfigError("--root", f"--runner {runner} runs on other machines, which cannot see the local "
                                    f"store root {root!r}; use a root they all reach, e.g. "
                                    "--root gs://BUCKET/codekiln")


def staged_path(root: str, path: str, digest: str) -> str:
    return fs.join(root, INPUTS, digest, os.path.basename(path))


def stage_inputs(root: str, files: list[str], upload: bool) -> list[str]:
    """Each local file's path in the store (uploaded there unless `upload` is False, as in a dry
    run); remote paths are returned as they are."""
    out = []
    for path in files:
        if fs.is_remote(path) or not os.path.isfile(path):
            out.append(path)
            continue
        _, digest = file_digest(path)
        target = staged_path(root, path, digest)
        if upload and fs.size(target) != os.path.getsize(path):
            with open(path, "rb") as src, fs.create(target) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        out.append(target)
    return out


def placeholder_files(root: str, ref: str) -> list[str]:
    """A dry run reads no store: an upstream dataset's files are named by the shape a committed
    version's data has (one shard; the graph does not depend on how many there are)."""
    name = ref.partition("@")[0]
    return [fs.join(root, name, "vN", "data", "train-00000-of-00001.parquet")]


def translated(result, pipeline) -> dict:
    """The pipeline as the runner translated it (Dataflow's dry run keeps it on `result.job`),
    as JSON of Beam's portable pipeline proto, plus a summary."""
    from google.protobuf import json_format

    proto = getattr(getattr(result, "job", None), "proto_pipeline", None)
    if proto is None:
        proto = pipeline.to_runner_api()
    envs = sorted({_image(e) for e in proto.components.environments.values()} - {None})
    return {"transforms": len(proto.components.transforms), "environments": envs,
            "pipeline": json.loads(json_format.MessageToJson(proto))}


def _image(env) -> str | None:
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    if env.urn != common_urns.environments.DOCKER.urn:
        return env.urn or None
    return beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
