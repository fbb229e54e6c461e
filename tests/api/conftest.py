from tests.ipam.fixtures import postgres_schemas
from tests.policy.vm_fixtures import vm_db_url, vm_postgres_url, vm_sqlite_template

__all__ = ["postgres_schemas", "vm_db_url", "vm_postgres_url", "vm_sqlite_template"]
