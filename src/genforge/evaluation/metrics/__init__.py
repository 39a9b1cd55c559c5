"""Image metrics on feature arrays: FID, KID, PRDC, classifier score, conditional accuracy,
memorisation, membership-inference AUC, bootstrap CIs.

Each metric module holds its pure math (NumPy/torch on arrays, explicit seeds) and registers one
adapter in ``genforge.core.registry.METRICS`` with the common interface
``metric(inputs: MetricInputs) -> dict[str, float]`` (see ``inputs.py``). Feature extraction,
provenance and the real-vs-real floor live elsewhere; these files only do the numbers. CAS is not
here: it trains a classifier on images (``evaluation/cas.py``), and neither is the critic attack,
which needs the model (``metrics/privacy.py`` holds only its AUC).
"""
