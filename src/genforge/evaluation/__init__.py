"""Measuring generators: feature extractors, metrics, the acceptance judge."""
