"""Sweeps: expand a sweep file into design points, run them in parallel, keep every finished one (docs/sweeps.md)."""
