"""The chip as frozen numbers in simulation units (cycles, bytes, bytes/cycle) and its unit timing models."""
