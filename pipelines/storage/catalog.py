"""DuckDB over the store: a view per dataset version, built from the files manifests list.

Views: `<name>` (latest version), `<name>_v<N>` (each version), `<name>_rejects` (rejects of
the latest version), and a `versions` table. Names are identifiers with `-` as `_`. Views read
exactly the files a manifest lists, never a glob, so files of unfinished builds are never seen.
"""

from __future__ import annotations

import duckdb
from codekiln.pipelines.storage.manifest import rows as manifest_rows
from codekiln.pipelines.storage.store import Store
from codekiln.schemas import REJECT_SCHEMA
from codekiln.transforms import fs


def ident(name: str) -> str:
    return '"' + name.replace("-", "_").replace('"', '""') + '"'


def _list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _empty_select(arrow_fields: list[dict]) -> str:
    cols = ", ".join(f"CAST(NULL AS {_duck_type(f['type'])}) AS {ident(f['name'])}" for f in arrow_fields)
    return f"SELECT {cols} WHERE false"


def _duck_type(arrow_type: str) -> str:
    simple = {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER",
              "double": "DOUBLE", "float": "FLOAT", "bool": "BOOLEAN", "binary": "BLOB"}
    if arrow_type in simple:
        return simple[arrow_type]
    if arrow_type.startswith(("list<", "large_list<")):
        inner = arrow_type[arrow_type.index("<") + 1:-1].split(":", 1)[-1].strip()
        inner = inner.split(" ")[0] if not inner.startswith(("list", "struct")) else inner
        return _duck_type(inner) + "[]"
    return "JSON"


REJECT_FIELDS = [{"name": f.name, "type": str(f.type)} for f in REJECT_SCHEMA]


def _source(paths: list[str], schema: list[dict]) -> str:
    if not paths:
        return _empty_select(schema)
    return f"SELECT * FROM read_parquet({_list(paths)})"


def create_view(con: duckdb.DuckDBPyConnection, name: str, paths: list[str], schema: list[dict]) -> None:
    """A view over exactly these Parquet files (typed and empty when there are none)."""
    for filesystem in fs.duckdb_filesystems(paths):  # remote roots: DuckDB reads through fsspec
        if not con.filesystem_is_registered(filesystem.protocol if isinstance(filesystem.protocol, str)
                                            else filesystem.protocol[0]):
            con.register_filesystem(filesystem)
    con.execute(f"CREATE VIEW {ident(name)} AS " + _source(paths, schema))


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never downloads or installs anything."""
    return duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})


def version_connection(store: Store, manifest: dict) -> duckdb.DuckDBPyConnection:
    """One version as views `data` and `rejects` (for reports and per-version figures)."""
    con = new_connection()
    create_view(con, "data", store.files(manifest), manifest["schema"])
    create_view(con, "rejects", store.reject_files(manifest), REJECT_FIELDS)
    return con


def connect(store: Store) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the store's views. Nothing is downloaded or installed."""
    con = new_connection()
    con.execute("CREATE TABLE versions (dataset VARCHAR, version VARCHAR, created_at TIMESTAMPTZ, "
                "rows BIGINT, rejects BIGINT, fingerprint VARCHAR, kind VARCHAR)")
    manifests = store.manifests()
    latest: dict[str, dict] = {}
    for m in manifests:
        name = m["dataset"]
        rows = manifest_rows(m)
        con.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [name, m["version"], m["created_at"], rows, m["rejects"]["rows"], m["fingerprint"], m["kind"]])
        create_view(con, name + "_" + m["version"], store.files(m), m["schema"])
        latest[name] = m
    for name, m in latest.items():
        con.execute(f"CREATE VIEW {ident(name)} AS SELECT * FROM {ident(name + '_' + m['version'])}")
        create_view(con, name + "_rejects", store.reject_files(m), REJECT_FIELDS)
    return con
