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
