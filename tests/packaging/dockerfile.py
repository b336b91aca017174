"""Run a Dockerfile's build steps without a container engine (none exists on CI machines).

Each stage's filesystem is a folder (`<root>/<stage>/...`): WORKDIR and COPY destinations are
mapped into it, COPY reads the build context or another stage's folder, RUN runs under bash in
the mapped WORKDIR with a given venv first on PATH (standing in for the base image's Python).
Package-manager steps (`apt-get`) are not run: the packages they install are checked to be
present on this machine instead. A RUN naming an absolute path could not be mapped and fails:
the Dockerfile keeps its commands relative to WORKDIR so that they can be run here.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    op: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    steps: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile (comments dropped, `\\` continuations joined)."""
    stages: list[Stage] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, args = buf.partition(" ")
        buf = ""
        ins = Instruction(op.upper(), args.strip(), start)
        if ins.op == "FROM":
            parts = ins.args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            raise ValueError(f"line {n}: {ins.op} before FROM")
        else:
            stages[-1].steps.append(ins)
    return stages


def apt_packages(command: str) -> list[str]:
    """The packages an `apt-get install` step names."""
    out = []
    for part in command.split("&&"):
        words = shlex.split(part)
        if words[:2] == ["apt-get", "install"]:
            out += [w for w in words[2:] if not w.startswith("-")]
    return out


def _mapped(fs: Path, workdir: str, path: str) -> Path:
    """A path in the image -> its place in the stage's folder."""
    absolute = path if path.startswith("/") else os.path.join(workdir, path)
    return fs / os.path.normpath(absolute).lstrip("/")


def run(dockerfile: Path, context: Path, root: Path, venv: Path, env: dict | None = None) -> dict:
    """Run every stage; returns what the last stage declares (entrypoint, workdir, folders)."""
    stages = parse(dockerfile.read_text())
    folders: dict[str, Path] = {}
    final: dict = {}
    base_env = dict(os.environ if env is None else env)
    base_env["PATH"] = f"{venv / 'bin'}:{base_env.get('PATH', '/usr/bin:/bin')}"
    base_env["VIRTUAL_ENV"] = str(venv)
    for i, stage in enumerate(stages):
        fs = root / f"stage{i}"
        fs.mkdir(parents=True)
        folders[str(i)] = fs
        if stage.name:
            folders[stage.name] = fs
        workdir = "/"
        stage_env = dict(base_env)

        for ins in stage.steps:
            where = f"{dockerfile.name}:{ins.line}"
            if ins.op == "WORKDIR":
                workdir = os.path.normpath(os.path.join(workdir, ins.args))
                _mapped(fs, workdir, ".").mkdir(parents=True, exist_ok=True)
            elif ins.op == "ENV":
                key, _, value = ins.args.partition("=")
                stage_env[key.strip()] = value.strip().strip('"')
            elif ins.op == "COPY":
                words = ins.args.split()
                source_root = context
                if words[0].startswith("--from="):
                    source_root = folders[words.pop(0).split("=", 1)[1]]
                *srcs, dst = words
                for src in srcs:
                    base = source_root / src.lstrip("/") if source_root is not context else context / src
                    matches = [Path(p) for p in glob.glob(str(base))]
                    assert matches, f"{where}: COPY {src}: nothing there"
                    for m in matches:
                        target = _mapped(fs, workdir, dst)
                        if dst.endswith("/") or len(srcs) > 1 or (m.is_file() and target.is_dir()):
                            target = target / m.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        if m.is_dir():
                            shutil.copytree(m, target, dirs_exist_ok=True,
                                            ignore=shutil.ignore_patterns("__pycache__"))
                        else:
                            shutil.copy2(m, target)
            elif ins.op == "RUN":
                packages = apt_packages(ins.args)
                if "apt-get" in ins.args:
                    missing = [p for p in packages if subprocess.run(
                        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
                    ).stdout != "install ok installed"]
                    assert not missing, f"{where}: the image installs {missing}, which this machine lacks"
                    continue
                absolute = re.findall(r"(?<![\w.=-])/[\w./*-]+", ins.args)
                assert not absolute, f"{where}: RUN names absolute paths {absolute}: keep it relative to WORKDIR"
                proc = subprocess.run(["bash", "-euo", "pipefail", "-c", ins.args], cwd=_mapped(fs, workdir, "."),
                                      env=stage_env, capture_output=True, text=True)
                assert proc.returncode == 0, (f"{where}: RUN exited {proc.returncode}\n{ins.args}\n"
                                              f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                final.setdefault("outputs", []).append(proc.stdout)
            elif ins.op == "ENTRYPOINT":
                final["entrypoint"] = json.loads(ins.args)
            elif ins.op in ("CMD", "LABEL", "ARG", "USER", "EXPOSE"):
                final[ins.op.lower()] = ins.args
            else:
                raise AssertionError(f"{where}: {ins.op} is not supported by this runner")
        final["workdir"] = workdir
    final.update(stages=stages, folders=folders)
    return final
