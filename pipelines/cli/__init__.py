"""The `codekiln` command line."""

from codekiln.pipelines.cli.main import main

__all__ = ["main"]
