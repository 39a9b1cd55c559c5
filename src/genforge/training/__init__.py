"""Processes that train: the Trainer, training tasks and their objectives."""
