"""Experiment trackers. Only this package talks to W&B, and it imports wandb lazily."""
