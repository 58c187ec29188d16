"""Skirmish and its weight tuner: the acceptance example of a sweep of your own code."""
