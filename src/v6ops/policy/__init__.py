"""v6ops.policy"""
