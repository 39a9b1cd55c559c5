"""Networks, one file per model family; each registers a builder in MODELS."""
