"""Arrow schemas and record types of every dataset kind: the single source of truth.

`schemas` imports nothing else of codekiln; transforms and the store both read from here.
"""

from codekiln.schemas.base import REJECT_SCHEMA, DatasetSchema, content_id, schema_to_json
from codekiln.schemas.registry import SCHEMAS, get_schema

__all__ = ["REJECT_SCHEMA", "SCHEMAS", "DatasetSchema", "content_id", "get_schema", "schema_to_json"]
