"""v6ops.audit"""
