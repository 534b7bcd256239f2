"""Numba kernels: plain functions over numbers and numpy arrays, the only per-cycle/per-tile loops."""
