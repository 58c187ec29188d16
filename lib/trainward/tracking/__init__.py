"""Experiment trackers. Only `tracking.wandb` talks to W&B, and it imports wandb lazily."""
