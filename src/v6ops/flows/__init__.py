"""v6ops.flows"""
