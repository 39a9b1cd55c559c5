"""Image metrics on feature arrays: FID, KID, PRDC, classifier score, memorisation, bootstrap CIs.

Each metric module holds its pure math (NumPy/torch on arrays, explicit seeds) and registers one
adapter in ``genforge.core.registry.METRICS`` with the common interface
``metric(inputs: MetricInputs) -> dict[str, float]`` (see ``inputs.py``). Feature extraction,
provenance and the real-vs-real floor live elsewhere; these files only do the numbers.
"""
