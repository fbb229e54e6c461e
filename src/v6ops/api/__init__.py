"""HTTP API: one router per area, mounted by create_app."""
