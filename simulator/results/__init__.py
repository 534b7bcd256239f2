"""Results: per-op tables with roofline bounds, run summaries, and their files."""
