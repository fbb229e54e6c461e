from tests.ipam.fixtures import db_url, planned, postgres_schemas, store

__all__ = ["db_url", "planned", "postgres_schemas", "store"]
