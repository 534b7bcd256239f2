"""Workloads: op graphs with exact shapes, FLOPs and bytes, loaded from files or lowered from models."""
