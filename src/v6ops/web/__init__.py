"""v6ops.web"""
