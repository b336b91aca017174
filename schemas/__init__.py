"""Arrow schemas and record types of every dataset kind: the single source of truth.

`schemas` imports nothing else of codekiln; transforms and the store both read from here, and
each kind's module in `pipelines.kinds` names its schema from here.
"""

from codekiln.schemas.base import REJECT_SCHEMA, DatasetSchema, content_id, schema_to_json

__all__ = ["REJECT_SCHEMA", "DatasetSchema", "content_id", "schema_to_json"]
