"""W&B, the only tracker: a bounded reader for status and a logger for training code.
The only package that imports `wandb` (always inside functions)."""
