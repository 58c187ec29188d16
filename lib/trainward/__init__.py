"""trainward: run ML training on Modal GPUs or locally, tracked in W&B, without losing a run."""

__version__ = "0.1.0"
