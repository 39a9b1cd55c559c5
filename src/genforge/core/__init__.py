"""Configuration, the plug-in registry, run directories and the runtime (device, seeds)."""
