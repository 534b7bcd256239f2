"""Kernels: plain functions over numbers and numpy arrays, the only per-cycle/per-tile loops; compiled by numba
or interpreted, with the same results (jit.py)."""
