"""The bundled example configs and their sample corpora (package data; `codekiln init` copies them out)."""
