from tests.ipam.fixtures import db_url, planned, postgres_schemas, postgres_session_url, sqlite_template, store
from tests.ipam.provisioning_fixtures import sqlite_store, target_databases, targets

__all__ = ["db_url", "planned", "postgres_schemas", "postgres_session_url", "sqlite_store", "sqlite_template", "store",
           "target_databases", "targets"]
