"""Pictures and the design-review report; the only part that imports matplotlib (docs/plots.md)."""
