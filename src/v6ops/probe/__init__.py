"""v6ops.probe"""
