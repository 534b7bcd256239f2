"""Mapping: choose how an op is cut into tiles and spread over cores."""
