"""Commands that do not build never import Beam or the methods' Beam code (a fast start)."""

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from codekiln.pipelines.publishing import card, publish, report  # noqa: F401
from codekiln.pipelines.storage import catalog  # noqa: F401
from codekiln.pipelines import config, kinds  # noqa: F401
from codekiln.pipelines.cli import main
for argv in (["ls", "--root", sys.argv[1]], ["sql", "select 1", "--root", sys.argv[1]]):
    assert main(argv) == 0, argv
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "apache_beam" or m.endswith(".beam"))
print(loaded)
"""


def test_reading_commands_do_not_import_beam(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_config_parses_without_beam():
    probe = ("import sys\nfrom codekiln.pipelines.config import load\n"
             f"assert len(load({str(REPO / 'configs' / 'demo.yaml')!r})) == 9\n"
             "print('apache_beam' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "False"


HEAVY = ("apache_beam", "datasets", "pandas", "altair", "duckdb")
PUBLISH_PROBE = """
import sys
from codekiln.pipelines.cli import main
assert main(["publish", "lintseq", "--repo", "me/x", "--root", sys.argv[1], "--dry-run", sys.argv[2]]) == 0
print(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split(","))))
"""


def test_publish_dry_run_loads_no_heavy_library(demo_store, tmp_path):
    """A dry-run publish writes the card without `datasets`, pandas, Altair, DuckDB or Beam (it starts
    in about a second: benchmarks/startup.py)."""
    out = subprocess.run([sys.executable, "-c", PUBLISH_PROBE, str(demo_store), str(tmp_path / "dry"), ",".join(HEAVY)],
                         capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "dry" / "README.md").exists()
