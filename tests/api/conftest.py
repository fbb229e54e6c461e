from tests.ipam.fixtures import postgres_schemas, postgres_session_url, sqlite_template
from tests.policy.vm_fixtures import vm_db_url

__all__ = ["postgres_schemas", "postgres_session_url", "sqlite_template", "vm_db_url"]
