"""The distribution as users and Dataflow workers get it: the Dockerfile's build steps (uv build,
the locked requirements, the wheel) run into a fresh venv outside the checkout, then the demo and
the LLM smoke build run from a folder with no source tree and must give the checkout's rows."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import DEMO_DATASETS, REPO, run_cli
from tests.llm_server import FakeOpenAI
from tests.packaging import dockerfile

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The Dockerfile's steps run outside the checkout: (venv, what the last stage declares)."""
    root = tmp_path_factory.mktemp("image")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # python + pip, as the base image
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    final = dockerfile.run(REPO / "Dockerfile", REPO, root / "fs", venv, env=env)
    return venv, final


def _env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CODEKILN_ROOT")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    return env


def _codekiln(venv: Path, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(venv / "bin" / "codekiln"), *args], cwd=cwd, env=env or _env(venv),
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"codekiln {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _fingerprints(root: Path) -> dict[str, str]:
    out = {}
    for manifest in root.glob("*/v*/manifest.json"):
        m = json.loads(manifest.read_text())
        out[m["dataset"]] = m["fingerprint"]
    return out


def test_dockerfile_is_for_the_locked_beam_and_passes_hadolint():
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    beam = next(p["version"] for p in lock["package"] if p["name"] == "apache-beam")
    stages = dockerfile.parse((REPO / "Dockerfile").read_text())
    assert {s.image for s in stages} == {f"apache/beam_python3.11_sdk:{beam}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "hadolint"), str(REPO / "Dockerfile")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the linter is live: a known violation is reported
    bad = subprocess.run([str(Path(sys.executable).parent / "hadolint"), "-"], input="FROM debian\nRUN cd /tmp\n",
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "DL" in bad.stdout


def test_the_repository_is_ruff_clean():
    """Includes the ban on bare `pipelines`/`transforms`/`schemas` imports, which would load a
    second copy of a module next to the `codekiln.*` one."""
    proc = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "."], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_image_steps_install_a_working_package(image):
    venv, final = image
    assert final["entrypoint"] == ["/opt/apache/beam/boot"]  # Beam's SDK harness stays the entrypoint
    assert final["outputs"][-1].splitlines()[-1] == f"codekiln {VERSION}"  # the image's own check ran
    wheel = next(final["folders"]["build"].glob(f"src/dist/codekiln-{VERSION}-py3-none-any.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"codekiln", f"codekiln-{VERSION}.dist-info"}  # no generic top-level names
    for folder in ("pipelines", "transforms", "schemas"):  # every module of the checkout is in it
        for py in (REPO / folder).rglob("*.py"):
            assert f"codekiln/{folder}/{py.relative_to(REPO / folder)}" in names
    for data in [*(REPO / "transforms/llm/templates").glob("*.prompt"), *(REPO / "configs").glob("*.yaml"),
                 *(REPO / "configs/samples").iterdir(), *(REPO / "configs/corpora").iterdir()]:
        assert f"codekiln/{data.relative_to(REPO)}" in names, data
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import codekiln.pipelines as p, importlib.util as u\n"
                            "from codekiln.transforms.llm.prompts import PromptTemplate\n"
                            "print(p.__file__); print(u.find_spec('pipelines'), u.find_spec('transforms'))\n"
                            "print(sorted(t for t in ('solve', 'efa', 'test_inputs', 'test_asserts') "
                            "if PromptTemplate.load(t)))"],
                           cwd=venv, env=_env(venv), capture_output=True, text=True, check=True)
    file, specs, templates = probe.stdout.splitlines()
    assert file.startswith(str(venv)) and "site-packages/codekiln/pipelines" in file
    assert specs == "None None"
    assert templates == "['efa', 'solve', 'test_asserts', 'test_inputs']"


def test_installed_demo_gives_the_checkouts_rows(image, demo_store, tmp_path):
    venv, _ = image
    work = tmp_path / "work"
    work.mkdir()
    _codekiln(venv, "init", "demo", cwd=work)
    assert not any((work / "demo").glob("*.py")) and not (work / "demo" / "pipelines").exists()
    _codekiln(venv, "build", "configs/demo.yaml", "--root", "store", "-q", cwd=work / "demo")
    installed = _fingerprints(work / "demo" / "store")
    assert sorted(installed) == sorted(DEMO_DATASETS)
    assert installed == _fingerprints(demo_store)


def test_installed_llm_smoke_gives_the_checkouts_rows(image, tmp_path):
    venv, _ = image
    work = tmp_path / "work"
    work.mkdir()
    _codekiln(venv, "init", "kit", cwd=work)
    with FakeOpenAI() as server:
        sets = ["--set", f"llm.base_url={server.base_url}", "-q"]
        env = _env(venv) | {"OPENAI_API_KEY": "sk-loopback"}
        _codekiln(venv, "build", "configs/llm-smoke.yaml", "--root", "store", *sets, cwd=work / "kit", env=env)
        run_cli("build", "configs/llm-smoke.yaml", "--root", str(tmp_path / "checkout"), *sets,
                env=dict(os.environ, OPENAI_API_KEY="sk-loopback"))
    installed, checkout = _fingerprints(work / "kit" / "store"), _fingerprints(tmp_path / "checkout")
    assert list(installed) == ["llm-smoke"] and installed == checkout
    manifest = json.loads(next((work / "kit" / "store" / "llm-smoke").glob("v*/manifest.json")).read_text())
    rows = _codekiln(venv, "sql", "select count(*) as n from llm_smoke", "--root", "store", "--format", "json",
                     cwd=work / "kit")
    assert json.loads(rows.stdout) == [{"n": manifest["splits"]["train"]["rows"]}] and server.requests
