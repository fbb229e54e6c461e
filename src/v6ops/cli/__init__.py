"""The v6ops command line."""
