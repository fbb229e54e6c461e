"""v6ops.store"""
