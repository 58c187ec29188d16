"""A fake W&B server (GraphQL + file_stream) that the real wandb client talks to.

Start it with `python -m tests.fakes.wandb_fake` or, in tests, through `WandbFake`
(client.py) or the `wandb_fake` pytest fixture (fixture.py). See README.md.
"""
