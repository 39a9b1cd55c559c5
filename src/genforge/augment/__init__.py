"""Synthetic data as training data: the measured lift of `genforge augment` and its leak rule."""
