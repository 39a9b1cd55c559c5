"""Image metrics on feature arrays: FID, KID, PRDC, classifier score, conditional accuracy,
memorisation, membership-inference AUCs, and their confidence intervals.

Each metric module holds its pure math (NumPy/torch on arrays, explicit seeds) and registers one
``MetricSpec`` (``spec.py``) in ``genforge.core.registry.METRICS``: the rows it yields, its inputs,
direction, CI kind and real-vs-real floor, and ``compute(inputs: MetricInputs)`` (``inputs.py``).
``evaluation/evaluate.py`` builds the inputs once and runs every registered spec through one code
path. CAS registers itself from ``evaluation/cas.py``: it trains a classifier on images.
"""
