"""Configuration: readable units, dtypes, the typed hardware schema and its loader."""
