"""v6ops.ipam"""
