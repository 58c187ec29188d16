"""pytest fixtures for the fake W&B server. Import them into a test module:

    from tests.fakes.wandb_fake.fixture import wandb_fake, wandb_fake_server  # noqa: F401

`wandb_fake_server` is one server per test module (starting one costs ~0.2 s);
`wandb_fake` hands it to a test with faults cleared and the request log emptied. Runs
seeded by earlier tests in the module stay, so give each test its own project name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .client import WandbFake


@pytest.fixture(scope="module")
def wandb_fake_server() -> Iterator[WandbFake]:
    fake = WandbFake().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def wandb_fake(wandb_fake_server: WandbFake) -> Iterator[WandbFake]:
    wandb_fake_server.clear_faults()
    wandb_fake_server.reset_requests()
    yield wandb_fake_server
    wandb_fake_server.clear_faults()
