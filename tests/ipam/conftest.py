from tests.ipam.fixtures import db_url, planned, postgres_schemas, postgres_session_url, sqlite_template, store

__all__ = ["db_url", "planned", "postgres_schemas", "postgres_session_url", "sqlite_template", "store"]
